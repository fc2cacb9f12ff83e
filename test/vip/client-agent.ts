/**
 * Runs inside the test's client namespace (the test process cannot enter one): reads one JSON
 * command a line on stdin and answers each with one JSON line on stdout.
 *
 * - `{ id, op: "http", url, method, body? }` -> `{ id, status, body }` (bearer DNLB_ADMIN_TOKEN)
 * - `{ id, op: "connect", host, port, sources, count, concurrency?, intervalMs? }` -> `{ id, results }`:
 *   `count` new connections from `sources` in turn, each reading the backend's
 *   `MEMBER VIA` line; with `intervalMs` one connection starts every interval instead.
 * - `{ id, op: "bridge", socketPath, port }` -> `{ id }` once listening: every connection to the
 *   Unix socket `socketPath` (reachable from any namespace) is piped to 127.0.0.1:`port` here.
 */
import * as net from "node:net";
import * as readline from "node:readline";

interface HttpCommand {
  readonly id: number;
  readonly op: "http";
  readonly url: string;
  readonly method: string;
  readonly body?: unknown;
}

interface ConnectCommand {
  readonly id: number;
  readonly op: "connect";
  readonly host: string;
  readonly port: number;
  readonly sources: readonly string[];
  readonly count: number;
  readonly concurrency?: number;
  readonly intervalMs?: number;
}

interface BridgeCommand {
  readonly id: number;
  readonly op: "bridge";
  readonly socketPath: string;
  readonly port: number;
}

export interface ConnectResult {
  readonly source: string;
  /** Date.now() when the connection started. */
  readonly at: number;
  readonly member?: string;
  /** The forwarder node's address as the backend saw it: which node carried the connection. */
  readonly via?: string;
  readonly error?: string;
}

const CONNECTION_TIMEOUT_MS = 3000;

function identify(host: string, port: number, source: string): Promise<ConnectResult> {
  const at = Date.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress: source });
    let data = "";
    const done = (result: ConnectResult) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(CONNECTION_TIMEOUT_MS, () => done({ source, at, error: "timeout" }));
    socket.setEncoding("utf8").on("data", (chunk: string) => (data += chunk));
    socket.on("error", (error: NodeJS.ErrnoException) => done({ source, at, error: error.code ?? error.message }));
    socket.on("end", () => {
      const [member, via] = data.trim().split(" ");
      done(member && via ? { source, at, member, via } : { source, at, error: `unexpected reply ${JSON.stringify(data)}` });
    });
  });
}

async function connectAll(c: ConnectCommand): Promise<ConnectResult[]> {
  const results: ConnectResult[] = [];
  const source = (i: number) => c.sources[i % c.sources.length];
  if (c.intervalMs !== undefined) {
    const running: Promise<void>[] = [];
    for (let i = 0; i < c.count; i++) {
      running.push(identify(c.host, c.port, source(i)).then((r) => void results.push(r)));
      await new Promise((resolve) => setTimeout(resolve, c.intervalMs));
    }
    await Promise.all(running);
    return results;
  }
  let next = 0;
  const worker = async () => {
    while (next < c.count) results.push(await identify(c.host, c.port, source(next++)));
  };
  await Promise.all(Array.from({ length: Math.min(c.count, c.concurrency ?? 20) }, worker));
  return results;
}

async function http(c: HttpCommand): Promise<{ status: number; body: string }> {
  const response = await fetch(c.url, {
    method: c.method,
    headers: { authorization: `Bearer ${process.env.DNLB_ADMIN_TOKEN ?? ""}`, "content-type": "application/json" },
    body: c.body === undefined ? undefined : JSON.stringify(c.body),
    signal: AbortSignal.timeout(5000),
  });
  return { status: response.status, body: await response.text() };
}

function bridge(c: BridgeCommand): Promise<Record<string, never>> {
  const server = net.createServer((inbound) => {
    const outbound = net.connect({ host: "127.0.0.1", port: c.port });
    inbound.on("error", () => outbound.destroy());
    outbound.on("error", () => inbound.destroy());
    inbound.pipe(outbound).pipe(inbound);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(c.socketPath, () => resolve({}));
  });
}

function perform(command: HttpCommand | ConnectCommand | BridgeCommand): Promise<object> {
  switch (command.op) {
    case "http":
      return http(command);
    case "connect":
      return connectAll(command).then((results) => ({ results }));
    case "bridge":
      return bridge(command);
  }
}

readline.createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line) as HttpCommand | ConnectCommand | BridgeCommand;
  perform(command).then(
    (reply) => process.stdout.write(`${JSON.stringify({ id: command.id, ...reply })}\n`),
    (error: Error) => process.stdout.write(`${JSON.stringify({ id: command.id, error: error.message })}\n`),
  );
});
