/**
 * The load generators (wrk, iperf3, redis-benchmark) run against one target address, and the
 * parsers of their output. Each run is bounded: the tool's own duration plus a margin, after
 * which it is killed and the figure is reported as missing.
 */
import { readFileSync } from "node:fs";
import { PORTS } from "./backends";
import type { Processes } from "./processes";

export interface HttpResult {
  /** Requests completed (with `Connection: close`, one connection each). */
  readonly requests: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Socket errors and non-2xx answers. */
  readonly errors: number;
}

export interface LoadSettings {
  /** CPUs the load generator is pinned to; undefined: not pinned. */
  readonly cpus: string | undefined;
  readonly seconds: number;
  readonly wrkThreads: number;
  readonly wrkConnections: number;
}

export async function runWrk(procs: Processes, host: string, settings: LoadSettings, close: boolean): Promise<HttpResult> {
  const args = [
    "-t", String(settings.wrkThreads),
    "-c", String(settings.wrkConnections),
    "-d", `${settings.seconds}s`,
    "--latency",
    "--timeout", "5s",
  ];
  if (close) args.push("-H", "Connection: close");
  args.push(`http://${host}:${PORTS.http}/`);
  const { output } = await procs.run("wrk", "wrk", args, { cpus: settings.cpus, timeoutMs: (settings.seconds + 15) * 1000 });
  return parseWrk(output);
}

