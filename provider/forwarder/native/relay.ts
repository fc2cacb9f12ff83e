/**
 * The native relay (relay.c, built by build.ts into `dnlb_relay.node` beside this file): the
 * data plane's sockets in C on Node's own event loop. One per process, shared by every data
 * plane in it (tests run several); it hands each event to the listener or flow it belongs to.
 *
 * Optional: when the addon is missing (no C compiler where the package was built) or does not
 * load (another platform), `nativeRelay()` returns undefined, `nativeRelayUnavailable()` says
 * why, and the data plane uses Node's sockets instead (engine "streams").
 */
import * as path from "node:path";

/** The addon's functions, as relay.c defines them. Errors come back as codes ("EADDRINUSE"). */
interface RelayBinding {
  init(
    onAccept: (listenerId: number, flowId: number, remoteAddress: string, remotePort: number, localAddress: string, localPort: number) => void,
    onConnect: (flowId: number, status: number) => void,
    onClose: (flowId: number, bytesIn: number, bytesOut: number, hadError: boolean) => void,
    onListenError: (listenerId: number, code: string) => void,
    onUdpSession: (listenerId: number, sessionId: number, remoteAddress: string, remotePort: number, localAddress: string, localPort: number) => void,
    onUdpClose: (sessionId: number, datagramsIn: number, datagramsOut: number, bytesIn: number, bytesOut: number, failed: boolean) => void,
  ): void;
  listen(listenerId: number, host: string, port: number, bufferBytes: number, udp: boolean): string | undefined;
  listenFd(listenerId: number, fd: number, bufferBytes: number, udp: boolean): string | undefined;
  closeListener(listenerId: number): void;
  pauseListener(listenerId: number): void;
  resumeListener(listenerId: number): void;
  connect(flowId: number, host: string, port: number, timeoutMs: number, header: Buffer | undefined, bufferBytes: number): string | undefined;
  reset(flowId: number): void;
  destroy(flowId: number): void;
  abandoned(flowId: number): boolean;
  bytesIn(flowId: number): number;
  bytesOut(flowId: number): number;
  udpConnect(sessionId: number, host: string, port: number): string | undefined;
  udpClose(sessionId: number): void;
  udpRepick(sessionId: number): void;
  udpCounters(sessionId: number, out: Float64Array): boolean;
}

/** Hears of the clients one native listener accepts. */
export interface RelayListenerHandler {
  /** A client is accepted (not read from yet): answer with `relay.connect` or `relay.reset` for `flowId`. */
  accepted(flowId: number, remoteAddress: string, remotePort: number, localAddress: string, localPort: number): void;
  /** Accepting failed (e.g. EMFILE); the listener stays open. */
  failed(code: string): void;
}

/** Hears of the new clients of one native UDP listener. */
export interface RelayUdpListenerHandler {
  /**
   * A new client's first datagram (held, with any that follow, until the session is connected):
   * answer with `relay.udpConnect` or `relay.udpClose` for `sessionId` before returning.
   */
  session(sessionId: number, remoteAddress: string, remotePort: number, localAddress: string, localPort: number): void;
  /** Receiving failed; the listener stays open. */
  failed(code: string): void;
}

/** Hears of the end of one UDP session that `udpConnect` connected. */
export interface RelayUdpSessionHandler {
  /** The session's socket is closed; `failed`: by an error on it (an ICMP error from the member, mostly). */
  closed(totals: UdpSessionCounters, failed: boolean): void;
}

/** A UDP session's counters: datagrams and bytes from the client (in) and from the member (out). */
export interface UdpSessionCounters {
  readonly datagramsIn: number;
  readonly datagramsOut: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

/** A listener's transport and who hears of its clients. */
export type RelayListener = { readonly transport: "TCP"; readonly handler: RelayListenerHandler } | { readonly transport: "UDP"; readonly handler: RelayUdpListenerHandler };

/** Hears of one flow's backend connect and of its end. */
export interface RelayFlowHandler {
  /** 0: connected, bytes flow both ways from now on. Negative: this attempt failed (a libuv error number); connect again or reset. */
  connectResult(status: number): void;
  /** Both sockets are closed; the id is free for reuse. */
  closed(bytesIn: number, bytesOut: number, hadError: boolean): void;
}

export class NativeRelay {
  private readonly listeners: (RelayListener | undefined)[] = [];
  private readonly flows: (RelayFlowHandler | undefined)[] = [];
  private readonly udpSessions: (RelayUdpSessionHandler | undefined)[] = [];
  private readonly freeListenerIds: number[] = [];
  private readonly counters = new Float64Array(4);

  constructor(private readonly binding: RelayBinding) {
    binding.init(
      (listenerId, flowId, remoteAddress, remotePort, localAddress, localPort) => {
        const listener = this.listeners[listenerId];
        if (listener?.transport !== "TCP") binding.reset(flowId); // closed meanwhile
        else listener.handler.accepted(flowId, remoteAddress, remotePort, localAddress, localPort);
      },
      (flowId, status) => this.flows[flowId]?.connectResult(status),
      (flowId, bytesIn, bytesOut, hadError) => {
        const flow = this.flows[flowId];
        this.flows[flowId] = undefined;
        flow?.closed(bytesIn, bytesOut, hadError);
      },
      (listenerId, code) => this.listeners[listenerId]?.handler.failed(code),
      (listenerId, sessionId, remoteAddress, remotePort, localAddress, localPort) => {
        const listener = this.listeners[listenerId];
        if (listener?.transport !== "UDP") binding.udpClose(sessionId); // closed meanwhile
        else listener.handler.session(sessionId, remoteAddress, remotePort, localAddress, localPort);
      },
      (sessionId, datagramsIn, datagramsOut, bytesIn, bytesOut, failed) => {
        const session = this.udpSessions[sessionId];
        this.udpSessions[sessionId] = undefined;
        session?.closed({ datagramsIn, datagramsOut, bytesIn, bytesOut }, failed);
      },
    );
  }

