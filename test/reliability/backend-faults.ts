/**
 * Backend faults, against a ForwarderRuntime in this process with health-check times scaled down
 * (`healthTimeScale`: timeout 2 s and interval 5 s run as 100 ms and 250 ms at scale 0.05).
 *
 * A two-member group: `good` (127.0.10.31) and one faulty member, a different fault per scenario:
 * - flapping faster than the thresholds (a controller toggles the member's port after every probe,
 *   so it never fails or succeeds `threshold` times in a row): its health must not change;
 * - accepts but never answers: a TCP check passes (it only sees the handshake), the client's
 *   connection is closed at idleTimeoutSeconds;
 * - resets every connection right after accepting: seen as a failed connect (L4CON) by probes
 *   and by the forwarder alike, so clients go to the next member and it turns Unhealthy;
 * - refuses (nothing listens: RST to the SYN): Unhealthy within the failure window; meanwhile a
 *   client hashed to it is sent to the next member (connect failed before any byte);
 * - blackholes SYNs (an iptables DROP rule on 127.0.10.33, else a listener whose accept queue is
 *   full): L4TOUT probes, Unhealthy within the failure window; meanwhile a client hashed to it
 *   waits the connect timeout and then reaches the next member.
 */
import { execFileSync } from "node:child_process";
import * as net from "node:net";
import { closeServer, freePort, listen } from "../support/net";
import { delay, waitFor } from "../support/wait";
import type { BackendServiceStatus, MemberStatus } from "../../provider/forwarder/runtime/status";
import type { ForwarderRuntime } from "../../provider/forwarder/runtime/runtime";
import { TestBackend } from "../forwarder/helpers/backends";
import { ConfigBuilder } from "../forwarder/helpers/config";
import { startRuntime } from "../forwarder/helpers/runtime";

export const FORWARDER = "127.0.10.30";
const GOOD = "127.0.10.31";
const FAULTY = "127.0.10.32";
const BLACKHOLE = "127.0.10.33";
export const SCALE = 0.05;
const CONNECT_TIMEOUT_MS = 300;

export interface FaultFigures {
  readonly scenario: string;
  readonly figures: Record<string, string | number | boolean>;
  readonly violations: string[];
}

export class FaultBench {
  private constructor(
    readonly runtime: ForwarderRuntime,
    readonly good: TestBackend,
    readonly listenerPort: number,
  ) {}

  static async start(): Promise<FaultBench> {
    const { runtime } = startRuntime({
      dataPlane: { listenAddress: FORWARDER, connectTimeoutMs: CONNECT_TIMEOUT_MS, sweepIntervalMs: 100 },
      health: { timeScale: SCALE },
    });
    const good = await TestBackend.start({ host: GOOD, name: "good" });
    return new FaultBench(runtime, good, await freePort(FORWARDER));
  }

  /** Applies good + `faulty` (address:port) with thresholds 3/3 and the given idle timeout. */
  async apply(faulty: { address: string; port: number }, idleTimeoutSeconds = 900, thresholds = 3): Promise<void> {
    const builder = new ConfigBuilder()
      .healthCheck("hc", { timeoutSeconds: 2, intervalSeconds: 5, unhealthyThreshold: thresholds, healthyThreshold: thresholds })
      .virtualGroup("g", { members: [{ address: GOOD, port: this.good.port }, { address: faulty.address, port: faulty.port }] })
      .service("s", { port: this.good.port, serverGroup: "g", healthCheck: "hc", algorithm: "QuintupleHash", idleTimeoutSeconds })
      .listener("l", { port: this.listenerPort, backendService: "s" });
    const result = await this.runtime.apply(builder.build());
    if (result.listenerErrors.size > 0) throw new Error(`listener did not bind: ${[...result.listenerErrors.values()].join("; ")}`);
  }

  member(address: string): MemberStatus {
    const service = this.runtime.status().backendServices.find((s) => s.id === "s") as BackendServiceStatus;
    return service.members.find((m) => m.address === address) as MemberStatus;
  }

  async waitHealth(address: string, health: string, timeoutMs: number): Promise<number> {
    const started = Date.now();
    await waitFor(() => this.member(address).health === health, timeoutMs, `${address} ${health}`, 10);
    return Date.now() - started;
  }

  /**
   * `count` clients at once (each from its own source port, so QuintupleHash spreads them over
   * both members); each sends a line and reports what came back first, and after how long.
   */
  async clients(count: number, timeoutMs = 3000): Promise<{ outcome: string; ms: number }[]> {
    const results: { outcome: string; ms: number }[] = [];
    await Promise.all(
      Array.from({ length: count }, async () => {
        results.push(await oneClient(FORWARDER, this.listenerPort, timeoutMs));
      }),
    );
    return results;
  }