export function parseWrk(output: string): HttpResult {
  const requests = /(\d+) requests in/.exec(output);
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(output);
  const p50 = /^\s+50%\s+([\d.]+)(us|ms|s)\s*$/m.exec(output);
  const p99 = /^\s+99%\s+([\d.]+)(us|ms|s)\s*$/m.exec(output);
  if (!requests || !rate || !p50 || !p99) throw new Error(`cannot read wrk's output:\n${output}`);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  const errors =
    (socketErrors ? socketErrors.slice(1, 5).reduce((sum, n) => sum + Number(n), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return {
    requests: Number(requests[1]),
    requestsPerSecond: Number(rate[1]),
    p50Ms: toMs(Number(p50[1]), p50[2]),
    p99Ms: toMs(Number(p99[1]), p99[2]),
    errors,
  };
}

function toMs(value: number, unit: string): number {
  return unit === "us" ? value / 1000 : unit === "s" ? value * 1000 : value;
}

export interface BulkResult {
  readonly gbitPerSecond: number;
  /** Bytes carried each way by the run (for CPU per GB). */
  readonly bytes: number;
}

/** iperf3 client to `host`: `streams` parallel TCP streams, client to server. */
export async function runIperf(procs: Processes, host: string, settings: LoadSettings, streams: number): Promise<BulkResult> {
  const args = ["-c", host, "-p", String(PORTS.iperf), "-t", String(settings.seconds), "-P", String(streams), "-J"];
  const { output } = await procs.run("iperf3", "iperf3", args, { cpus: settings.cpus, timeoutMs: (settings.seconds + 20) * 1000 });
  return parseIperf(output);
}

export function parseIperf(output: string): BulkResult {
  let report: { error?: string; end?: { sum_received?: { bits_per_second?: number; bytes?: number } } };
  try {
    report = JSON.parse(output.slice(output.indexOf("{"))) as typeof report;
  } catch {
    throw new Error(`cannot read iperf3's output:\n${output.slice(0, 2000)}`);
  }
  const received = report.end?.sum_received;
  if (report.error !== undefined || received?.bits_per_second === undefined || received.bytes === undefined) {
    throw new Error(`iperf3 failed: ${report.error ?? output.slice(0, 2000)}`);
  }
  return { gbitPerSecond: received.bits_per_second / 1e9, bytes: received.bytes };
}

export interface RedisResult {
  /** SET and GET together: operations over the time they took. */
  readonly opsPerSecond: number;
  readonly operations: number;
  /** GET's p99 latency. */
  readonly p99Ms: number;
}

/** redis-benchmark SET and GET, 50 clients, `pipeline` commands in flight per client. */
export async function runRedis(procs: Processes, host: string, settings: LoadSettings, requests: number, pipeline: number): Promise<RedisResult> {
  const args = ["-h", host, "-p", String(PORTS.redis), "-c", "50", "-n", String(requests), "-P", String(pipeline), "-t", "set,get", "--csv"];
  const { output } = await procs.run("redis-benchmark", "redis-benchmark", args, { cpus: settings.cpus, timeoutMs: 120_000 });
  return parseRedis(output, requests);
}

export function parseRedis(output: string, requestsPerTest: number): RedisResult {
  // "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
  const rows = new Map<string, number[]>();
  for (const line of output.split("\n")) {
    const cells = line.split(",").map((c) => c.replace(/"/g, "").trim());
    if (cells.length >= 7 && (cells[0] === "SET" || cells[0] === "GET")) rows.set(cells[0], cells.slice(1).map(Number));
  }
  const set = rows.get("SET");
  const get = rows.get("GET");
  if (set === undefined || get === undefined) throw new Error(`cannot read redis-benchmark's output:\n${output.slice(0, 2000)}`);
  const seconds = requestsPerTest / set[0] + requestsPerTest / get[0];
  return { opsPerSecond: (2 * requestsPerTest) / seconds, operations: 2 * requestsPerTest, p99Ms: get[5] };
}

export interface DnsResult {
  readonly completed: number;
  readonly queriesPerSecond: number;
  /** Share of the queries sent that got no answer within dnsperf's timeout, in percent. */
  readonly lostPercent: number;
  readonly p99Ms: number;
}

/**
 * dnsperf against `host:port` for `settings.seconds`: `clients` sockets, 100 queries in flight,
 * no rate limit, each query from `queryFile`. dnsperf prints no percentiles, so `-v` reports
 * every query's latency, written to `logFile` (the output kept in memory is bounded).
 */
export async function runDnsperf(
  procs: Processes,
  host: string,
  port: number,
  settings: LoadSettings,
  queryFile: string,
  logFile: string,
): Promise<DnsResult> {
  const command = ["dnsperf", "-s", host, "-p", String(port), "-d", queryFile, "-l", String(settings.seconds), "-c", "20", "-q", "100", "-t", "2", "-v"];
  const { output } = await procs.run("dnsperf", "sh", ["-c", `exec "$@" > "${logFile}"`, "sh", ...command], {
    cpus: settings.cpus,
    timeoutMs: (settings.seconds + 15) * 1000,
  });
  return parseDnsperf(readFileSync(logFile, "utf8"), output);
}

export function parseDnsperf(log: string, stderr = ""): DnsResult {
  const sent = /Queries sent:\s+(\d+)/.exec(log);
  const completed = /Queries completed:\s+(\d+)/.exec(log);
  const rate = /Queries per second:\s+([\d.]+)/.exec(log);
  if (!sent || !completed || !rate) throw new Error(`cannot read dnsperf's output:\n${log.slice(-2000)}${stderr.slice(-1000)}`);
  // "> NOERROR who.dnlb.test TXT 0.000123": one line per answered query, latency in seconds.
  const latencies: number[] = [];
  for (const match of log.matchAll(/^> \S+ .* ([\d.]+)$/gm)) latencies.push(Number(match[1]) * 1000);
  latencies.sort((a, b) => a - b);
  const p99 = latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))];
  const sentCount = Number(sent[1]);
  return {
    completed: Number(completed[1]),
    queriesPerSecond: Number(rate[1]),
    lostPercent: sentCount === 0 ? NaN : (100 * (sentCount - Number(completed[1]))) / sentCount,
    p99Ms: p99,
  };
}

export interface UdpBulkResult {
  /** Received by the iperf3 server, over the run. */
  readonly gbitPerSecond: number;
  readonly datagramsReceived: number;
  readonly lostPercent: number;
}

/** iperf3 -u to `host:port`: datagrams of `datagramBytes`, as fast as the client can send. */
export async function runIperfUdp(procs: Processes, host: string, port: number, settings: LoadSettings, datagramBytes: number): Promise<UdpBulkResult> {
  const args = ["-c", host, "-p", String(port), "-u", "-b", "0", "-l", String(datagramBytes), "-t", String(settings.seconds), "-J"];
  const { output } = await procs.run("iperf3 -u", "iperf3", args, { cpus: settings.cpus, timeoutMs: (settings.seconds + 20) * 1000 });
  return parseIperfUdp(output, datagramBytes);
}

export function parseIperfUdp(output: string, datagramBytes: number): UdpBulkResult {
  type Sum = { seconds?: number; packets?: number; lost_packets?: number };
  let report: { error?: string; end?: { sum?: Sum } };
  try {
    report = JSON.parse(output.slice(output.indexOf("{"))) as typeof report;
  } catch {
    throw new Error(`cannot read iperf3's output:\n${output.slice(0, 2000)}`);
  }
  const sum = report.end?.sum;
  if (report.error !== undefined || sum?.packets === undefined || sum.lost_packets === undefined || sum.seconds === undefined) {
    throw new Error(`iperf3 -u failed: ${report.error ?? output.slice(0, 2000)}`);
  }
  const received = sum.packets - sum.lost_packets;
  return {
    gbitPerSecond: (received * datagramBytes * 8) / sum.seconds / 1e9,
    datagramsReceived: received,
    lostPercent: sum.packets === 0 ? NaN : (100 * sum.lost_packets) / sum.packets,
  };
}
