/**
 * One proxied connection on Node sockets (engine "streams"): the hot path from an accepted client
 * to a member and back. The native engine (native-flow.ts) keeps the same contract in C.
 *
 * - The client socket is accepted paused (`pauseOnConnect`), so not a byte is read from it
 *   until the backend connection is up: nothing the client sends early is lost or buffered
 *   here (the kernel's receive window bounds it).
 * - The backend connect is bounded by `connectTimeoutMs`; if it fails before any byte, the next
 *   distinct member of the flow's Maglev candidates is tried, up to `maxConnectAttempts`
 *   members in all, then the client is reset.
 * - Bytes are forwarded both ways with back-pressure (a side whose peer's buffer is full is
 *   paused until the peer drains), and a FIN is passed on as a FIN (half-close: both sockets
 *   are `allowHalfOpen`). A reset or error on one side resets the other; a clean close of one
 *   side lets the other finish what it is writing.
 *
 * Event handlers are module-level functions shared by every connection (they find their flow
 * through a symbol on the socket), so a connection costs one StreamFlow object and its two sockets,
 * not a set of closures.
 */
import * as net from "node:net";
import { Flow, proxyHeaderFor, type FlowListener, type FlowOwner } from "./flow";
import type { RouteMember, ServiceRoute } from "./routes";

const FLOW = Symbol("dnlb.flow");

interface FlowSocket extends net.Socket {
  [FLOW]?: StreamFlow;
}

/** A connection carried by two net.Sockets (engine "streams"). */
export class StreamFlow extends Flow {
  backend: FlowSocket | null = null;
  /** Set by destroy(): no further connect attempt. */
  destroyed = false;
  clientClosed = false;
  /** A FIN has come from the client / from the member. */
  clientEnded = false;
  backendEnded = false;
  /** 'drain' handlers are hooked at the first back-pressure only: most connections never need them. */
  private drainHooked = false;
  /** Sockets (client and backend attempts) that have not emitted 'close' yet. */
  private sockets = 1;

  constructor(owner: FlowOwner, listener: FlowListener, route: ServiceRoute, hash: number, readonly client: net.Socket, member: RouteMember) {
    super(owner, listener, route, hash, member);
  }

  /** Starts the flow: hooks the client and connects to `member` (the table's pick). */
  start(): void {
    const client = this.client as FlowSocket;
    client[FLOW] = this;
    client.on("error", ignoreError);
    client.on("close", onClientClose);
    connectBackend(this, this.member);
  }

  destroy(): void {
    this.destroyed = true;
    this.client.destroy();
    this.backend?.destroy();
  }

  reset(): void {
    this.destroyed = true;
    this.client.resetAndDestroy();
    this.backend?.resetAndDestroy();
  }

  /**
   * Only a FIN read before the stall is seen: a paused socket reads nothing, so a FIN or a reset
   * that comes after it is not, and Node cannot ask the kernel for the socket's state.
   */
  abandoned(): boolean {
    const backend = this.backend;
    if (!this.connected || backend === null) return false;
    return (this.clientEnded && backend.writableLength > 0) || (this.backendEnded && this.client.writableLength > 0);
  }

  bytesIn(): number {
    return this.client.bytesRead;
  }

  /**
   * Bytes received from the member so far (forwarded to the client). `bytesRead` on both sides,
   * not `bytesWritten`: the latter walks (and copies) the socket's write queue on every call.
   */
  bytesOut(): number {
    return this.connected && this.backend !== null ? this.backend.bytesRead : 0;
  }

  socketClosed(): void {
    if (--this.sockets === 0) this.owner.flowEnded(this);
  }

  addSocket(socket: FlowSocket): void {
    socket[FLOW] = this;
    this.sockets++;
  }

  /** A write was refused (its peer's buffer is full): from now on a 'drain' resumes the paused side. */
  hookDrain(): void {
    if (this.drainHooked) return;
    this.drainHooked = true;
    this.client.on("drain", onClientDrain);
    (this.backend as net.Socket).on("drain", onBackendDrain);
  }
}

function connectBackend(flow: StreamFlow, member: RouteMember): void {
  const backend = net.connect({ host: member.address, port: member.port, allowHalfOpen: true, noDelay: true }) as FlowSocket;
  flow.addSocket(backend);
  flow.backend = backend;
  flow.member = member;
  backend.setTimeout(flow.owner.connectTimeoutMs);
  backend.on("error", ignoreError);
  backend.on("timeout", onBackendTimeout);
  backend.on("close", onBackendClose);
  backend.on("connect", onBackendConnect); // emitted once; `on` spares the wrapper that `once` allocates
}