  async close(): Promise<void> {
    await this.runtime.close();
    await this.good.close();
  }
}

/** Connects, sends "ping\n", reports the first line ("good" / "echo:...") or how it ended. */
function oneClient(host: string, port: number, timeoutMs: number): Promise<{ outcome: string; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let text = "";
    let done = false;
    const finish = (outcome: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, ms: performance.now() - started });
    };
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    socket.on("connect", () => socket.write("ping\n"));
    socket.on("data", (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf("\n");
      if (nl >= 0) finish(text.slice(0, nl));
    });
    socket.on("error", (e: NodeJS.ErrnoException) => finish(e.code ?? "error"));
    socket.on("end", () => finish(text === "" ? "EOF" : `EOF after ${JSON.stringify(text)}`));
  });
}

function tally(outcomes: readonly { outcome: string }[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) t[o.outcome] = (t[o.outcome] ?? 0) + 1;
  return t;
}

/** A TCP server with a custom connection handler, on `host` and an ephemeral port. */
async function server(host: string, onConnection: (s: net.Socket) => void, port = 0): Promise<net.Server> {
  const srv = net.createServer(onConnection);
  await listen(srv, host, port);
  return srv;
}

// --- scenarios ------------------------------------------------------------------------------

/**
 * The member's port answers or refuses by a pattern, switched right after each probe is seen:
 * from Healthy, `down, down, up` repeated (never 3 failures in a row); from Unhealthy,
 * `up, up, down` (never 3 successes in a row). `probes` probes per direction.
 */
export async function flapping(bench: FaultBench, probes: number): Promise<FaultFigures> {
  const violations: string[] = [];
  const port = await freePort(FAULTY);
  let srv: net.Server | undefined = await server(FAULTY, (s) => s.destroy(), port);
  const setUp = async (up: boolean) => {
    if (up && srv === undefined) srv = await server(FAULTY, (s) => s.destroy(), port);
    if (!up && srv !== undefined) {
      const old = srv;
      srv = undefined;
      await closeServer(old);
    }
  };
  await bench.apply({ address: FAULTY, port });
  await bench.waitHealth(FAULTY, "Healthy", 5000);
  const run = async (pattern: boolean[], expected: string): Promise<{ seen: number; failures: number; successes: number; changed: number }> => {
    let seen = 0;
    let failures = 0;
    let successes = 0;
    let changed = 0;
    let lastAt = bench.member(FAULTY).lastProbe?.at;
    await setUp(pattern[0]);
    const deadline = Date.now() + probes * 1000 + 5000;
    while (seen < probes && Date.now() < deadline) {
      await delay(5);
      const m = bench.member(FAULTY);
      if (m.health !== expected) changed++;
      if (m.lastProbe === undefined || m.lastProbe.at === lastAt) continue;
      lastAt = m.lastProbe.at;
      if (m.lastProbe.code === "L4OK") successes++;
      else failures++;
      seen++;
      await setUp(pattern[seen % pattern.length]);
    }
    return { seen, failures, successes, changed };
  };
  const healthy = await run([false, false, true], "Healthy");
  if (healthy.changed > 0) violations.push(`a Healthy member flapping down,down,up changed health in ${healthy.changed} samples`);
  if (healthy.failures < probes / 2) violations.push(`only ${healthy.failures} failed probes of ${healthy.seen}: the flapping did not happen`);
  // Now make it Unhealthy for good, then flap up,up,down.
  await setUp(false);
  await bench.waitHealth(FAULTY, "Unhealthy", 5000);
  const unhealthy = await run([true, true, false], "Unhealthy");
  if (unhealthy.changed > 0) violations.push(`an Unhealthy member flapping up,up,down changed health in ${unhealthy.changed} samples`);
  if (unhealthy.successes < probes / 2) violations.push(`only ${unhealthy.successes} successful probes of ${unhealthy.seen}`);
  await setUp(false);
  return {
    scenario: "flapping member (thresholds 3/3)",
    figures: {
      probesWhileHealthy: healthy.seen,
      failedProbesWhileHealthy: healthy.failures,
      probesWhileUnhealthy: unhealthy.seen,
      successfulProbesWhileUnhealthy: unhealthy.successes,
      healthChanges: healthy.changed + unhealthy.changed,
    },
    violations,
  };
}

