/**
 * One listener's server (a TCP server, or a UDP socket: udp-listener.ts) and counters. The server is opened and closed by the data plane as
 * listeners come and go; closing it stops new clients only (Node's `server.close()` and the
 * native relay's `closeListener` leave accepted sockets alone), so other listeners and open
 * connections are never touched.
 */
import * as net from "node:net";
import type { NativeRelay, RelayListener } from "../native/relay";
import type { FlowListener } from "./flow";
import type { Transport } from "./plan";
import type { ServiceRoute } from "./routes";
import { emptyTotals, type ListenerState, type RejectReason, type TrafficTotals, type UdpListenerTotals } from "./stats";

export class ListenerSlot implements FlowListener {
  readonly totals: TrafficTotals = emptyTotals();
  readonly rejected: Record<RejectReason, number> = { no_backend: 0, limit: 0, connect_failed: 0 };
  /** Clients open now (including those whose backend is being connected). */
  active = 0;
  /** At its limit on a shared socket: accepting one loop turn every LIMIT_PAUSE_MS (dataplane.ts). */
  holding = false;
  holdTimer: NodeJS.Timeout | undefined = undefined;
  server: OpenServer | null = null;
  /** Why the last bind failed; cleared when the server is listening. */
  error: string | undefined = undefined;
  /** Where new clients go; null: no backend service (or the service is unknown). */
  route: ServiceRoute | null = null;
  serviceId: string | undefined = undefined;
  /** UDP listeners only: datagram counters. */
  readonly udp: UdpListenerTotals | undefined;

  constructor(
    readonly id: string,
    public port: number,
    readonly protocol: Transport = "TCP",
  ) {
    this.udp = protocol === "UDP" ? { datagramsIn: 0, datagramsOut: 0, evictions: 0 } : undefined;
  }

  get state(): ListenerState {
    if (this.server === null) return "Failed";
    return this.route === null || this.route.table === null ? "NoBackend" : "Listening";
  }

  /** Stops accepting; connections already accepted are left to the caller. */
  closeServer(): void {
    const server = this.server;
    this.server = null;
    this.holding = false;
    clearTimeout(this.holdTimer);
    server?.close();
  }
}

/** A listening socket of either engine. */
export interface OpenServer {
  close(): void;
  /**
   * Accepts nothing until `resume`, leaving new clients to the other processes listening on the
   * same socket. Only where that is possible: the native engine on a socket handed over by the
   * primary (Node's server cannot stop accepting without closing).
   */
  readonly pause?: () => void;
  readonly resume?: () => void;
}

/**
 * A TCP socket bound by another process and handed over with `child_process` (Node's TCP handle,
 * as a `message` event's second argument): how the workers of one node share a port.
 */
export interface BoundSocket {
  /** The descriptor (Unix). */
  readonly fd: number;
  close(): void;
}

/**
 * Opens a server on `host:port`, or on `socket` (bound to that port elsewhere), that hands each
 * accepted client, paused and half-open capable, to `onConnection`. Rejects with a message people
 * can act on; a failed bind leaves nothing open. The port is never shared with SO_REUSEPORT: any
 * process of the same user could join it and take a share of the clients.
 */
export function listen(
  host: string,
  port: number,
  onConnection: (socket: net.Socket) => void,
  onError: (err: Error) => void,
  socket?: BoundSocket,
): Promise<net.Server> {
  return new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    const failed = (err: NodeJS.ErrnoException): void => {
      server.close(); // a handed-over socket went with it: Node closes a handle it could not listen on
      reject(new Error(describeBindError(err, host, port)));
    };
    server.once("error", failed);
    const listening = (): void => {
      server.off("error", failed);
      // After listening, errors are accept failures (e.g. EMFILE): report them, keep serving.
      server.on("error", onError);
      server.on("connection", onConnection);
      resolve(server);
    };
    // The server takes the handed-over handle as its own: closing the server closes it.
    if (socket === undefined) server.listen({ host, port }, listening);
    else server.listen(socket, listening);
  });
}

export function describeBindError(err: NodeJS.ErrnoException, host: string, port: number): string {
  switch (err.code) {
    case "EADDRINUSE":
      return `port ${port} on ${host} is in use`;
    case "EADDRNOTAVAIL":
      return `address ${host} is not available on this host (port ${port})`;
    case "EACCES":
    case "EPERM":
      return `permission denied to listen on port ${port} on ${host}`;
    default:
      return `cannot listen on port ${port} on ${host}: ${err.message}`;
  }
}

/** `describeBindError` for a libuv error code ("EADDRINUSE"), as the native relay and handles report them. */
export function describeBindCode(code: string, host: string, port: number): string {
  const err: NodeJS.ErrnoException = new Error(code);
  err.code = code;
  return describeBindError(err, host, port);
}

/**
 * The native engine's `listen`, TCP or UDP: the relay accepts a TCP client (and does not read yet),
 * or receives a new UDP client's first datagram, and the listener's handler decides. Binding is
 * synchronous in C; the error codes are libuv's, which are Node's. A handed-over `socket` is closed
 * here in every case: the relay listens on its own duplicate. Only a TCP listener on a handed-over
 * socket pauses (see OpenServer).
 */
export function listenNative(relay: NativeRelay, host: string, port: number, listener: RelayListener, bufferBytes: number, socket?: BoundSocket): OpenServer {
  let opened: number | { code: string };
  if (socket === undefined) opened = relay.listen(host, port, bufferBytes, listener);
  else {
    opened = relay.listenFd(socket.fd, bufferBytes, listener);
    socket.close();
  }
  if (typeof opened !== "number") throw new Error(describeBindCode(opened.code, host, port));
  const close = (): void => relay.closeListener(opened);
  if (socket === undefined || listener.transport === "UDP") return { close };
  return { close, pause: () => relay.pauseListener(opened), resume: () => relay.resumeListener(opened) };
}
