/**
 * Test clients: connect from a chosen loopback source address (any 127.x.y.z works on Linux,
 * so thousands of distinct "clients" are available), learn which member answered, stream data
 * and check it came back intact.
 */
import { createHash } from "node:crypto";
import * as net from "node:net";
import { delay } from "../../support/wait";

export interface ConnectOptions {
  readonly host: string;
  readonly port: number;
  /** The client's source address, e.g. "127.3.0.7". */
  readonly localAddress?: string;
  readonly timeoutMs?: number;
}

/** Connects; rejects on error or after `timeoutMs` (default 5000). */
export function connect(opts: ConnectOptions): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect({
      host: opts.host,
      port: opts.port,
      ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
      allowHalfOpen: true,
    });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`connect to ${opts.host}:${opts.port} timed out`));
    }, opts.timeoutMs ?? 5000);
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      socket.on("error", () => undefined);
      resolve(socket);
    });
  });
}

/**
 * Reads one line. Rejects with the socket's error code (e.g. "ECONNRESET") or "EOF" if the
 * connection ends first, and after `timeoutMs` (default 5000).
 */
export function readLine(socket: net.Socket, timeoutMs = 5000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let text = "";
    const done = (err: Error | undefined, line?: string, rest?: string): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off("data", onData);
      socket.off("error", onError);
      socket.off("end", onEnd);
      socket.off("close", onEnd);
      // Bytes after the line go back to the stream for the next reader (after our listener is gone).
      if (rest !== undefined && rest.length > 0) socket.unshift(Buffer.from(rest, "latin1"));
      if (err !== undefined) reject(err);
      else resolve(line as string);
    };
    const onData = (chunk: Buffer): void => {
      text += chunk.toString("latin1");
      const nl = text.indexOf("\n");
      if (nl >= 0) done(undefined, text.slice(0, nl), text.slice(nl + 1));
    };
    const onError = (err: NodeJS.ErrnoException): void => done(codedError(err.code ?? err.message));
    const onEnd = (): void => done(codedError("EOF"));
    const timer = setTimeout(() => done(codedError("TIMEOUT")), timeoutMs);
    socket.on("data", onData);
    socket.on("error", onError);
    socket.on("end", onEnd);
    socket.on("close", onEnd);
    socket.resume();
  });
}

function codedError(code: string): Error & { code: string } {
  return Object.assign(new Error(code), { code });
}

/** Connects, reads the identify backend's name, closes. Rejects with the error code on a reset. */
export async function identify(opts: ConnectOptions): Promise<string> {
  const socket = await connect(opts);
  try {
    return await readLine(socket, opts.timeoutMs);
  } finally {
    socket.destroy();
  }
}

/** Like identify, but resolves `{ error: code }` instead of rejecting. */
export async function tryIdentify(opts: ConnectOptions): Promise<{ name?: string; error?: string }> {
  try {
    return { name: await identify(opts) };
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
  }
}

/** Runs `task(i)` for i in [0, count) with at most `concurrency` in flight. */
export async function runConcurrently<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return results;
}

/** The i-th of up to 65536 distinct source addresses in 127.<b>.x.y (avoiding .0 and .255 hosts). */
export function sourceAddress(i: number, secondOctet = 3): string {
  const x = Math.floor(i / 250) % 256;
  const y = (i % 250) + 1;
  return `127.${secondOctet}.${x}.${y}`;
}

/** Counts occurrences. */
export function tally(names: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
  return counts;
}

/**
 * A long-lived stream through an echo path: writes a deterministic byte sequence in chunks and
 * checks that exactly the same bytes, in order, come back. `stop()` half-closes and resolves
 * with what was sent and received once the echo has ended.
 */
export class EchoStream {
  private readonly sent = createHash("sha256");
  private readonly received = createHash("sha256");
  bytesSent = 0;
  bytesReceived = 0;
  closedEarly: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private counter = 0;
  private readonly ended: Promise<void>;

  constructor(
    readonly socket: net.Socket,
    private readonly chunkBytes: number,
    intervalMs: number,
  ) {
    this.ended = new Promise<void>((resolve) => {
      socket.on("data", (chunk: Buffer) => {
        this.bytesReceived += chunk.length;
        this.received.update(chunk);
      });
      socket.on("end", () => {
        if (this.timer !== undefined) this.closedEarly ??= "ended while streaming";
        resolve();
      });
      socket.on("close", () => {
        if (this.timer !== undefined) this.closedEarly ??= "closed while streaming";
        resolve();
      });
      socket.on("error", (err: NodeJS.ErrnoException) => {
        this.closedEarly ??= err.code ?? err.message;
      });
    });
    socket.resume();
    this.timer = setInterval(() => this.writeChunk(), intervalMs);
  }

  private writeChunk(): void {
    if (this.socket.destroyed) return;
    const chunk = Buffer.allocUnsafe(this.chunkBytes);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((this.counter++ * 2654435761) >>> 0, i);
    this.sent.update(chunk);
    this.bytesSent += chunk.length;
    this.socket.write(chunk);
  }

  async stop(timeoutMs = 5000): Promise<{ sent: string; received: string; bytesSent: number; bytesReceived: number; closedEarly?: string }> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.socket.end();
    await Promise.race([this.ended, delay(timeoutMs)]);
    this.socket.destroy();
    return {
      sent: this.sent.digest("hex"),
      received: this.received.digest("hex"),
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      ...(this.closedEarly === undefined ? {} : { closedEarly: this.closedEarly }),
    };
  }
}
