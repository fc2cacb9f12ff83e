/**
 * The figures the forwarder benchmark reports, their goals (as ratios to the peer proxy in the
 * same run: HAProxy for TCP, nginx stream for UDP, which HAProxy does not proxy), and the Markdown
 * tables it prints: median with the range of the repeats, and ratios of medians to the peer and to
 * a direct connection.
 */

/** `container`: the forwarder again, in a container of the node image (bench/forwarder/container.ts). */
export type Target = "direct" | "haproxy" | "nginx" | "forwarder" | "container";
export const TARGETS: readonly Target[] = ["direct", "haproxy", "nginx", "forwarder", "container"];
/** The proxy each part compares the forwarder with. */
export type Peer = "haproxy" | "nginx";

export interface Figure {
  readonly id: string;
  readonly label: string;
  readonly unit: string;
  readonly higherIsBetter: boolean;
  /** Goal for forwarder / peer (a floor when higher is better, else a ceiling). */
  readonly goal?: number;
  /** Digits after the decimal point. */
  readonly digits: number;
  /** Measured for proxies only (CPU and memory of the proxy process). */
  readonly proxyOnly?: boolean;
}

export const FIGURES: readonly Figure[] = [
  { id: "bulk1", label: "bulk, 1 stream (iperf3)", unit: "Gbit/s", higherIsBetter: true, goal: 0.95, digits: 2 },
  { id: "bulk4", label: "bulk, 4 streams (iperf3)", unit: "Gbit/s", higherIsBetter: true, goal: 0.95, digits: 2 },
  { id: "cpuPerGB", label: "proxy CPU per GB, 4 streams", unit: "ms", higherIsBetter: false, digits: 0, proxyOnly: true },
  { id: "connRate", label: "new connections (wrk, Connection: close)", unit: "conn/s", higherIsBetter: true, goal: 0.7, digits: 0 },
  { id: "connP50", label: "  latency p50", unit: "ms", higherIsBetter: false, digits: 2 },
  { id: "connP99", label: "  latency p99", unit: "ms", higherIsBetter: false, goal: 1.5, digits: 2 },
  { id: "cpuPerConn", label: "proxy CPU per connection", unit: "us", higherIsBetter: false, goal: 1.4, digits: 0, proxyOnly: true },
  { id: "kaRate", label: "keep-alive requests (wrk)", unit: "req/s", higherIsBetter: true, goal: 0.8, digits: 0 },
  { id: "kaP99", label: "  latency p99", unit: "ms", higherIsBetter: false, goal: 1.5, digits: 2 },
  { id: "cpuPerReq", label: "proxy CPU per keep-alive request", unit: "us", higherIsBetter: false, digits: 1, proxyOnly: true },
  { id: "redis", label: "redis-benchmark SET+GET", unit: "ops/s", higherIsBetter: true, goal: 0.9, digits: 0 },
  { id: "redisP99", label: "  GET latency p99", unit: "ms", higherIsBetter: false, goal: 1.5, digits: 2 },
  { id: "redisP16", label: "redis-benchmark SET+GET -P 16", unit: "ops/s", higherIsBetter: true, goal: 0.9, digits: 0 },
  { id: "rssIdle", label: "RSS with the idle connections", unit: "MiB", higherIsBetter: false, digits: 1, proxyOnly: true },
  { id: "rssPerIdle", label: "  RSS added per idle connection", unit: "KiB", higherIsBetter: false, digits: 1, proxyOnly: true },
];

/** The UDP part: DNS queries (one datagram each way) and iperf3 -u (one way), against nginx stream. */
export const UDP_FIGURES: readonly Figure[] = [
  { id: "dnsRate", label: "DNS queries (dnsperf)", unit: "queries/s", higherIsBetter: true, goal: 1.0, digits: 0 },
  { id: "dnsP99", label: "  latency p99", unit: "ms", higherIsBetter: false, digits: 2 },
  { id: "dnsLost", label: "  queries lost", unit: "%", higherIsBetter: false, digits: 2 },
  { id: "cpuPerDnsDatagram", label: "proxy CPU per datagram, DNS", unit: "us", higherIsBetter: false, goal: 1.0, digits: 1, proxyOnly: true },
  { id: "udpBulk", label: "UDP bulk (iperf3 -u -b 0)", unit: "Gbit/s", higherIsBetter: true, digits: 2 },
  { id: "udpBulkLost", label: "  datagrams lost", unit: "%", higherIsBetter: false, digits: 1 },
  { id: "cpuPerBulkDatagram", label: "proxy CPU per datagram received, bulk", unit: "us", higherIsBetter: false, goal: 1.0, digits: 1, proxyOnly: true },
];

