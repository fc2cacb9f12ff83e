import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTlsServer, type Server as TlsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { ErrorCode } from "../../protocol";
import { ApiError } from "../errors";
import { ConnectionAdmission, type AdmissionLimits } from "./admission";
import type { KeyPair } from "./tls";

/**
 * The admin API's HTTP server as a lifecycle object: `listen` once, `close` any number of times.
 * Timeouts bound how long a slow or silent client holds a connection, and admission.ts how many it
 * can hold. Given a key pair it speaks HTTPS, and `setKeyPair` swaps the pair for new connections.
 */

export interface AdminAddress {
  readonly host: string;
  readonly port: number;
}

/** What Node's HTTP parser refused, answered with the one JSON error shape instead of a bare status. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // The parser fails again on every chunk the client still sends: answer once, then linger.
  if (answered.has(socket)) return;
  answered.add(socket);
  if (!socket.writable || error.code === "ECONNRESET") {
    socket.destroy();
    return;
  }
  const [code, message]: [ErrorCode, string] =
    error.code === "HPE_HEADER_OVERFLOW"
      ? ["headers_too_large", "the request headers are over 16 KiB"]
      : error.code === "ERR_HTTP_REQUEST_TIMEOUT" || error.code === "ERR_HTTP_HEADERS_TIMEOUT"
        ? ["request_timeout", "the request did not arrive in time (headers within 15 s, the whole request within 60 s)"]
        : ["bad_request", `the request is not well-formed HTTP (${error.code ?? "parse error"})`];
  answerRaw(socket, new ApiError(code, message));
}

/** CONNECT asks for a tunnel, which the admin API never gives; Node would drop it without a word. */
function answerConnect(_req: IncomingMessage, socket: Socket): void {
  answerRaw(socket, new ApiError("method_not_allowed", "CONNECT is not supported: the admin API opens no tunnels", [], { allow: "GET, HEAD, PUT, DELETE" }));
}

/**
 * Writes an error in the one JSON shape straight to a socket that no HTTP response owns, then
 * lingers: drops what the client still sends (a body behind a refused header), or closing would
 * reset the connection and the client would lose the answer. Bounded in time.
 */
function answerRaw(socket: Socket, failure: ApiError): void {
  const body = JSON.stringify(failure.toBody());
  const extra = Object.entries(failure.headers).map(([name, value]) => `${name}: ${value}\r\n`).join("");
  socket.end(
    `HTTP/1.1 ${failure.status} ${STATUS_TEXT[failure.status] ?? "Error"}\r\n` +
      "Content-Type: application/json; charset=utf-8\r\n" +
      `${extra}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.resume();
  setTimeout(() => socket.destroy(), 5_000).unref();
}

const answered = new WeakSet<Socket>();

const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  405: "Method Not Allowed",
  408: "Request Timeout",
  431: "Request Header Fields Too Large",
};

/**
 * The TCP connection a request arrived on. Admission counts connections when they are accepted,
 * before any TLS handshake (so a flood of stalled handshakes is bounded too); a TLS socket wraps
 * that connection and refers to it as `_parent`.
 */
function acceptedConnection(socket: Socket): Socket {
  return (socket as Socket & { _parent?: Socket })._parent ?? socket;
}

export class AdminServer {
  private readonly server: Server | TlsServer;
  private readonly admission: ConnectionAdmission;
  private closing: Promise<void> | undefined;

  constructor(handler: (req: IncomingMessage, res: ServerResponse) => void, limits?: AdmissionLimits, keyPair?: KeyPair) {
    const options = {
      // The whole request (a 1 MiB body included) must arrive within this, headers within less.
      requestTimeout: 60_000,
      headersTimeout: 15_000,
      // Node checks both timeouts only this often (30 s by default): a 408 is due 15 s to 16 s after
      // the connection opened.
      connectionsCheckingInterval: 1_000,
      keepAliveTimeout: 5_000,
      maxHeaderSize: 16 * 1024,
    };
    this.server =
      keyPair === undefined
        ? createServer(options, handler)
        : createTlsServer({ ...options, cert: keyPair.cert, key: keyPair.key, handshakeTimeout: 15_000 }, handler);
    // Not server.maxConnections: it drops new clients while old slow ones hold every slot.
    this.admission = new ConnectionAdmission(limits);
    this.server.on("connection", (socket: Socket) => this.admission.admit(socket));
    this.server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const socket = acceptedConnection(req.socket);
      this.admission.requestStarted(socket);
      res.once("close", () => this.admission.requestEnded(socket));
    });
    this.server.on("clientError", answerClientError);
    this.server.on("connect", answerConnect);
  }

  /** New connections are served with this pair; open ones keep the one they shook hands with. */
  setKeyPair(pair: KeyPair): void {
    if (!("setSecureContext" in this.server)) throw new Error("the admin API serves plain HTTP: it has no key pair to replace");
    this.server.setSecureContext({ cert: pair.cert, key: pair.key });
  }

  /** Binds `host:port` (port 0: an ephemeral port) and returns the address actually bound. */
  listen(host: string, port: number): Promise<AdminAddress> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once("error", onError);
      // A queue deeper than Node's 511: while slow clients that were closed to make room connect
      // again at once, a full queue would drop a new client's SYN, and its retry comes 1 s later.
      this.server.listen({ host, port, exclusive: true, backlog: 4096 }, () => {
        this.server.off("error", onError);
        const bound = this.server.address() as AddressInfo;
        resolve({ host: bound.address, port: bound.port });
      });
    });
  }

  /**
   * Stops accepting, lets requests in progress finish for up to `graceMs`, then cuts what is left.
   * Idempotent: every call returns the same promise.
   */
  close(graceMs = 5_000): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      if (!this.server.listening) {
        resolve();
        return;
      }
      const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
      timer.unref();
      this.server.close(() => {
        clearTimeout(timer);
        resolve();
      });
      this.server.closeIdleConnections();
    });
    return this.closing;
  }
}
