/**
 * Benchmark of the forwarder's data plane against HAProxy (TCP mode, no splicing) and a direct
 * connection, side by side in one run on loopback (issue 4):
 *   - bulk throughput: iperf3, 1 and 4 streams;
 *   - new connections per second and p50/p99 latency: wrk with `Connection: close` through the
 *     proxy to a tiny nginx;
 *   - keep-alive requests per second and p99: wrk;
 *   - redis-benchmark SET+GET ops/s, plain and pipelined (-P 16);
 *   - the proxy's CPU time per connection, per request and per GB, from /proc (utime + stime,
 *     workers included), so that a load generator that saturates first does not hide the cost;
 *   - the proxy's RSS holding thousands of idle connections.
 * A UDP part (bench/forwarder/udp.ts) compares the forwarder with nginx stream (`listen ... udp`,
 * one worker) and a direct path: dnsperf queries/s and p99 against one NSD server, iperf3 -u
 * throughput at a fixed datagram size, and the proxy's CPU per datagram.
 * Two configurations: one core (proxy pinned on CPU 0, load and backends on CPU 1; HAProxy
 * `nbthread 1` vs one forwarder worker) and all cores (nothing pinned; `nbthread N` vs
 * `--workers N`). Every figure is measured `--repeat` times (targets in rotating order) and
 * printed as median (min-max) with ratios of medians.
 *
 * Run: npm run bench:forwarder [-- --quick] [-- --udp-only] (options: --help). Prints Markdown
 * tables (docs/BENCHMARKS.md, section Forwarder). Needs the tools in TOOLS for the parts it runs. Every process it starts is stopped when it ends, when
 * it is interrupted, and when the run's deadline passes.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { delay } from "../../test/support/wait";
import { BACKEND_HOST, PORTS, startBackends, type Backends } from "./backends";
import { emptySamples, record, resultTable, scalingTable, TARGETS, UDP_FIGURES, type Samples, type Target } from "./figures";
import { runDnsperf, runIperf, runRedis, runWrk, type LoadSettings } from "./load";
import { cpuSeconds, openFilesLimit, Processes, rssBytes, type Started } from "./processes";
import { ContainerForwarders } from "./container";
import {
  CONTAINER_FORWARDER_HOST,
  FORWARDER_HOST,
  forwarderSupportsWorkers,
  hostForwarder,
  PROXY_MAXCONN,
  startForwarder,
  startHaproxy,
  type ForwarderLauncher,
  type Proxy,
} from "./proxies";
import {
  DATAGRAM_BYTES,
  measureUdp,
  NGINX_STREAM_MODULE,
  startNginxStream,
  startUdpBackends,
  UDP_PORTS,
  UDP_SERVICES,
  waitForDns,
  type UdpBackends,
} from "./udp";

type Part = "tcp" | "udp";
const PARTS: readonly Part[] = ["tcp", "udp"];
const TOOLS: Record<Part, readonly string[]> = {
  tcp: ["haproxy", "nginx", "wrk", "iperf3", "redis-server", "redis-benchmark", "redis-cli", "taskset"],
  udp: ["nginx", "nsd", "dnsperf", "iperf3", "taskset"],
};
const INSTALL = "apt-get install haproxy nginx libnginx-mod-stream nsd dnsperf wrk iperf3 redis-server redis-tools util-linux";
const IDLE_SOURCES = ["127.0.12.1", "127.0.12.2", "127.0.12.3", "127.0.12.4"];
const PAUSE_MS = 300;

type ConfigName = "one-core" | "all-cores";
type ForwarderTarget = "forwarder" | "container";
const FORWARDER_TARGETS: readonly ForwarderTarget[] = ["forwarder", "container"];
const FORWARDER_HOSTS: Record<ForwarderTarget, string> = { forwarder: FORWARDER_HOST, container: CONTAINER_FORWARDER_HOST };

interface Options {
  readonly quick: boolean;
  readonly repeat: number;
  readonly seconds: number;
  readonly configs: readonly ConfigName[];
  readonly parts: readonly Part[];
  readonly targets: readonly Target[];
  readonly idle: number;
  readonly redisRequests: number;
  readonly json: string | undefined;
  /** Extra node options for the forwarder (e.g. --cpu-prof), split on spaces. */
  readonly forwarderNodeArgs: readonly string[];
  /** Extra forwarder options (e.g. --engine streams), split on spaces. */
  readonly forwarderArgs: readonly string[];
  readonly deadlineSeconds: number;
  /** The image of the `container` target: "build" (built here, without a registry) or a given one. */
  readonly container: "build" | { readonly image: string } | undefined;
}

