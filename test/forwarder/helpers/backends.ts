/**
 * Tiny TCP backends for forwarder tests, each on its own loopback address ("host"):
 *
 * - "identify": writes `<name>\n` as soon as a client connects, then echoes what it receives
 *   (so a client learns which member it reached and can then stream through it);
 * - "echo": echoes only;
 * - "reply-on-end": reads until the client's FIN, then answers `<bytes received> <sha256>\n` and
 *   closes (exercises half-close).
 *
 * Each backend records its accepted connections (count, source addresses, timestamps), can be
 * killed (server closed and every open socket destroyed) and restarted on the same address and
 * port.
 */
import { createHash } from "node:crypto";
import * as net from "node:net";

export type BackendMode = "identify" | "echo" | "reply-on-end";

export interface BackendOptions {
  readonly host: string;
  /** 0 (default): an ephemeral port. */
  readonly port?: number;
  readonly mode?: BackendMode;
  /** Default `host:port`. */
  readonly name?: string;
}

export class TestBackend {
  readonly host: string;
  port: number;
  name: string;
  readonly mode: BackendMode;
  /** Connections accepted since start (across restarts). */
  accepted = 0;
  /** `Date.now()` of every accepted connection. */
  readonly acceptedAt: number[] = [];
  readonly sockets = new Set<net.Socket>();
  private server: net.Server | null = null;

  private constructor(opts: BackendOptions) {
    this.host = opts.host;
    this.port = opts.port ?? 0;
    this.name = opts.name ?? "";
    this.mode = opts.mode ?? "identify";
  }

  static async start(opts: BackendOptions): Promise<TestBackend> {
    const backend = new TestBackend(opts);
    await backend.listen();
    if (backend.name === "") backend.name = `${backend.host}:${backend.port}`;
    return backend;
  }

  get open(): number {
    return this.sockets.size;
  }

  get listening(): boolean {
    return this.server !== null;
  }

  async listen(): Promise<void> {
    if (this.server !== null) return;
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.onConnection(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: this.host, port: this.port }, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and destroys every open connection (a crashed process). */
  async kill(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const socket of this.sockets) socket.destroy();
    if (server !== null) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Stops listening; open connections stay. */
  async stopListening(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server === null) return;
    server.close();
    // server.close's callback waits for open connections; the port itself is released now.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  close(): Promise<void> {
    return this.kill();
  }

  private onConnection(socket: net.Socket): void {
    this.accepted++;
    this.acceptedAt.push(Date.now());
    this.sockets.add(socket);
    socket.on("close", () => this.sockets.delete(socket));
    socket.on("error", () => undefined);
    switch (this.mode) {
      case "identify":
        socket.write(`${this.name}\n`);
        socket.pipe(socket);
        break;
      case "echo":
        socket.pipe(socket);
        break;
      case "reply-on-end": {
        const hash = createHash("sha256");
        let received = 0;
        socket.on("data", (chunk: Buffer) => {
          received += chunk.length;
          hash.update(chunk);
        });
        socket.on("end", () => socket.end(`${received} ${hash.digest("hex")}\n`));
        break;
      }
    }
  }
}

export async function closeAll(backends: readonly (TestBackend | undefined)[]): Promise<void> {
  await Promise.all(backends.map((b) => b?.close()));
}
