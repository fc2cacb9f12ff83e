import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { ErrorCode } from "../../protocol";
import { ApiError } from "../errors";

/**
 * The admin API's HTTP server as a lifecycle object: `listen` once, `close` any number of times.
 * Timeouts bound what a slow or silent client can hold.
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
  answerRaw(socket, new ApiError("method_not_allowed", "CONNECT is not supported: the admin API is plain HTTP", [], { allow: "GET, HEAD, PUT, DELETE" }));
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

export class AdminServer {
  private readonly server: Server;
  private closing: Promise<void> | undefined;

  constructor(handler: (req: IncomingMessage, res: ServerResponse) => void) {
    this.server = createServer(
      {
        // The whole request (a 1 MiB body included) must arrive within this, headers within less.
        requestTimeout: 60_000,
        headersTimeout: 15_000,
        keepAliveTimeout: 5_000,
        maxHeaderSize: 16 * 1024,
      },
      handler,
    );
    // The provider opens a few connections per node; this bounds what a misbehaving client holds.
    this.server.maxConnections = 256;
    this.server.on("clientError", answerClientError);
    this.server.on("connect", answerConnect);
  }

  /** Binds `host:port` (port 0: an ephemeral port) and returns the address actually bound. */
  listen(host: string, port: number): Promise<AdminAddress> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once("error", onError);
      this.server.listen({ host, port, exclusive: true }, () => {
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