const HELP = `usage: node dist/bench/forwarder/index.js [options]

  --quick                 one repeat, 2 s runs, 2000 idle connections (about 2 minutes;
                          about 1 minute with --udp-only)
  --parts LIST            tcp,udp (default both)
  --udp-only              the same as --parts udp
  --repeat N              repeats of every figure (default 3)
  --seconds S             duration of each wrk and iperf3 run (default 3)
  --configs LIST          one-core,all-cores (default both)
  --targets LIST          direct,haproxy,nginx,forwarder,container (default all but container,
                          which --container adds; HAProxy is the TCP part's peer, nginx
                          stream the UDP part's)
  --idle N                idle connections for the memory figure (default 10000, capped by
                          the open-files limit: a proxied connection holds two descriptors)
  --json FILE             also write every sample as JSON
  --forwarder-node-args S extra node options for the forwarder, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  --forwarder-args=S      extra forwarder options, e.g. "--forwarder-args=--engine streams"
                          (Node's sockets instead of the native relay); the = is needed for
                          a value that starts with a dash
  --deadline-seconds S    stop everything and exit after S seconds (default 900)
  --container             also measure the forwarder as the LoadBalancer component runs it, in the
                          same run: a container of the node image (host networking, the
                          component's container spec; target "container"), built here first
                          without a registry (needs a Docker engine; bash
                          bench/forwarder/in-container.sh starts one)
  --forwarder-image IMAGE the same with an image built elsewhere (e.g. from the public images)
`;

function parseOptions(argv: readonly string[]): Options | "help" {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: "boolean", default: false },
      repeat: { type: "string" },
      seconds: { type: "string" },
      configs: { type: "string", default: "one-core,all-cores" },
      parts: { type: "string", default: PARTS.join(",") },
      "udp-only": { type: "boolean", default: false },
      targets: { type: "string" },
      idle: { type: "string" },
      json: { type: "string" },
      "forwarder-node-args": { type: "string", default: "" },
      "forwarder-args": { type: "string", default: "" },
      "deadline-seconds": { type: "string", default: "900" },
      container: { type: "boolean", default: false },
      "forwarder-image": { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) return "help";
  const quick = values.quick ?? false;
  const int = (text: string | undefined, fallback: number, name: string, min: number): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got ${text})`);
    return n;
  };
  const configs = values.configs.split(",").filter((c) => c !== "");
  for (const c of configs) if (c !== "one-core" && c !== "all-cores") throw new Error(`--configs: unknown configuration ${c}`);
  const parts = values["udp-only"] ? ["udp"] : values.parts.split(",").filter((p) => p !== "");
  for (const p of parts) if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--parts: unknown part ${p} (allowed: ${PARTS.join(", ")})`);
  const inContainer = values.container || values["forwarder-image"] !== undefined;
  const targets = (values.targets ?? TARGETS.filter((t) => t !== "container" || inContainer).join(",")).split(",").filter((t) => t !== "");
  for (const t of targets) if (!(TARGETS as readonly string[]).includes(t)) throw new Error(`--targets: unknown target ${t}`);
  // A proxied idle connection holds two descriptors in the proxy; keep a margin for everything else.
  const idleCap = Math.min(PROXY_MAXCONN - 200, Math.floor((openFilesLimit() - 600) / 2));
  return {
    quick,
    repeat: int(values.repeat, quick ? 1 : 3, "repeat", 1),
    seconds: int(values.seconds, quick ? 2 : 3, "seconds", 1),
    configs: configs as ConfigName[],
    parts: PARTS.filter((p) => parts.includes(p)),
    targets: TARGETS.filter((t) => targets.includes(t)),
    idle: Math.min(int(values.idle, quick ? 2000 : 10_000, "idle", 1), idleCap),
    redisRequests: quick ? 10_000 : 30_000,
    json: values.json,
    forwarderNodeArgs: values["forwarder-node-args"].split(" ").filter((a) => a !== ""),
    forwarderArgs: values["forwarder-args"].split(" ").filter((a) => a !== ""),
    deadlineSeconds: int(values["deadline-seconds"], 900, "deadline-seconds", 10),
    container: !targets.includes("container") ? undefined : values["forwarder-image"] !== undefined ? { image: values["forwarder-image"] } : "build",
  };
}