/** Accepts, reads, never answers. */
export async function silent(bench: FaultBench, clients: number): Promise<FaultFigures> {
  const violations: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = await server(FAULTY, (s) => {
    sockets.add(s);
    s.on("error", () => undefined);
    s.on("close", () => sockets.delete(s));
    s.resume();
  });
  const port = (srv.address() as net.AddressInfo).port;
  try {
    await bench.apply({ address: FAULTY, port }, 1);
    await bench.waitHealth(FAULTY, "Healthy", 5000);
    const outcomes = await bench.clients(clients, 4000);
    const stuck = outcomes.filter((o) => o.outcome !== "good");
    const health = bench.member(FAULTY).health;
    if (health !== "Healthy") violations.push(`a TCP check cannot see a member that never answers, yet it is ${health}`);
    if (stuck.length === 0) violations.push("no client reached the silent member");
    for (const o of stuck) {
      // Closed by the idle timeout (1 s; swept every 100 ms): between 1.0 and ~1.5 s.
      if (!(o.outcome === "EOF" || o.outcome === "ECONNRESET") || o.ms < 950 || o.ms > 2000) violations.push(`a client on the silent member ended ${o.outcome} after ${o.ms.toFixed(0)} ms (idle timeout 1 s)`);
    }
    const times = stuck.map((o) => o.ms);
    return {
      scenario: "member accepts but never answers (idleTimeoutSeconds 1)",
      figures: {
        health,
        clients,
        onSilentMember: stuck.length,
        closedAfterMsMin: Math.round(Math.min(...times)),
        closedAfterMsMax: Math.round(Math.max(...times)),
        outcomes: JSON.stringify(tally(outcomes)),
      },
      violations,
    };
  } finally {
    for (const s of sockets) s.destroy();
    await closeServer(srv);
  }
}

/**
 * Accepts and resets at once (SO_LINGER 0). On loopback the RST arrives before the connect
 * completes in user space, so both the probe and the forwarder see `connect ECONNRESET`: probes
 * fail (L4CON) and clients are sent to the next member. The member is made Healthy first (a
 * normal server on the port), then switched to resetting, so that clients are hashed to it.
 */
export async function resetting(bench: FaultBench, clients: number): Promise<FaultFigures> {
  const violations: string[] = [];
  const port = await freePort(FAULTY);
  let srv = await server(FAULTY, (s) => s.destroy(), port);
  try {
    await bench.apply({ address: FAULTY, port });
    await bench.waitHealth(FAULTY, "Healthy", 5000);
    await closeServer(srv);
    srv = await server(
      FAULTY,
      (s) => {
        s.on("error", () => undefined);
        s.resetAndDestroy();
      },
      port,
    );
    const switched = Date.now();
    // A reset that reaches the forwarder before it sees its connect complete is a failed connect:
    // the client goes to the next member. One that comes after (the member's kernel completed the
    // handshake, then the program reset it) ends an established connection, and the client gets
    // the reset, as from any L4 proxy: its bytes may have reached the member, so they are not
    // replayed elsewhere. Which of the two happens is a race; neither may hang or answer wrongly.
    const during = await bench.clients(clients, 3000);
    const reset = during.filter((o) => o.outcome === "ECONNRESET");
    const wrong = during.filter((o) => o.outcome !== "good" && o.outcome !== "ECONNRESET");
    if (wrong.length > 0) violations.push(`${wrong.length} of ${clients} clients neither served nor reset while the member reset: ${JSON.stringify(tally(wrong))}`);
    const slowest = Math.max(...during.map((o) => o.ms));
    await bench.waitHealth(FAULTY, "Unhealthy", 5000);
    const toUnhealthyMs = Date.now() - switched;
    const code = bench.member(FAULTY).lastProbe?.code;
    if (code !== "L4CON") violations.push(`the last probe says ${code}, expected L4CON`);
    if (toUnhealthyMs > 16_000 * SCALE + 5_000 * SCALE + 500) violations.push(`Unhealthy only after ${toUnhealthyMs} ms`);
    const after = await bench.clients(clients, 3000);
    const failedAfter = after.filter((o) => o.outcome !== "good");
    if (failedAfter.length > 0) violations.push(`${failedAfter.length} of ${clients} clients failed once the member was Unhealthy: ${JSON.stringify(tally(failedAfter))}`);
    return {
      scenario: "member resets every connection right after accepting",
      figures: {
        clientsWhileResetting: clients,
        clientsReset: reset.length,
        slowestClientMs: Math.round(slowest),
        toUnhealthyMs,
        lastProbe: String(code),
        clientErrorsOnceUnhealthy: failedAfter.length,
      },
      violations,
    };
  } finally {
    await closeServer(srv);
  }
}