/** Figures compared between the all-cores and the one-core configuration (goal: >= 1.8x). */
export const SCALING_FIGURES = ["connRate", "kaRate", "redis", "redisP16", "bulk4"] as const;
export const SCALING_GOAL = 1.8;

/** samples[target][figure id] = one value per repeat. */
export type Samples = Record<Target, Record<string, number[]>>;

export function emptySamples(): Samples {
  return { direct: {}, haproxy: {}, nginx: {}, forwarder: {}, container: {} };
}

export function record(samples: Samples, target: Target, id: string, value: number): void {
  if (!Number.isFinite(value)) return;
  (samples[target][id] ??= []).push(value);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function format(value: number, digits: number): string {
  if (!Number.isFinite(value)) return "n/a";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median (min-max)" or "n/a". */
function cell(values: readonly number[] | undefined, digits: number): string {
  if (values === undefined || values.length === 0) return "n/a";
  const m = format(median(values), digits);
  if (values.length === 1) return m;
  return `${m} (${format(Math.min(...values), digits)}-${format(Math.max(...values), digits)})`;
}

function ratio(a: readonly number[] | undefined, b: readonly number[] | undefined): number {
  if (a === undefined || b === undefined || a.length === 0 || b.length === 0) return NaN;
  return median(a) / median(b);
}

function ratioCell(r: number): string {
  return Number.isFinite(r) ? `${r.toFixed(2)}x` : "n/a";
}

function goalCell(figure: Figure, r: number): string {
  if (figure.goal === undefined) return "";
  const op = figure.higherIsBetter ? ">=" : "<=";
  if (!Number.isFinite(r)) return `${op} ${figure.goal}x`;
  const met = figure.higherIsBetter ? r >= figure.goal : r <= figure.goal;
  return `${op} ${figure.goal}x: ${met ? "met" : "**not met**"}`;
}

const PEER_LABELS: Record<Peer, string> = { haproxy: "HAProxy", nginx: "nginx" };

/**
 * One row per figure. With samples of the forwarder in a container, two more columns: its figures
 * and their ratio to the host process's (the image's relay against the one built on the host).
 */
export function resultTable(samples: Samples, names: Record<Target, string>, peer: Peer = "haproxy", figures: readonly Figure[] = FIGURES): string {
  const p = PEER_LABELS[peer];
  const container = Object.keys(samples.container).length > 0;
  const lines = [
    `| figure | unit | ${names.direct} | ${names[peer]} | ${names.forwarder} | fwd / ${p} | fwd / direct | ${p} / direct | goal (fwd / ${p}) |${container ? ` ${names.container} | container / fwd |` : ""}`,
    `|---|---|---|---|---|---|---|---|---|${container ? "---|---|" : ""}`,
  ];
  for (const f of figures) {
    const d = samples.direct[f.id];
    const h = samples[peer][f.id];
    const w = samples.forwarder[f.id];
    const c = samples.container[f.id];
    const vsPeer = ratio(w, h);
    lines.push(
      `| ${f.label} | ${f.unit} | ${f.proxyOnly ? "-" : cell(d, f.digits)} | ${cell(h, f.digits)} | ${cell(w, f.digits)} | ${ratioCell(vsPeer)} | ${
        f.proxyOnly ? "-" : ratioCell(ratio(w, d))
      } | ${f.proxyOnly ? "-" : ratioCell(ratio(h, d))} | ${goalCell(f, vsPeer)} |${container ? ` ${cell(c, f.digits)} | ${ratioCell(ratio(c, w))} |` : ""}`,
    );
  }
  return lines.join("\n");
}

export function scalingTable(oneCore: Samples, allCores: Samples): string {
  const lines = [
    `| figure | HAProxy: all cores / one core | forwarder: all cores / one core | goal (forwarder) |`,
    "|---|---|---|---|",
  ];
  for (const id of SCALING_FIGURES) {
    const f = FIGURES.find((x) => x.id === id) as Figure;
    const h = ratio(allCores.haproxy[id], oneCore.haproxy[id]);
    const w = ratio(allCores.forwarder[id], oneCore.forwarder[id]);
    const goal = Number.isFinite(w) ? `>= ${SCALING_GOAL}x: ${w >= SCALING_GOAL ? "met" : "**not met**"}` : `>= ${SCALING_GOAL}x`;
    lines.push(`| ${f.label} | ${ratioCell(h)} | ${ratioCell(w)} | ${goal} |`);
  }
  return lines.join("\n");
}
