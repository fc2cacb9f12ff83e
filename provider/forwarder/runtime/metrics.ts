/**
 * The data plane's and health checking's Prometheus metrics.
 *
 * Traffic counters live in the data plane as plain numbers (the hot path never calls
 * prom-client); they are read at scrape time through `collect`. Labels are ids (listener,
 * service) and member keys (`address:port`, at most 1000 per service, plus members still
 * draining), so cardinality stays bounded by the configuration limits.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { DataPlaneStats, ListenerStats, MemberStats, RejectReason } from "../dataplane/stats";
import type { HealthState } from "../health/monitor";
import type { EngineChoice } from "./engine";
import type { PlannedService } from "./planner";
import type { WorkerUsage } from "../workers/messages";

export interface MetricsSource {
  stats(): DataPlaneStats;
  /** Resource use of each data-plane worker process (none when the data plane runs in this process). */
  workers(): readonly { worker: number; usage: WorkerUsage }[];
  planned(): readonly PlannedService[];
  health(probeKey: string): HealthState | undefined;
  /** Fixed for the process's life. */
  readonly engine: EngineChoice;
}

const REJECT_REASONS: readonly RejectReason[] = ["no_backend", "limit", "connect_failed"];

type Sample = readonly [labels: Record<string, string>, value: number];

/** What a metric reads at scrape time: the data plane's stats (one snapshot per scrape) and the runtime. */
interface Readers {
  readonly stats: () => DataPlaneStats;
  readonly source: MetricsSource;
}

interface MetricSpec {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly labels: readonly string[];
  /** The samples at scrape time; absent for a counter the runtime increments as things happen. */
  readonly samples?: (read: Readers) => Iterable<Sample>;
}

function perListener(value: (l: ListenerStats) => number): (read: Readers) => Sample[] {
  return ({ stats }) => stats().listeners.map((l) => [{ listener: l.id }, value(l)]);
}

function perMember(value: (m: MemberStats) => number): (read: Readers) => Sample[] {
  return ({ stats }) => stats().members.map((m) => [{ service: m.serviceId, member: m.key }, value(m)]);
}

/** UDP listeners only. */
function perUdpListener(value: (udp: NonNullable<ListenerStats["udp"]>, l: ListenerStats) => number): (read: Readers) => Sample[] {
  return ({ stats }) => stats().listeners.flatMap((l) => (l.udp === undefined ? [] : [[{ listener: l.id }, value(l.udp, l)] as const]));
}

/** Members of UDP services that a session has used. */
function perUdpMember(value: (udp: NonNullable<MemberStats["udp"]>, m: MemberStats) => number): (read: Readers) => Sample[] {
  return ({ stats }) => stats().members.flatMap((m) => (m.udp === undefined ? [] : [[{ service: m.serviceId, member: m.key }, value(m.udp, m)] as const]));
}

/** Every planned member of every service, with `value` of it. */
function perPlannedMember(value: (p: PlannedService, m: PlannedService["service"]["members"][number], source: MetricsSource) => boolean) {
  return ({ source }: Readers): Sample[] =>
    source.planned().flatMap((p) => p.service.members.map((m): Sample => [{ service: p.service.id, member: m.key }, value(p, m, source) ? 1 : 0]));
}

function perWorker(value: (usage: WorkerUsage) => number): (read: Readers) => Sample[] {
  return ({ source }) => source.workers().map((w) => [{ worker: String(w.worker) }, value(w.usage)]);
}

const LISTENER = ["listener"];
const MEMBER = ["service", "member"];
const TRANSITIONS = "dnlb_health_transitions_total";
const WORKER_EXITS = "dnlb_dataplane_worker_exits_total";