  /**
   * Opens a listener; returns its id, or the error code when the bind or listen failed (nothing is
   * left open). TCP: its clients' sockets get kernel buffers capped at `bufferBytes` (0: the
   * kernel's). UDP: `bufferBytes` is the listener's receive buffer (0: the kernel's).
   */
  listen(host: string, port: number, bufferBytes: number, listener: RelayListener): number | { code: string } {
    return this.register(listener, (id) => this.binding.listen(id, host, port, bufferBytes, listener.transport === "UDP"));
  }

  /**
   * Listens on (receives from) a duplicate of `fd`, a socket bound elsewhere (the node's primary
   * process binds each port once for all its workers); the caller keeps, and closes, its own
   * descriptor.
   */
  listenFd(fd: number, bufferBytes: number, listener: RelayListener): number | { code: string } {
    return this.register(listener, (id) => this.binding.listenFd(id, fd, bufferBytes, listener.transport === "UDP"));
  }

  private register(handler: RelayListener, open: (id: number) => string | undefined): number | { code: string } {
    const id = this.freeListenerIds.pop() ?? this.listeners.length;
    const code = open(id);
    if (code !== undefined) {
      this.freeListenerIds.push(id);
      return { code };
    }
    this.listeners[id] = handler;
    return id;
  }

  /** Stops accepting (UDP: receiving) at once (the port is free on return); flows and sessions already open are untouched. */
  closeListener(id: number): void {
    this.binding.closeListener(id);
    this.listeners[id] = undefined;
    this.freeListenerIds.push(id);
  }

  /** Accepts nothing (clients wait in the backlog) until `resumeListener`. */
  pauseListener(id: number): void {
    this.binding.pauseListener(id);
  }

  resumeListener(id: number): void {
    this.binding.resumeListener(id);
  }

  /**
   * Starts a connect for an accepted flow; the result comes to `handler.connectResult`. Returns an
   * error code, and starts nothing, when the address cannot be connected to at all. The member's
   * socket gets kernel buffers capped at `bufferBytes` (0: the kernel's).
   */
  connect(flowId: number, handler: RelayFlowHandler, host: string, port: number, timeoutMs: number, bufferBytes: number, header?: Buffer): string | undefined {
    this.flows[flowId] = handler;
    return this.binding.connect(flowId, host, port, timeoutMs, header, bufferBytes);
  }

  reset(flowId: number): void {
    this.binding.reset(flowId);
  }

  destroy(flowId: number): void {
    this.binding.destroy(flowId);
  }

  /** Bytes wait for a side that takes none of them, and the side they came from has closed or reset. */
  abandoned(flowId: number): boolean {
    return this.binding.abandoned(flowId);
  }

  bytesIn(flowId: number): number {
    return this.binding.bytesIn(flowId);
  }

  bytesOut(flowId: number): number {
    return this.binding.bytesOut(flowId);
  }

  /**
   * Connects a session `session` announced to its member and sends the datagrams it held; its end
   * comes to `handler.closed`. Returns an error code, and the session stays unconnected (close it),
   * when no socket could be connected there.
   */
  udpConnect(sessionId: number, handler: RelayUdpSessionHandler, host: string, port: number): string | undefined {
    const code = this.binding.udpConnect(sessionId, host, port);
    if (code === undefined) this.udpSessions[sessionId] = handler;
    return code;
  }

  udpClose(sessionId: number): void {
    this.binding.udpClose(sessionId);
  }

  /** The client's next datagram ends the session (reported to its handler) and opens a new one. */
  udpRepick(sessionId: number): void {
    this.binding.udpRepick(sessionId);
  }

  /** The session's counters so far, or undefined once it has ended. */
  udpCounters(sessionId: number): UdpSessionCounters | undefined {
    const out = this.counters;
    if (!this.binding.udpCounters(sessionId, out)) return undefined;
    return { datagramsIn: out[0], datagramsOut: out[1], bytesIn: out[2], bytesOut: out[3] };
  }
}

/** Where build.ts puts the addon: beside this module, compiled or not. */
export const NATIVE_RELAY_FILE = path.join(__dirname, "dnlb_relay.node");

let loaded: NativeRelay | undefined;
let unavailable: string | undefined;

/** The process's native relay, loaded on first use; undefined when it cannot be loaded here. */
export function nativeRelay(): NativeRelay | undefined {
  if (loaded !== undefined || unavailable !== undefined) return loaded;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = new NativeRelay(require(NATIVE_RELAY_FILE) as RelayBinding);
  } catch (err) {
    unavailable = err instanceof Error ? err.message.split("\n")[0] : String(err);
  }
  return loaded;
}

/** Why the native relay is not available (undefined when it is, or has not been tried). */
export function nativeRelayUnavailable(): string | undefined {
  nativeRelay();
  return unavailable;
}
