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
 * through a symbol on the socket), so a connection costs one Flow object and its two sockets,
 * not a set of closures.
 */
import * as net from "node:net";
import { encodeProxyHeader } from "./proxy-protocol";
import { emptyLinks, type FlowLinks } from "./flow-list";
import type { RouteMember, ServiceRoute } from "./routes";
import type { RejectReason, TrafficTotals } from "./stats";

const FLOW = Symbol("dnlb.flow");

interface FlowSocket extends net.Socket {
  [FLOW]?: Flow;
}

/** The listener side of a flow: counters the flow updates. */
export interface FlowListener {
  readonly totals: TrafficTotals;
  readonly rejected: Record<RejectReason, number>;
}

/** What the data plane provides to its flows. */
export interface FlowOwner {
  readonly connectTimeoutMs: number;
  readonly maxConnectAttempts: number;
  /** The flow's backend connection is established (it has joined its member's bucket). */
  flowConnected(flow: ProxiedFlow): void;
  /** Every socket of the flow has closed: account for it and forget it. */
  flowEnded(flow: ProxiedFlow): void;
}

/**
 * What the data plane keeps of a connection, whichever engine carries its bytes: where it came
 * from and goes, whether it is established, its byte counters and idle bookkeeping, and the
 * fallback to the flow's next Maglev candidates.
 */
export abstract class ProxiedFlow {
  /** The member being connected to, then the member connected to. */
  member: RouteMember;
  connected = false;
  /** Idle detection (see DataPlane.sweep): bytes seen at the last sweep and when they last changed. */
  lastActivity = 0;
  lastActiveAt = 0;
  /** Links in the data plane's list of open connections, and in the member's. */
  readonly inPlane: FlowLinks = emptyLinks();
  readonly inBucket: FlowLinks = emptyLinks();
  /** Members tried so far. */
  private attempts = 1;
  private candidates: RouteMember[] | null = null;

  constructor(
    readonly owner: FlowOwner,
    readonly listener: FlowListener,
    readonly route: ServiceRoute,
    readonly hash: number,
    member: RouteMember,
  ) {
    this.member = member;
  }

  /** Closes both sides now (draining, idle timeout, shutdown). */
  abstract destroy(): void;
  /** Bytes received from the client so far (forwarded to the member). */
  abstract bytesIn(): number;
  /** Bytes received from the member so far (forwarded to the client). */
  abstract bytesOut(): number;

  /** Bytes moved either way so far, for idle detection. */
  activity(): number {
    return this.bytesIn() + this.bytesOut();
  }

  /** The next distinct member to try after a failed connect, or undefined when the attempts are used up. */
  nextCandidate(): RouteMember | undefined {
    const table = this.route.table;
    if (table === null || this.attempts >= this.owner.maxConnectAttempts) return undefined;
    // Computed only on the first failure: the common path never walks the table.
    this.candidates ??= table.candidates(this.hash, this.owner.maxConnectAttempts);
    return this.candidates[this.attempts++];
  }
}

/** A connection carried by two net.Sockets (engine "streams"). */
export class Flow extends ProxiedFlow {
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

function connectBackend(flow: Flow, member: RouteMember): void {
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
  const flow = this[FLOW] as Flow;
  // Only the connect is timed: the timeout is cleared once connected.
  if (!flow.connected && flow.backend === this) this.destroy();
}

function onBackendConnect(this: FlowSocket): void {
  const flow = this[FLOW] as Flow;
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
function writeProxyHeader(flow: Flow, backend: net.Socket): boolean {
  const { remoteAddress, remotePort, localAddress, localPort } = flow.client;
  if (remoteAddress === undefined || remotePort === undefined || localAddress === undefined || localPort === undefined) return false;
  const header = proxyHeaderFor(flow.route, remoteAddress, remotePort, localAddress, localPort);
  if (header !== undefined) backend.write(header);
  return true;
}

/** The PROXY protocol header a connection of `route` starts with (both engines), or undefined when the service sends none. */
export function proxyHeaderFor(route: ServiceRoute, remoteAddress: string, remotePort: number, localAddress: string, localPort: number): Buffer | undefined {
  if (route.proxyProtocol === "off") return undefined;
  return encodeProxyHeader(route.proxyProtocol, {
    sourceAddress: remoteAddress,
    sourcePort: remotePort,
    destinationAddress: localAddress,
    destinationPort: localPort,
  });
}

function onBackendClose(this: FlowSocket, hadError: boolean): void {
  const flow = this[FLOW] as Flow;
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

function connectFailed(flow: Flow): void {
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
  const flow = this[FLOW] as Flow;
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
  const flow = this[FLOW] as Flow;
  if (!(flow.backend as net.Socket).write(chunk)) {
    this.pause();
    flow.hookDrain();
  }
}

function onBackendDrain(this: FlowSocket): void {
  (this[FLOW] as Flow).client.resume();
}

function onClientEnd(this: FlowSocket): void {
  const flow = this[FLOW] as Flow;
  flow.clientEnded = true;
  passFin(flow.backend as net.Socket, flow.backendEnded);
}

function onBackendData(this: FlowSocket, chunk: Buffer): void {
  const flow = this[FLOW] as Flow;
  if (!flow.client.write(chunk)) {
    this.pause();
    flow.hookDrain();
  }
}

function onClientDrain(this: FlowSocket): void {
  ((this[FLOW] as Flow).backend as net.Socket).resume();
}

function onBackendEnd(this: FlowSocket): void {
  const flow = this[FLOW] as Flow;
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