const METRICS: readonly MetricSpec[] = [
  {
    name: "dnlb_engine_info",
    help: "1, labelled with the data-plane engine (native: the C relay; streams: Node's sockets) and why it was chosen.",
    type: "gauge",
    labels: ["engine", "reason"],
    samples: ({ source }) => [[{ engine: source.engine.name, reason: source.engine.reason }, 1]],
  },
  // per listener
  { name: "dnlb_listener_connections_total", help: "Clients accepted by the listener.", type: "counter", labels: LISTENER, samples: perListener((l) => l.connections) },
  {
    name: "dnlb_listener_backend_connect_failures_total",
    help: "Backend connect attempts that failed (each is retried on the next member).",
    type: "counter",
    labels: LISTENER,
    samples: perListener((l) => l.connectFailures),
  },
  { name: "dnlb_listener_received_bytes_total", help: "Bytes received from clients.", type: "counter", labels: LISTENER, samples: perListener((l) => l.bytesIn) },
  { name: "dnlb_listener_sent_bytes_total", help: "Bytes sent to clients.", type: "counter", labels: LISTENER, samples: perListener((l) => l.bytesOut) },
  { name: "dnlb_listener_connections_active", help: "Clients connected through the listener now.", type: "gauge", labels: LISTENER, samples: perListener((l) => l.active) },
  {
    name: "dnlb_listener_connections_rejected_total",
    help: "Clients reset without being forwarded: no_backend (no service, group or member), limit (too many connections), connect_failed (every member tried refused or timed out).",
    type: "counter",
    labels: ["listener", "reason"],
    samples: ({ stats }) => stats().listeners.flatMap((l) => REJECT_REASONS.map((reason): Sample => [{ listener: l.id, reason }, l.rejected[reason]])),
  },
  {
    name: "dnlb_listener_up",
    help: "1 when the listener's port is bound, 0 when binding failed (it is retried).",
    type: "gauge",
    labels: LISTENER,
    samples: perListener((l) => (l.state === "Failed" ? 0 : 1)),
  },
  // per member
  { name: "dnlb_member_connections_total", help: "Connections established to the member.", type: "counter", labels: MEMBER, samples: perMember((m) => m.connections) },
  { name: "dnlb_member_connect_failures_total", help: "Connect attempts to the member that failed.", type: "counter", labels: MEMBER, samples: perMember((m) => m.connectFailures) },
  { name: "dnlb_member_received_bytes_total", help: "Bytes from clients forwarded to the member.", type: "counter", labels: MEMBER, samples: perMember((m) => m.bytesIn) },
  { name: "dnlb_member_sent_bytes_total", help: "Bytes from the member forwarded to clients.", type: "counter", labels: MEMBER, samples: perMember((m) => m.bytesOut) },
  { name: "dnlb_member_connections_active", help: "Open connections to the member.", type: "gauge", labels: MEMBER, samples: perMember((m) => m.active) },
  {
    name: "dnlb_member_healthy",
    help: "1 when the member is Healthy (or health checks are off), 0 when Unhealthy or not probed yet.",
    type: "gauge",
    labels: MEMBER,
    samples: perPlannedMember((p, m, source) => p.service.check === null || source.health(m.probeKey) === "Healthy"),
  },
  {
    name: "dnlb_member_eligible",
    help: "1 when the member takes new connections (enabled and healthy).",
    type: "gauge",
    labels: MEMBER,
    samples: perPlannedMember((p, m) => p.eligible.has(m.key)),
  },
  // UDP: the connection metrics above count a UDP listener's or member's sessions; these add datagrams and evictions
  {
    name: "dnlb_listener_udp_sessions_active",
    help: "UDP sessions (client address and port) open on the listener now.",
    type: "gauge",
    labels: LISTENER,
    samples: perUdpListener((_, l) => l.active),
  },
  { name: "dnlb_listener_udp_sessions_total", help: "UDP sessions opened on the listener.", type: "counter", labels: LISTENER, samples: perUdpListener((_, l) => l.connections) },
  {
    name: "dnlb_listener_udp_sessions_evicted_total",
    help: "UDP sessions closed to make room for a new one because the session table was full (--max-udp-sessions).",
    type: "counter",
    labels: LISTENER,
    samples: perUdpListener((u) => u.evictions),
  },
  { name: "dnlb_listener_udp_received_datagrams_total", help: "Datagrams received from clients.", type: "counter", labels: LISTENER, samples: perUdpListener((u) => u.datagramsIn) },
  { name: "dnlb_listener_udp_sent_datagrams_total", help: "Datagrams sent to clients.", type: "counter", labels: LISTENER, samples: perUdpListener((u) => u.datagramsOut) },
  { name: "dnlb_member_udp_sessions_active", help: "UDP sessions stuck to the member now.", type: "gauge", labels: MEMBER, samples: perUdpMember((_, m) => m.active) },
  {
    name: "dnlb_member_udp_received_datagrams_total",
    help: "Datagrams from clients forwarded to the member.",
    type: "counter",
    labels: MEMBER,
    samples: perUdpMember((u) => u.datagramsIn),
  },
  { name: "dnlb_member_udp_sent_datagrams_total", help: "Datagrams from the member forwarded to clients.", type: "counter", labels: MEMBER, samples: perUdpMember((u) => u.datagramsOut) },
  { name: TRANSITIONS, help: "Member health changes, by the state entered.", type: "counter", labels: ["service", "member", "to"] },
  // data-plane worker processes (--workers N)
  { name: WORKER_EXITS, help: "Data-plane worker processes that exited unexpectedly (each is restarted).", type: "counter", labels: [] },
  {
    name: "dnlb_dataplane_worker_resident_memory_bytes",
    help: "Resident memory of each data-plane worker process, as it last reported (every second).",
    type: "gauge",
    labels: ["worker"],
    samples: perWorker((u) => u.rssBytes),
  },
  {
    name: "dnlb_dataplane_worker_cpu_seconds",
    help: "User and system CPU time used by each data-plane worker process since it started, as it last reported.",
    type: "gauge",
    labels: ["worker"],
    samples: perWorker((u) => u.cpuSeconds),
  },
  // per service
  {
    name: "dnlb_service_fail_open",
    help: "1 when no member of the service is eligible and every enabled member takes traffic.",
    type: "gauge",
    labels: ["service"],
    samples: ({ source }) => source.planned().map((p) => [{ service: p.service.id }, p.failOpen ? 1 : 0]),
  },
  {
    name: "dnlb_tables_rebuilt_total",
    help: "Maglev tables built for the service (a change that keeps the member set reuses the table).",
    type: "counter",
    labels: ["service"],
    samples: ({ stats }) => stats().services.map((s) => [{ service: s.id }, s.tablesBuilt]),
  },
];