interface Config {
  readonly name: ConfigName;
  readonly title: string;
  /** CPUs for the proxies; undefined: not pinned. */
  readonly proxyCpus: string | undefined;
  /** CPUs for load generators and backends. */
  readonly loadCpus: string | undefined;
  /** HAProxy threads and forwarder workers. */
  readonly threads: number;
}

function configOf(name: ConfigName, cores: number): Config {
  return name === "one-core"
    ? { name, title: "One core (proxy pinned on CPU 0; load and backends on CPU 1)", proxyCpus: "0", loadCpus: "1", threads: 1 }
    : { name, title: `All cores (${cores}; nothing pinned)`, proxyCpus: undefined, loadCpus: undefined, threads: cores };
}

interface Context {
  readonly opts: Options;
  readonly procs: Processes;
  readonly dir: string;
  readonly mainJs: string;
  /** How each forwarder target starts: a host process, and (with --container) a container. */
  readonly launchers: Partial<Record<ForwarderTarget, ForwarderLauncher>>;
  readonly holderJs: string;
  readonly workers: boolean;
  readonly log: (line: string) => void;
}

async function main(): Promise<void> {
  let opts: Options | "help";
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${HELP}`);
    process.exit(2);
  }
  if (opts === "help") {
    process.stdout.write(HELP);
    return;
  }
  const missing = [...new Set(opts.parts.flatMap((part) => TOOLS[part]))].filter((tool) => !onPath(tool));
  if (missing.length > 0) {
    process.stderr.write(`missing tools: ${missing.join(", ")} (${INSTALL})\n`);
    process.exit(2);
  }
  if (opts.parts.includes("udp") && !existsSync(NGINX_STREAM_MODULE)) {
    process.stderr.write(`nginx's stream module is missing: ${NGINX_STREAM_MODULE} (apt-get install libnginx-mod-stream)\n`);
    process.exit(2);
  }
  const cores = os.cpus().length;
  if (cores < 2) {
    process.stderr.write("the benchmark needs at least 2 CPUs (proxy on one, load and backends on the other)\n");
    process.exit(2);
  }

  const procs = new Processes();
  const dir = mkdtempSync(join(os.tmpdir(), "dnlb-bench-forwarder-"));
  const containers = opts.container === undefined ? undefined : new ContainerForwarders();
  const cleanup = async (): Promise<void> => {
    await procs.stopAll();
    await containers?.close();
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", () => procs.killAllNow());
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      process.stderr.write(`\n${sig}: stopping every process started\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  const deadline = setTimeout(() => {
    process.stderr.write(`\ndeadline of ${opts.deadlineSeconds} s passed: stopping every process started\n`);
    void cleanup().finally(() => process.exit(1));
  }, opts.deadlineSeconds * 1000);
  deadline.unref();

  const mainJs = resolve(__dirname, "../../provider/forwarder/main.js");
  const started = Date.now();
  const results = new Map<ConfigName, Samples>();
  const udpResults = new Map<ConfigName, Samples>();
  let backends: Backends | undefined;
  let udpBackends: UdpBackends | undefined;
  try {
    const log = (line: string): void => void process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
    const launchers: Partial<Record<ForwarderTarget, ForwarderLauncher>> = { forwarder: hostForwarder(mainJs, opts.forwarderNodeArgs) };
    if (containers !== undefined && opts.container !== undefined) {
      let image: string;
      if (opts.container === "build") {
        const built = await containers.buildImage(log);
        console.log(
          `Forwarder in a container of an image built here (${(built.imageBytes / 1e6).toFixed(0)} MB): builder and base images made in ${built.helperSeconds.toFixed(1)} s, forwarder image built in ${built.imageSeconds.toFixed(1)} s`,
        );
        image = built.image;
      } else {
        image = opts.container.image;
        console.log(`Forwarder in a container of ${image}`);
      }
      launchers.container = containers.launcher(image);
    }
    const ctx: Context = {
      opts,
      procs,
      dir,
      mainJs,
      launchers,
      holderJs: join(__dirname, "idle-holder.js"),
      workers: await forwarderSupportsWorkers(procs, mainJs),
      log,
    };
    printHeader(ctx, cores);
    for (const name of opts.configs) {
      const config = configOf(name, cores);
      console.log(`\n### ${config.title}\n`);
      if (opts.parts.includes("tcp")) {
        if (backends === undefined) backends = await startBackends(procs, dir, config.loadCpus);
        else pin([backends.nginx, backends.redis, backends.iperf], config.loadCpus, cores);
        const { samples, names } = await runConfig(ctx, config);
        results.set(name, samples);
        console.log(resultTable(samples, names));
      }
      if (opts.parts.includes("udp")) {
        if (udpBackends === undefined) udpBackends = await startUdpBackends(procs, dir, config.loadCpus);
        else pin([udpBackends.nsd, udpBackends.iperf], config.loadCpus, cores);
        const { samples, names } = await runUdpConfig(ctx, config, udpBackends);
        udpResults.set(name, samples);
        console.log(`\nUDP (${DATAGRAM_BYTES}-byte datagrams for iperf3 -u):\n`);
        console.log(resultTable(samples, names, "nginx", UDP_FIGURES));
      }
    }
    const one = results.get("one-core");
    const all = results.get("all-cores");
    if (one !== undefined && all !== undefined) {
      console.log(`\n### Scaling: all cores over one core\n`);
      console.log(scalingTable(one, all));
    }
    if (opts.json !== undefined) writeFileSync(opts.json, JSON.stringify({ options: opts, results: Object.fromEntries(results), udp: Object.fromEntries(udpResults) }, null, 2));
    console.log(`\nWall time: ${Math.round((Date.now() - started) / 1000)} s.`);
  } finally {
    await cleanup();
  }
}

