/**
 * Shared pieces of the reliability suite: a real `dnlb-forwarder` CLI process that can be
 * killed with SIGKILL and started again on the same address, port and state directory; raw
 * HTTP requests (bytes we choose, headers undici would refuse to send); figures from /proc.
 *
 * Addresses are 127.0.10.x (this suite's range); admin ports are ephemeral.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { promises as fsp, readdirSync, readFileSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

export const PROJECT_ROOT = path.resolve(__dirname, "../../..");
const MAIN = path.join(PROJECT_ROOT, "dist/provider/forwarder/main.js");

/** Distinct from the other suites' secrets, so a leak check finds only this suite's. */
export const RELIABILITY_TOKEN = "rel-token-Zq8vK3mX9pL2wR7t";
export const RELIABILITY_SEED = "9f1e2d3c4b5a69788796a5b4c3d2e1f0";

export interface CliNodeOptions {
  readonly address: string;
  readonly stateDir?: string;
  readonly logLevel?: string;
  readonly token?: string;
  readonly seed?: string;
  readonly extraArgs?: readonly string[];
}

/** One `node dist/provider/forwarder/main.js` child. Keeps its whole output (for leak checks). */
export class CliNode {
  /** Everything the node wrote to stdout and stderr, across restarts. */
  output = "";
  adminPort = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly address: string,
    readonly stateDir: string,
    private readonly opts: CliNodeOptions,
  ) {}

  static async start(opts: CliNodeOptions): Promise<CliNode> {
    const stateDir = opts.stateDir ?? (await fsp.mkdtemp(path.join(os.tmpdir(), "dnlb-reliability-")));
    const node = new CliNode(opts.address, stateDir, opts);
    await node.launch();
    return node;
  }

  get base(): string {
    return `http://${this.address}:${this.adminPort}`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get configFile(): string {
    return path.join(this.stateDir, "config.json");
  }

  async launch(): Promise<void> {
    const args = [
      MAIN,
      "--admin-listen",
      `${this.address}:${this.adminPort}`,
      "--listen-address",
      this.address,
      "--state-dir",
      this.stateDir,
      "--shutdown-grace-seconds",
      "0",
      "--log-level",
      this.opts.logLevel ?? "info",
      "--node-name",
      `rel-${this.address}`,
      ...(this.opts.extraArgs ?? []),
    ];
    const env = { ...process.env, DNLB_ADMIN_TOKEN: this.opts.token ?? RELIABILITY_TOKEN, DNLB_HASH_SEED: this.opts.seed ?? RELIABILITY_SEED };
    const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    let pending = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${this.address} not ready in 30 s:\n${this.output.slice(-4000)}`)), 30_000);
      let ready = false;
      child.stdout?.on("data", (chunk: Buffer) => {
        const text = chunk.toString();
        this.output += text;
        if (ready) return;
        pending += text;
        for (const line of pending.split("\n")) {
          if (!line.includes('"msg":"ready"')) continue;
          try {
            const admin = (JSON.parse(line) as { admin?: string }).admin ?? "";
            ready = true;
            clearTimeout(timer);
            resolve(Number(admin.slice(admin.lastIndexOf(":") + 1)));
            return;
          } catch {
            // a partial line: wait for the rest
          }
        }
      });
      child.stderr?.on("data", (chunk: Buffer) => (this.output += chunk.toString()));
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`node ${this.address} exited (${child.exitCode ?? child.signalCode}) before ready:\n${this.output.slice(-4000)}`));
      });
    });
    this.adminPort = port;
  }

  /** kill -9, and wait until the process is gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill("SIGKILL");
    await this.exited;
  }

  /** SIGTERM, and wait for the exit (SIGKILL after 15 s). Idempotent. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.running) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  async destroy(): Promise<void> {
    await this.stop();
    await fsp.rm(this.stateDir, { recursive: true, force: true });
  }
}

// --- HTTP ---------------------------------------------------------------------------------

export interface RawAnswer {
  /** undefined: the server closed without an answer (acceptable for a truncated request). */
  readonly status: number | undefined;
  readonly head: string;
  readonly body: string;
  readonly ms: number;
  /** The socket error that ended the exchange, if any (e.g. ECONNRESET), or "timeout". */
  readonly error?: string;
}

/**
 * Sends `request` bytes as they are over a fresh connection and reads until the server closes it
 * (or `timeoutMs`). With `halfClose`, our side is ended after the bytes (a truncated request).
 */
export function rawRequest(
  host: string,
  port: number,
  request: Buffer,
  opts: { halfClose?: boolean; timeoutMs?: number; localAddress?: string } = {},
): Promise<RawAnswer> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }) });
    const chunks: Buffer[] = [];
    let settled = false;
    let ending: string | undefined;
    const finish = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) {
        reject(error);
        return;
      }
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const head = split >= 0 ? text.slice(0, split) : text;
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      resolve({ status: match ? Number(match[1]) : undefined, head, body: split >= 0 ? text.slice(split + 4) : "", ms: performance.now() - started, error: ending });
    };
    const timer = setTimeout(() => {
      ending = "timeout";
      finish();
    }, opts.timeoutMs ?? 5000);
    socket.on("connect", () => {
      socket.write(request);
      if (opts.halfClose) socket.end();
    });
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    socket.on("close", () => finish());
    socket.on("error", (error: NodeJS.ErrnoException) => {
      ending = error.code ?? error.message;
      // A reset after the answer was read still leaves the answer.
      if (chunks.length > 0 || error.code === "ECONNRESET" || error.code === "EPIPE") finish();
      else finish(error);
    });
  });
}

export interface JsonAnswer {
  readonly status: number;
  readonly body: string;
  readonly ms: number;
}

/** A well-formed JSON request (Connection: close), through rawRequest. */
export async function jsonRequest(base: string, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}, token = RELIABILITY_TOKEN): Promise<JsonAnswer> {
  const url = new URL(base);
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body));
  const lines = [`${method} ${urlPath} HTTP/1.1`, `Host: ${url.host}`, "Connection: close", `Authorization: Bearer ${token}`];
  if (body !== undefined) lines.push("Content-Type: application/json", `Content-Length: ${payload.length}`);
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  const answer = await rawRequest(url.hostname, Number(url.port), Buffer.concat([Buffer.from(lines.join("\r\n") + "\r\n\r\n"), payload]));
  if (answer.status === undefined) throw new Error(`${method} ${urlPath}: no answer`);
  return { status: answer.status, body: answer.body, ms: answer.ms };
}

// --- /proc --------------------------------------------------------------------------------

export interface ProcFigures {
  /** Resident set now, KiB. */
  readonly rssKiB: number;
  /** Peak resident set (VmHWM), KiB. */
  readonly peakRssKiB: number;
  /** Open file descriptors now. */
  readonly fds: number;
}

function oneProcess(pid: number): ProcFigures {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? NaN);
  return { rssKiB: kib("VmRSS"), peakRssKiB: kib("VmHWM"), fds: readdirSync(`/proc/${pid}/fd`).length };
}

/** `pid` and its descendants (a node with `--workers` runs its data plane in child processes). */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(name));
      parents.set(ppid, list);
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]) ?? []));
  return tree;
}

/**
 * Figures of `pid` and its descendants, summed: descriptors, resident memory, and the sum of each
 * process's own peak (an upper bound of the tree's peak). `processes` says how many were counted.
 */
export function procFigures(pid: number): ProcFigures & { processes: number; maxFdsOneProcess: number } {
  let rssKiB = 0;
  let peakRssKiB = 0;
  let fds = 0;
  let processes = 0;
  let maxFdsOneProcess = 0;
  for (const p of processTree(pid)) {
    try {
      const f = oneProcess(p);
      rssKiB += f.rssKiB;
      peakRssKiB += f.peakRssKiB;
      fds += f.fds;
      maxFdsOneProcess = Math.max(maxFdsOneProcess, f.fds);
      processes++;
    } catch {
      // exited meanwhile
    }
  }
  if (processes === 0) throw new Error(`process ${pid} is gone`);
  return { rssKiB, peakRssKiB, fds, processes, maxFdsOneProcess };
}

/** Samples a process every `everyMs` and keeps the peaks. */
export class ProcSampler {
  peakFds = 0;
  /** The most descriptors any one process of the tree held (against the per-process limit). */
  peakFdsOneProcess = 0;
  peakRssKiB = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    everyMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  sample(): ProcFigures | undefined {
    try {
      const f = procFigures(this.pid);
      this.peakFds = Math.max(this.peakFds, f.fds);
      this.peakFdsOneProcess = Math.max(this.peakFdsOneProcess, f.maxFdsOneProcess);
      this.peakRssKiB = Math.max(this.peakRssKiB, f.rssKiB, f.peakRssKiB);
      return f;
    } catch {
      return undefined; // the process is gone
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

// --- small things -------------------------------------------------------------------------

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(everyMs);
  }
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** A deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A TCP server in a child process (so its sockets do not count against this process's fd limit). */
export class ChildServer {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  /** mode "echo": echoes; "silent": accepts and never answers. */
  static async start(host: string, mode: "echo" | "silent"): Promise<ChildServer> {
    const script = `
      const net = require("node:net");
      const server = net.createServer({ allowHalfOpen: false }, (s) => {
        s.on("error", () => {});
        if (${JSON.stringify(mode)} === "echo") s.pipe(s); else s.resume();
      });
      server.maxConnections = 30000;
      server.listen({ host: ${JSON.stringify(host)}, port: 0, backlog: 4096 }, () => process.stdout.write(server.address().port + "\\n"));
      process.on("disconnect", () => process.exit(0));
      setTimeout(() => process.exit(0), 600000).unref();
    `;
    const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "inherit", "ipc"] });
    const port = await new Promise<number>((resolve, reject) => {
      child.stdout?.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
      child.once("exit", (code) => reject(new Error(`child server exited ${code}`)));
    });
    return new ChildServer(child, port);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGKILL");
    await exited;
  }
}