export class RuntimeMetrics {
  private readonly transitions: Counter;
  private readonly workerExits: Counter;

  constructor(registry: Registry, source: MetricsSource) {
    // One snapshot per scrape, shared by every collector of that scrape.
    let cached: { at: number; stats: DataPlaneStats } | undefined;
    const stats = (): DataPlaneStats => {
      const now = Date.now();
      if (cached === undefined || now - cached.at > 100) cached = { at: now, stats: source.stats() };
      return cached.stats;
    };
    const readers: Readers = { stats, source };
    const counters = new Map<string, Counter>();
    for (const spec of METRICS) {
      const config = { name: spec.name, help: spec.help, labelNames: [...spec.labels], registers: [registry] };
      const samples = spec.samples;
      if (spec.type === "gauge") {
        new Gauge({
          ...config,
          collect() {
            this.reset();
            for (const [labels, value] of samples?.(readers) ?? []) this.set(labels, value);
          },
        });
      } else if (samples === undefined) {
        counters.set(spec.name, new Counter(config));
      } else {
        new Counter({
          ...config,
          collect() {
            this.reset();
            for (const [labels, value] of samples(readers)) this.inc(labels, value);
          },
        });
      }
    }
    this.transitions = counters.get(TRANSITIONS) as Counter;
    this.workerExits = counters.get(WORKER_EXITS) as Counter;
  }

  transition(serviceId: string, member: string, to: HealthState): void {
    this.transitions.inc({ service: serviceId, member, to });
  }

  workerExited(): void {
    this.workerExits.inc();
  }
}
