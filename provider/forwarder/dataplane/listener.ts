/**
 * One listener's server (a TCP server, or a UDP socket: udp-listener.ts) and counters. The server is opened and closed by the data plane as
 * listeners come and go; closing it stops new clients only (Node's `server.close()` and the
 * native relay's `closeListener` leave accepted sockets alone), so other listeners and open
 * connections are never touched.
 */
import * as net from "node:net";
import type { NativeRelay, RelayListenerHandler } from "../native/relay";
import type { FlowListener } from "./flow";
import type { Transport } from "./plan";
import type { ServiceRoute } from "./routes";
import { emptyTotals, type ListenerState, type RejectReason, type TrafficTotals, type UdpListenerTotals } from "./stats";

export class ListenerSlot implements FlowListener {
  readonly totals: TrafficTotals = emptyTotals();
  readonly rejected: Record<RejectReason, number> = { no_backend: 0, limit: 0, connect_failed: 0 };
  /** Clients open now (including those whose backend is being connected). */
  active = 0;
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
    server?.close();
  }
}

/** A listening socket of either engine. */
export interface OpenServer {
  close(): void;
}

/**
 * Opens a server on `host:port` that hands each accepted client, paused and half-open capable,
 * to `onConnection`. Rejects with a message people can act on; a failed bind leaves nothing open.
 * With `reusePort` (SO_REUSEPORT) several processes each open their own server on the port and
 * the kernel spreads new connections over them (the data plane's worker processes).
 */
export function listen(
  host: string,
  port: number,
  onConnection: (socket: net.Socket) => void,
  onError: (err: Error) => void,
  reusePort = false,
): Promise<net.Server> {
  return new Promise<net.Server>((resolve, reject) => {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    const failed = (err: NodeJS.ErrnoException): void => {
      server.close();
      reject(new Error(describeBindError(err, host, port)));
    };
    server.once("error", failed);
    server.listen({ host, port, ...(reusePort ? { reusePort: true } : {}) }, () => {
      server.off("error", failed);
      // After listening, errors are accept failures (e.g. EMFILE): report them, keep serving.
      server.on("error", onError);
      server.on("connection", onConnection);
      resolve(server);
    });
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

/**
 * The native engine's `listen`: the relay accepts (and does not read yet) and `handler` decides.
 * Binding is synchronous in C; the error codes are libuv's, which are Node's.
 */
export function listenNative(relay: NativeRelay, host: string, port: number, handler: RelayListenerHandler, reusePort: boolean): OpenServer {
  const opened = relay.listen(host, port, reusePort, handler);
  if (typeof opened !== "number") {
    const err: NodeJS.ErrnoException = new Error(opened.code);
    err.code = opened.code;
    throw new Error(describeBindError(err, host, port));
  }
  return { close: () => relay.closeListener(opened) };
}