/** Errors are acted on in the 'close' handlers (which receive `hadError`); this only keeps them from throwing. */
function ignoreError(): void {}

function onBackendTimeout(this: FlowSocket): void {
  const flow = this[FLOW] as StreamFlow;
  // Only the connect is timed: the timeout is cleared once connected.
  if (!flow.connected && flow.backend === this) this.destroy();
}

function onBackendConnect(this: FlowSocket): void {
  const flow = this[FLOW] as StreamFlow;
  if (flow.backend !== this || flow.destroyed || flow.clientClosed) {
    this.destroy();
    return;
  }
  this.setTimeout(0);
  flow.connected = true;
  const client = flow.client as FlowSocket;
  if (flow.route.proxyProtocol !== "off" && !writeProxyHeader(flow, this)) {
    flow.destroy();
    return;
  }
  flow.owner.flowConnected(flow);
  if (flow.destroyed) return; // the member was drained while this connect was under way
  client.on("data", onClientData);
  client.on("end", onClientEnd);
  this.on("data", onBackendData);
  this.on("end", onBackendEnd);
  client.resume();
}

/** Writes the PROXY header before any client byte; false if the client's addresses are gone (it closed meanwhile). */
function writeProxyHeader(flow: StreamFlow, backend: net.Socket): boolean {
  const { remoteAddress, remotePort, localAddress, localPort } = flow.client;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return false;
  const header = proxyHeaderFor(flow.route, remoteAddress, remotePort, localAddress, localPort);
  if (header !== undefined) backend.write(header);
  return true;
}

function onBackendClose(this: FlowSocket, hadError: boolean): void {
  const flow = this[FLOW] as StreamFlow;
  if (flow.backend === this) {
    if (flow.connected) {
      if (!flow.clientClosed) closeOther(flow.client, hadError);
    } else if (flow.destroyed || flow.clientClosed) {
      flow.backend = null; // given up by us, not a failed connect
    } else {
      connectFailed(flow);
    }
  }
  flow.socketClosed();
}

function connectFailed(flow: StreamFlow): void {
  flow.member.bucket.totals.connectFailures++;
  flow.listener.totals.connectFailures++;
  flow.backend = null;
  const next = flow.nextCandidate();
  if (next === undefined) {
    flow.listener.rejected.connect_failed++;
    flow.client.resetAndDestroy();
    return;
  }
  connectBackend(flow, next);
}

function onClientClose(this: FlowSocket, hadError: boolean): void {
  const flow = this[FLOW] as StreamFlow;
  flow.clientClosed = true;
  const backend = flow.backend;
  if (backend !== null) {
    if (!flow.connected) backend.destroy();
    else closeOther(backend, hadError);
  }
  flow.socketClosed();
}

/**
 * One side has closed. After an error (e.g. a reset) the other side is reset too. After a clean
 * close the other side has been sent our FIN already (it closes itself once its writes are
 * flushed); if not (the side was destroyed), it is closed now.
 */
function closeOther(other: net.Socket, hadError: boolean): void {
  if (other.destroyed) return;
  if (hadError) other.resetAndDestroy();
  else if (!other.writableEnded) other.destroy();
}

function onClientData(this: FlowSocket, chunk: Buffer): void {
  const flow = this[FLOW] as StreamFlow;
  if (!(flow.backend as net.Socket).write(chunk)) {
    this.pause();
    flow.hookDrain();
  }
}

function onBackendDrain(this: FlowSocket): void {
  (this[FLOW] as StreamFlow).client.resume();
}

function onClientEnd(this: FlowSocket): void {
  const flow = this[FLOW] as StreamFlow;
  flow.clientEnded = true;
  passFin(flow.backend as net.Socket, flow.backendEnded);
}

function onBackendData(this: FlowSocket, chunk: Buffer): void {
  const flow = this[FLOW] as StreamFlow;
  if (!flow.client.write(chunk)) {
    this.pause();
    flow.hookDrain();
  }
}

function onClientDrain(this: FlowSocket): void {
  ((this[FLOW] as StreamFlow).backend as net.Socket).resume();
}

function onBackendEnd(this: FlowSocket): void {
  const flow = this[FLOW] as StreamFlow;
  flow.backendEnded = true;
  passFin(flow.client, flow.clientEnded);
}

/**
 * Passes a FIN on to `to`. When `to` has sent its own FIN already and has nothing left to write,
 * closing it sends the same FIN (its receive queue is empty after its FIN, so the kernel sends no
 * reset) and saves the shutdown request with its callbacks: the common end of a connection.
 */
function passFin(to: net.Socket, toEnded: boolean): void {
  if (toEnded && to.writableLength === 0) to.destroy();
  else to.end();
}
