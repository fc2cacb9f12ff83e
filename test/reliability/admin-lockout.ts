/**
 * Slow clients against the admin API: `connections` sockets that send `GET / HTTP/1.1\r\n` and
 * never finish the headers, each opened again as soon as the node closes it (on a 408, or to make
 * room), from `floodSources`. Meanwhile `/healthz` and an authenticated `GET /v1/status` are sent
 * every 200 ms from `probeSources` (which may include a flooding address: a provider may share its
 * address with the attacker) and must be answered within 1 s; one more slow connection, from
 * `timedSource`, times the node's 408.
 */
import { fork, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import type { FloodCounts } from "./slow-flood";
import { CliNode, delay, percentile, rawRequest, RELIABILITY_TOKEN } from "./support";

export interface LockoutOptions {
  readonly connections: number;
  readonly floodSources: readonly string[];
  readonly probeSources: readonly string[];
  /** How long the probes run once the flood is open. */
  readonly durationMs: number;
  /** Times the 408 of one slow connection from here (not a flooding address: the flood would evict it). */
  readonly timedSource?: string;
}

export interface LockoutFigures {
  readonly scenario: string;
  readonly figures: Record<string, string | number>;
  readonly violations: string[];
}

/** The documented bounds (docs/admin-api.md): headers within 15 s, checked every second. */
const HEADERS_TIMEOUT_MS = { min: 15_000, max: 16_500 };
const ANSWER_WITHIN_MS = 1_000;

/** The flood, in its own process (slow-flood.ts), so that its churn does not delay the probes' event loop. */
class SlowFlood {
  private readonly child: ChildProcess;
  private readonly counts: Promise<FloodCounts>;
  latest: FloodCounts = { opened: 0, closedWith408: 0, closedSilently: 0 };

  constructor(host: string, port: number, count: number, sources: readonly string[]) {
    this.child = fork(path.join(__dirname, "slow-flood.js"), [JSON.stringify({ host, port, count, sources })], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.counts = new Promise((resolve, reject) => {
      this.child.on("message", (message: FloodCounts & { final?: boolean }) => {
        this.latest = message;
        if (message.final === true) resolve(message);
      });
      this.child.once("exit", (code) => reject(new Error(`the slow-client flood exited (${code}) before reporting`)));
    });
    this.counts.catch(() => undefined);
  }

  /** Closes every flood connection and returns the final counts. */
  async stop(): Promise<FloodCounts> {
    this.child.send("stop");
    try {
      return await this.counts;
    } finally {
      if (this.child.exitCode === null) await new Promise((resolve) => this.child.once("exit", resolve));
    }
  }
}

/** One slow connection: resolves with when (ms after connecting) and how the node ended it. */
function timedSlowConnection(host: string, port: number, localAddress: string): Promise<{ ms: number; status: string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress });
    let connectedAt = performance.now();
    let head = "";
    socket.on("connect", () => {
      connectedAt = performance.now();
      socket.write("GET / HTTP/1.1\r\n");
    });
    socket.on("data", (chunk: Buffer) => (head += chunk.toString("latin1")));
    socket.on("error", () => undefined);
    socket.on("close", () => resolve({ ms: performance.now() - connectedAt, status: /^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? "closed without an answer" }));
  });
}

async function probe(node: CliNode, path: string, localAddress: string, token: boolean): Promise<{ status: number | undefined; ms: number; error?: string }> {
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${node.address}`, "Connection: close", ...(token ? [`Authorization: Bearer ${RELIABILITY_TOKEN}`] : [])];
  const answer = await rawRequest(node.address, node.adminPort, Buffer.from(`${lines.join("\r\n")}\r\n\r\n`), { localAddress, timeoutMs: 5_000 }).catch(
    (error: Error) => ({ status: undefined, ms: 5_000, error: error.message }),
  );
  return { status: answer.status, ms: answer.ms, error: answer.error };
}

export async function adminLockout(node: CliNode, scenario: string, opts: LockoutOptions): Promise<LockoutFigures> {
  const violations: string[] = [];
  const timed = opts.timedSource === undefined ? undefined : timedSlowConnection(node.address, node.adminPort, opts.timedSource);
  const flood = new SlowFlood(node.address, node.adminPort, opts.connections, opts.floodSources);
  const latencies: number[] = [];
  let probes = 0;
  let answeredInTime = 0;
  let counts: FloodCounts;
  try {
    // Let every flood connection reach the node first (each is opened again when the node closes it).
    const openBy = Date.now() + 10_000;
    while (flood.latest.opened < opts.connections && Date.now() < openBy) await delay(50);
    const until = Date.now() + opts.durationMs;
    for (let i = 0; Date.now() < until; i++) {
      const source = opts.probeSources[i % opts.probeSources.length];
      for (const [path, token, expected] of [["/healthz", false, 200], ["/v1/status", true, 200]] as const) {
        const answer = await probe(node, path, source, token);
        probes++;
        latencies.push(answer.ms);
        if (answer.status === expected && answer.ms <= ANSWER_WITHIN_MS) answeredInTime++;
        else {
          violations.push(`GET ${path} from ${source}: ${answer.status ?? answer.error ?? "no answer"} after ${answer.ms.toFixed(0)} ms (expected ${expected} within ${ANSWER_WITHIN_MS} ms)`);
        }
      }
      await delay(200);
    }
  } finally {
    counts = await flood.stop();
  }
  const figures: Record<string, string | number> = {
    slowConnections: opts.connections,
    floodSources: opts.floodSources.length,
    probes,
    answeredWithin1s: answeredInTime,
    probeP50Ms: Math.round(percentile(latencies, 50)),
    probeMaxMs: Math.round(Math.max(...latencies)),
    floodConnectionsOpened: counts.opened,
    floodClosedWith408: counts.closedWith408,
    floodClosedToMakeRoom: counts.closedSilently,
  };
  if (timed !== undefined) {
    const ended = await timed;
    figures.slowConnectionEndedAfterMs = Math.round(ended.ms);
    figures.slowConnectionAnswer = ended.status;
    if (ended.status !== "408" || ended.ms < HEADERS_TIMEOUT_MS.min || ended.ms > HEADERS_TIMEOUT_MS.max) {
      violations.push(`a slow connection from ${opts.timedSource} ended with ${ended.status} after ${ended.ms.toFixed(0)} ms (expected 408 within ${HEADERS_TIMEOUT_MS.min}-${HEADERS_TIMEOUT_MS.max} ms)`);
    }
  }
  return { scenario, figures, violations };
}