function printHeader(ctx: Context, cores: number): void {
  const haproxyVersion = firstLine(() => execFileSync("haproxy", ["-v"], { encoding: "utf8" }));
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  console.log(`Node ${process.version}, ${haproxyVersion}, nginx, wrk, iperf3, redis ${firstLine(() => execFileSync("redis-server", ["--version"], { encoding: "utf8" })).split(" ")[2] ?? ""}`);
  console.log(`${cores} x ${cpu}; load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  console.log(
    `repeats ${ctx.opts.repeat}, runs of ${ctx.opts.seconds} s, ${ctx.opts.idle} idle connections; forwarder workers: ${ctx.workers ? "yes" : "no (--workers not supported by this build)"}`,
  );
}

function firstLine(read: () => string): string {
  try {
    return read().split("\n")[0].trim();
  } catch {
    return "unknown";
  }
}

function onPath(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Moves the backends (every thread) to `cpus`, or to every CPU. */
function pin(backends: readonly Started[], cpus: string | undefined, cores: number): void {
  const list = cpus ?? `0-${cores - 1}`;
  for (const p of backends) {
    execFileSync("taskset", ["-a", "-p", "-c", list, String(p.pid)], { stdio: "ignore" });
  }
}

function targetNames(ctx: Context, config: Config): Record<Target, string> {
  const workers = ctx.workers ? config.threads : undefined;
  const forwarder = [workers === undefined ? "forwarder (1 process)" : `forwarder --workers ${workers}`, ...ctx.opts.forwarderArgs].join(" ");
  return {
    direct: "direct",
    haproxy: `HAProxy nbthread ${config.threads}`,
    nginx: `nginx stream, ${config.threads} worker${config.threads === 1 ? "" : "s"}`,
    forwarder,
    container: `${forwarder} (container)`,
  };
}

/** `targets` in a different order each repeat, so that no target always runs first (or last). */
function rotated(targets: readonly Target[], rep: number): Target[] {
  return targets.map((_, i) => targets[(i + rep) % targets.length]);
}

/** Runs one measurement; a failure is logged and leaves its figures missing. */
async function step(ctx: Context, what: string, run: () => Promise<void>): Promise<void> {
  try {
    await run();
  } catch (error) {
    ctx.log(`  ${what} failed: ${(error as Error).message.slice(0, 500)}`);
  }
  await delay(PAUSE_MS);
}

function loadSettings(ctx: Context, config: Config): LoadSettings {
  return { cpus: config.loadCpus, seconds: ctx.opts.seconds, wrkThreads: config.loadCpus === undefined ? 2 : 1, wrkConnections: 32 };
}

async function runConfig(ctx: Context, config: Config): Promise<{ samples: Samples; names: Record<Target, string> }> {
  const { opts, procs, dir } = ctx;
  const samples = emptySamples();
  const workers = ctx.workers ? config.threads : undefined;
  const names = targetNames(ctx, config);
  const targets = opts.targets.filter((t) => t !== "nginx");
  const proxies = new Map<Target, Proxy>();
  try {
    if (opts.targets.includes("haproxy")) proxies.set("haproxy", await startHaproxy(procs, dir, config.threads, config.proxyCpus));
    for (const target of FORWARDER_TARGETS) {
      const launcher = ctx.launchers[target];
      if (!opts.targets.includes(target) || launcher === undefined) continue;
      proxies.set(target, await startForwarder(procs, dir, launcher, FORWARDER_HOSTS[target], workers, config.proxyCpus, opts.forwarderArgs));
    }
    const settings = loadSettings(ctx, config);
    const baselineRss = new Map([...proxies].map(([target, proxy]) => [target, rssBytes(proxy.process.pid)]));
    // Memory first, while the proxies have only just started: a garbage-collected heap that
    // load has grown would hide what the connections themselves cost.
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const [target, proxy] of proxies) {
        ctx.log(`${config.name}: ${opts.idle} idle connections through ${names[target]} (${rep + 1}/${opts.repeat})`);
        await idleMemory(ctx, samples, target, proxy, baselineRss.get(target) ?? NaN, config.loadCpus).catch((error: unknown) =>
          ctx.log(`  idle test failed: ${(error as Error).message}`),
        );
      }
    }
    for (const [target, proxy] of proxies) {
      ctx.log(`${config.name}: warming up ${names[target]}`);
      await runWrk(procs, proxy.host, { ...settings, seconds: 1 }, true).catch(() => undefined);
      await runWrk(procs, proxy.host, { ...settings, seconds: 1 }, false).catch(() => undefined);
    }
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const target of rotated(targets, rep)) {
        ctx.log(`${config.name}: repeat ${rep + 1}/${opts.repeat}, ${names[target]}`);
        const proxy = proxies.get(target);
        await measure(ctx, samples, target, proxy?.host ?? BACKEND_HOST, proxy?.process, settings);
      }
    }
  } finally {
    for (const proxy of proxies.values()) await procs.stop(proxy.process);
  }
  return { samples, names };
}

async function runUdpConfig(ctx: Context, config: Config, backends: UdpBackends): Promise<{ samples: Samples; names: Record<Target, string> }> {
  const { opts, procs, dir } = ctx;
  const samples = emptySamples();
  const workers = ctx.workers ? config.threads : undefined;
  const names = targetNames(ctx, config);
  const targets = opts.targets.filter((t) => t !== "haproxy");
  const settings = loadSettings(ctx, config);
  const logFile = join(dir, "dnsperf.log");
  const proxies = new Map<Target, Proxy>();
  try {
    if (targets.includes("nginx")) proxies.set("nginx", await startNginxStream(procs, dir, config.threads, config.proxyCpus));
    for (const target of FORWARDER_TARGETS) {
      const launcher = ctx.launchers[target];
      if (!targets.includes(target) || launcher === undefined) continue;
      const forwarder = await startForwarder(procs, dir, launcher, FORWARDER_HOSTS[target], workers, config.proxyCpus, opts.forwarderArgs, UDP_SERVICES);
      await waitForDns(forwarder.host, () => `the forwarder does not forward DNS: ${forwarder.process.output().slice(-2000)}`);
      proxies.set(target, forwarder);
    }
    for (const [target, proxy] of proxies) {
      ctx.log(`${config.name}: UDP warming up ${names[target]}`);
      await runDnsperf(procs, proxy.host, UDP_PORTS.dns, { ...settings, seconds: 1 }, backends.queryFile, logFile).catch(() => undefined);
    }
    for (let rep = 0; rep < opts.repeat; rep++) {
      for (const target of rotated(targets, rep)) {
        ctx.log(`${config.name}: UDP repeat ${rep + 1}/${opts.repeat}, ${names[target]}`);
        const proxy = proxies.get(target);
        await measureUdp(procs, samples, target, proxy?.host ?? BACKEND_HOST, proxy?.process, settings, backends, logFile, (what, run) => step(ctx, what, run));
      }
    }
  } finally {
    for (const proxy of proxies.values()) await procs.stop(proxy.process);
  }
  return { samples, names };
}

/** One repeat of every throughput and latency figure against `host`. */
async function measure(ctx: Context, samples: Samples, target: Target, host: string, proxy: Started | undefined, settings: LoadSettings): Promise<void> {
  const { procs, opts } = ctx;
  const cpu = (): number => (proxy === undefined ? NaN : cpuSeconds(proxy.pid));
  await step(ctx, "iperf3 -P 1", async () => {
    const r = await runIperf(procs, host, settings, 1);
    record(samples, target, "bulk1", r.gbitPerSecond);
  });
  await step(ctx, "iperf3 -P 4", async () => {
    const before = cpu();
    const r = await runIperf(procs, host, settings, 4);
    record(samples, target, "bulk4", r.gbitPerSecond);
    record(samples, target, "cpuPerGB", ((cpu() - before) * 1000) / (r.bytes / 1e9));
  });
  await step(ctx, "wrk Connection: close", async () => {
    const before = cpu();
    const r = await runWrk(procs, host, settings, true);
    const used = cpu() - before;
    warnErrors(ctx, "wrk Connection: close", r.errors, r.requests);
    record(samples, target, "connRate", r.requestsPerSecond);
    record(samples, target, "connP50", r.p50Ms);
    record(samples, target, "connP99", r.p99Ms);
    record(samples, target, "cpuPerConn", (used * 1e6) / r.requests);
  });
  await step(ctx, "wrk keep-alive", async () => {
    const before = cpu();
    const r = await runWrk(procs, host, settings, false);
    const used = cpu() - before;
    warnErrors(ctx, "wrk keep-alive", r.errors, r.requests);
    record(samples, target, "kaRate", r.requestsPerSecond);
    record(samples, target, "kaP99", r.p99Ms);
    record(samples, target, "cpuPerReq", (used * 1e6) / r.requests);
  });
  await step(ctx, "redis-benchmark", async () => {
    const r = await runRedis(procs, host, settings, opts.redisRequests, 1);
    record(samples, target, "redis", r.opsPerSecond);
    record(samples, target, "redisP99", r.p99Ms);
  });
  await step(ctx, "redis-benchmark -P 16", async () => {
    const r = await runRedis(procs, host, settings, opts.redisRequests * 8, 16);
    record(samples, target, "redisP16", r.opsPerSecond);
  });
}

function warnErrors(ctx: Context, what: string, errors: number, requests: number): void {
  if (errors > 0) ctx.log(`  ${what}: ${errors} errors in ${requests} requests`);
}

/**
 * RSS of the proxy (workers included) while it holds `opts.idle` idle client connections to
 * redis, each with its backend connection (counted by redis itself, so the figure is taken only
 * once every connection is through). The memory added per connection is counted from the RSS
 * the proxy had once started and configured: a repeat finds the memory of the previous one
 * freed but kept, as a long-running proxy would.
 */
async function idleMemory(
  ctx: Context,
  samples: Samples,
  target: Target,
  proxy: Proxy,
  baselineRss: number,
  cpus: string | undefined,
): Promise<void> {
  const { procs, opts } = ctx;
  await waitForRedisClients(procs, (n) => n <= 2, 20_000, "the previous test's connections to close");
  const holder = procs.start(
    "idle-holder",
    process.execPath,
    [ctx.holderJs, proxy.host, String(PORTS.redis), String(opts.idle), IDLE_SOURCES.join(","), "60000"],
    { cpus },
  );
  try {
    const deadline = Date.now() + 60_000;
    let report: { opened: number; failed: number; ms: number } | undefined;
    while (report === undefined && Date.now() < deadline) {
      const line = holder.output().split("\n").find((l) => l.startsWith("{"));
      if (line !== undefined) report = JSON.parse(line) as typeof report;
      else await delay(100);
    }
    if (report === undefined) throw new Error(`the idle connections were not opened in time: ${holder.output().slice(-500)}`);
    if (report.failed > 0) ctx.log(`  ${report.failed} of ${opts.idle} idle connections failed`);
    const opened = report.opened;
    await waitForRedisClients(procs, (n) => n >= opened, 30_000, `${opened} connections to reach redis`);
    await delay(500);
    const after = rssBytes(proxy.process.pid);
    record(samples, target, "rssIdle", after / 2 ** 20);
    record(samples, target, "rssPerIdle", (after - baselineRss) / 1024 / opened);
  } finally {
    await procs.stop(holder, 15_000);
  }
}

async function waitForRedisClients(procs: Processes, ok: (n: number) => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = NaN;
  while (Date.now() < deadline) {
    const { output } = await procs.run("redis-cli", "redis-cli", ["-h", BACKEND_HOST, "-p", String(PORTS.redis), "info", "clients"], {
      timeoutMs: 5000,
    });
    const match = /connected_clients:(\d+)/.exec(output);
    // The redis-cli asking is itself a client.
    last = match ? Number(match[1]) - 1 : NaN;
    if (ok(last)) return;
    await delay(250);
  }
  throw new Error(`timed out waiting for ${what} (redis counts ${last} clients)`);
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