/** Nothing listens: the SYN is answered by a RST. */
export async function refusing(bench: FaultBench, clients: number): Promise<FaultFigures> {
  const violations: string[] = [];
  const port = await freePort(FAULTY);
  await bench.apply({ address: FAULTY, port });
  // Right after the apply the member is Initial and takes no traffic; the clients below land on
  // good. To test the retry, first make it Healthy, then stop it.
  const srv = await server(FAULTY, (s) => s.destroy(), port);
  await bench.waitHealth(FAULTY, "Healthy", 5000);
  await closeServer(srv);
  const stopped = Date.now();
  const during = await bench.clients(clients, 3000);
  const failed = during.filter((o) => o.outcome !== "good");
  if (failed.length > 0) violations.push(`${failed.length} of ${clients} clients failed while the member refused: ${JSON.stringify(tally(failed))}`);
  await bench.waitHealth(FAULTY, "Unhealthy", 5000);
  const toUnhealthyMs = Date.now() - stopped;
  // failure window = 2*3 + 5*2 = 16 s, scaled: 800 ms (+ one interval of 250 ms until the first probe).
  if (toUnhealthyMs > 16_000 * SCALE + 5_000 * SCALE + 500) violations.push(`Unhealthy only after ${toUnhealthyMs} ms`);
  return {
    scenario: "member refuses (nothing listens)",
    figures: { clientsWhileRefusing: clients, clientErrors: failed.length, toUnhealthyMs, failureWindowMsScaled: 16_000 * SCALE },
    violations,
  };
}

/** Whether iptables can drop SYNs to a loopback address here (root, netfilter available). */
export function iptablesWorks(): boolean {
  try {
    execFileSync("iptables", ["-S", "INPUT"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

function iptablesRule(action: "-I" | "-D", port: number): void {
  execFileSync("iptables", [action, "INPUT", "-d", BLACKHOLE, "-p", "tcp", "--dport", String(port), "--syn", "-m", "comment", "--comment", "dnlb-reliability", "-j", "DROP"], {
    stdio: "ignore",
  });
}

/** SYNs to the member are dropped (iptables): probes time out; clients wait the connect timeout, then go on. */
export async function blackholed(bench: FaultBench, clients: number): Promise<FaultFigures> {
  const violations: string[] = [];
  const srv = await server(BLACKHOLE, (s) => s.destroy());
  const port = (srv.address() as net.AddressInfo).port;
  let ruleAdded = false;
  try {
    await bench.apply({ address: BLACKHOLE, port });
    await bench.waitHealth(BLACKHOLE, "Healthy", 5000);
    iptablesRule("-I", port);
    ruleAdded = true;
    const dropped = Date.now();
    const during = await bench.clients(clients, 3000);
    const failed = during.filter((o) => o.outcome !== "good");
    const slow = during.filter((o) => o.ms >= CONNECT_TIMEOUT_MS * 0.9);
    if (failed.length > 0) violations.push(`${failed.length} of ${clients} clients failed while SYNs were dropped: ${JSON.stringify(tally(failed))}`);
    if (slow.length === 0) violations.push("no client was hashed to the blackholed member (none waited the connect timeout)");
    await bench.waitHealth(BLACKHOLE, "Unhealthy", 5000);
    const toUnhealthyMs = Date.now() - dropped;
    const code = bench.member(BLACKHOLE).lastProbe?.code;
    if (code !== "L4TOUT") violations.push(`the last probe says ${code}, expected L4TOUT`);
    if (toUnhealthyMs > 16_000 * SCALE + 5_000 * SCALE + 500) violations.push(`Unhealthy only after ${toUnhealthyMs} ms`);
    const after = await bench.clients(clients, 3000);
    const slowAfter = after.filter((o) => o.ms >= CONNECT_TIMEOUT_MS * 0.9).length;
    if (slowAfter > 0) violations.push(`${slowAfter} clients still waited for the blackholed member after it was Unhealthy`);
    return {
      scenario: "member blackholes SYNs (iptables DROP)",
      figures: {
        clients,
        clientErrors: failed.length,
        clientsDelayedByConnectTimeout: slow.length,
        slowestClientMs: Math.round(Math.max(...during.map((o) => o.ms))),
        toUnhealthyMs,
        lastProbe: String(code),
        delayedAfterUnhealthy: slowAfter,
      },
      violations,
    };
  } finally {
    if (ruleAdded) iptablesRule("-D", port);
    await closeServer(srv);
  }
}
