import { promises as fs, rmSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import pino, { type Logger } from "pino";
import { request, type Dispatcher } from "undici";
import type { ConfigSnapshot } from "../../provider/forwarder/store/snapshot";
import { ForwarderNode, type NodeOptions, type NodeRuntime } from "../../provider/forwarder/node";
import type { AdminOptions, NodeDataPlaneOptions } from "../../provider/forwarder/options";

/** Shared by the admin and store tests: a node on loopback, a client, and spec samples. */

export const TOKEN = "admin-token-for-tests-0123456789";
export const SEED = "00112233445566778899aabbccddeeff";

export interface LogSink {
  readonly lines: string[];
  readonly logger: Logger;
}

export function captureLogs(): LogSink {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
  return { lines, logger };
}

let tempRoot: string | undefined;

/** A fresh directory under one per-process root, removed when the test process exits. */
export async function tempStateDir(label: string): Promise<string> {
  if (tempRoot === undefined) {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "dnlb-forwarder-tests-"));
    tempRoot = root;
    process.once("exit", () => rmSync(root, { recursive: true, force: true }));
  }
  return fs.mkdtemp(path.join(tempRoot, `${label}-`));
}

export interface TestNode {
  readonly node: ForwarderNode;
  readonly url: string;
  readonly stateDir: string;
  readonly logs: LogSink;
}

/** NodeOptions for a test: anything left out gets loopback addresses, the test token and seed, a temporary state directory. */
export interface TestNodeOptions extends Partial<Omit<NodeOptions, "dataPlane" | "admin">> {
  readonly label?: string;
  readonly admin?: Partial<AdminOptions>;
  readonly dataPlane?: Partial<NodeDataPlaneOptions>;
}

export async function startNode(options: TestNodeOptions = {}): Promise<TestNode> {
  const logs = captureLogs();
  const stateDir = options.stateDir ?? (await tempStateDir(options.label ?? "admin"));
  const node = await ForwarderNode.start({
    defaultMetrics: false,
    ...options,
    admin: { host: "127.0.5.1", port: 0, token: TOKEN, ...options.admin },
    dataPlane: { listenAddress: "127.0.5.2", hashSeed: SEED, ...options.dataPlane },
    stateDir,
    logger: options.logger ?? logs.logger,
  });
  return { node, url: node.url, stateDir, logs };
}

export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The parsed body, or undefined when it is empty or not JSON (any: tests read arbitrary bodies). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly json: any;
}

export interface CallOptions {
  /** Serialized as JSON unless `raw` is given. */
  readonly body?: unknown;
  readonly raw?: string | Buffer;
  /** Default: the right token. `null`: no Authorization header. */
  readonly token?: string | null;
  readonly headers?: Record<string, string>;
  /** Default: undici's global dispatcher. An Agent with `connect: { ca }` for an HTTPS node. */
  readonly dispatcher?: Dispatcher;
}

export async function call(base: string, method: string, urlPath: string, options: CallOptions = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? TOKEN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | Buffer | undefined = options.raw;
  if (body === undefined && options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] ??= "application/json";
  }
  const res = await request(`${base}${urlPath}`, {
    method: method as "GET",
    headers,
    body,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
    dispatcher: options.dispatcher,
  });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

export const samples = {
  healthCheck: (name = "hc") => ({ name, timeoutSeconds: 2, intervalSeconds: 5 }),
  serverGroup: (name = "g", port = 23901) => ({ type: "virtual", name, members: [{ address: "127.0.5.9", port }] }),
  haGroup: (name = "ha") => ({ type: "high-availability", name, members: [{ address: "127.0.5.9" }] }),
  backendService: (name = "web", extra: Record<string, unknown> = {}) => ({ name, port: 23900, ...extra }),
  listener: (name: string, port: number, backendService = "web") => ({ name, port, backendService }),
};

/** A runtime stand-in for the failures a real one rarely shows (it throws; a listener cannot bind). */
export class FakeRuntime implements NodeRuntime {
  readonly applied: ConfigSnapshot[] = [];
  failApply = false;
  /** Listener ids that "cannot bind". */
  readonly unbindable = new Set<string>();
  closed = 0;

  async prepare(config: ConfigSnapshot): Promise<{ listenerErrors: ReadonlyMap<string, string> }> {
    if (this.failApply) throw new Error("simulated runtime failure");
    return { listenerErrors: this.listenerErrors(config) };
  }

  async apply(config: ConfigSnapshot): Promise<{ listenerErrors: ReadonlyMap<string, string> }> {
    if (this.failApply) throw new Error("simulated runtime failure");
    this.applied.push(config);
    return { listenerErrors: this.listenerErrors(config) };
  }

  async release(): Promise<void> {}

  private listenerErrors(config: ConfigSnapshot): Map<string, string> {
    const listenerErrors = new Map<string, string>();
    for (const id of config.listeners.keys()) if (this.unbindable.has(id)) listenerErrors.set(id, "EADDRINUSE (simulated)");
    return listenerErrors;
  }

  status(): unknown {
    return { fake: true, listeners: this.applied.at(-1)?.listeners.size ?? 0 };
  }

  async close(): Promise<void> {
    this.closed += 1;
  }
}

export async function readState(stateDir: string): Promise<Buffer> {
  return fs.readFile(path.join(stateDir, "config.json"));
}

/**
 * Whether something listens on host:port. A reset counts as listening: with an unreachable member
 * the forwarder accepts and then resets the client, which can arrive before the connect completes
 * in a busy test process (reported as "connect ECONNRESET"). A refusal (RST to the SYN) does not.
 */
export function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(2_000, () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNRESET"));
  });
}

