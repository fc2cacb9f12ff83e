/**
 * The data plane's and health checking's Prometheus metrics.
 *
 * Traffic counters live in the data plane as plain numbers (the hot path never calls
 * prom-client); they are read at scrape time through `collect`. Labels are ids (listener,
 * service) and member keys (`address:port`, at most 1000 per service, plus members still
 * draining), so cardinality stays bounded by the configuration limits.
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { DataPlaneStats, RejectReason } from "../dataplane/stats";
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

export class RuntimeMetrics {
  private readonly transitions: Counter<"service" | "member" | "to">;
  private readonly workerExits: Counter;

  constructor(registry: Registry, source: MetricsSource) {
    // One snapshot per scrape, shared by every collector of that scrape.
    let cached: { at: number; stats: DataPlaneStats } | undefined;
    const stats = (): DataPlaneStats => {
      const now = Date.now();
      if (cached === undefined || now - cached.at > 100) cached = { at: now, stats: source.stats() };
      return cached.stats;
    };
    const registers = [registry];

    const engine = new Gauge({
      name: "dnlb_engine_info",
      help: "1, labelled with the data-plane engine (native: the C relay; streams: Node's sockets) and why it was chosen.",
      labelNames: ["engine", "reason"],
      registers,
    });
    engine.set({ engine: source.engine.name, reason: source.engine.reason }, 1);

    // --- per listener ---
    listenerCounter(registers, "dnlb_listener_connections_total", "Clients accepted by the listener.", stats, (l) => l.connections);
    listenerCounter(
      registers,
      "dnlb_listener_backend_connect_failures_total",
      "Backend connect attempts that failed (each is retried on the next member).",
      stats,
      (l) => l.connectFailures,
    );
    listenerCounter(registers, "dnlb_listener_received_bytes_total", "Bytes received from clients.", stats, (l) => l.bytesIn);
    listenerCounter(registers, "dnlb_listener_sent_bytes_total", "Bytes sent to clients.", stats, (l) => l.bytesOut);
    new Gauge({
      name: "dnlb_listener_connections_active",
      help: "Clients connected through the listener now.",
      labelNames: ["listener"],
      registers,
      collect() {
        this.reset();
        for (const l of stats().listeners) this.set({ listener: l.id }, l.active);
      },
    });
    new Counter({
      name: "dnlb_listener_connections_rejected_total",
      help: "Clients reset without being forwarded: no_backend (no service, group or member), limit (too many connections), connect_failed (every member tried refused or timed out).",
      labelNames: ["listener", "reason"],
      registers,
      collect() {
        this.reset();
        for (const l of stats().listeners) {
          for (const reason of REJECT_REASONS) this.inc({ listener: l.id, reason }, l.rejected[reason]);
        }
      },
    });
    new Gauge({
      name: "dnlb_listener_up",
      help: "1 when the listener's port is bound, 0 when binding failed (it is retried).",
      labelNames: ["listener"],
      registers,
      collect() {
        this.reset();
        for (const l of stats().listeners) this.set({ listener: l.id }, l.state === "Failed" ? 0 : 1);
      },
    });

    // --- per member ---
    memberCounter(registers, "dnlb_member_connections_total", "Connections established to the member.", stats, (m) => m.connections);
    memberCounter(registers, "dnlb_member_connect_failures_total", "Connect attempts to the member that failed.", stats, (m) => m.connectFailures);
    memberCounter(registers, "dnlb_member_received_bytes_total", "Bytes from clients forwarded to the member.", stats, (m) => m.bytesIn);
    memberCounter(registers, "dnlb_member_sent_bytes_total", "Bytes from the member forwarded to clients.", stats, (m) => m.bytesOut);
    new Gauge({
      name: "dnlb_member_connections_active",
      help: "Open connections to the member.",
      labelNames: ["service", "member"],
      registers,
      collect() {
        this.reset();
        for (const m of stats().members) this.set({ service: m.serviceId, member: m.key }, m.active);
      },
    });
    new Gauge({
      name: "dnlb_member_healthy",
      help: "1 when the member is Healthy (or health checks are off), 0 when Unhealthy or not probed yet.",
      labelNames: ["service", "member"],
      registers,
      collect() {
        this.reset();
        for (const p of source.planned()) {
          for (const m of p.service.members) {
            const up = p.service.check === null || source.health(m.probeKey) === "Healthy";
            this.set({ service: p.service.id, member: m.key }, up ? 1 : 0);
          }
        }
      },
    });
    new Gauge({
      name: "dnlb_member_eligible",
      help: "1 when the member takes new connections (enabled and healthy).",
      labelNames: ["service", "member"],
      registers,
      collect() {
        this.reset();
        for (const p of source.planned()) {
          for (const m of p.service.members) this.set({ service: p.service.id, member: m.key }, p.eligible.has(m.key) ? 1 : 0);
        }
      },
    });
    this.transitions = new Counter({
      name: "dnlb_health_transitions_total",
      help: "Member health changes, by the state entered.",
      labelNames: ["service", "member", "to"],
      registers,
    });

    // --- data-plane worker processes (--workers N > 1) ---
    this.workerExits = new Counter({
      name: "dnlb_dataplane_worker_exits_total",
      help: "Data-plane worker processes that exited unexpectedly (each is restarted).",
      registers,
    });
    new Gauge({
      name: "dnlb_dataplane_worker_resident_memory_bytes",
      help: "Resident memory of each data-plane worker process, as it last reported (every second).",
      labelNames: ["worker"],
      registers,
      collect() {
        this.reset();
        for (const w of source.workers()) this.set({ worker: String(w.worker) }, w.usage.rssBytes);
      },
    });
    new Gauge({
      name: "dnlb_dataplane_worker_cpu_seconds",
      help: "User and system CPU time used by each data-plane worker process since it started, as it last reported.",
      labelNames: ["worker"],
      registers,
      collect() {
        this.reset();
        for (const w of source.workers()) this.set({ worker: String(w.worker) }, w.usage.cpuSeconds);
      },
    });

    // --- per service ---
    new Gauge({
      name: "dnlb_service_fail_open",
      help: "1 when no member of the service is eligible and every enabled member takes traffic.",
      labelNames: ["service"],
      registers,
      collect() {
        this.reset();
        for (const p of source.planned()) this.set({ service: p.service.id }, p.failOpen ? 1 : 0);
      },
    });
    new Counter({
      name: "dnlb_tables_rebuilt_total",
      help: "Maglev tables built for the service (a change that keeps the member set reuses the table).",
      labelNames: ["service"],
      registers,
      collect() {
        this.reset();
        for (const s of stats().services) this.inc({ service: s.id }, s.tablesBuilt);
      },
    });
  }

  transition(serviceId: string, member: string, to: HealthState): void {
    this.transitions.inc({ service: serviceId, member, to });
  }

  workerExited(): void {
    this.workerExits.inc();
  }
}

type Registers = Registry[];

function listenerCounter(
  registers: Registers,
  name: string,
  help: string,
  stats: () => DataPlaneStats,
  value: (l: DataPlaneStats["listeners"][number]) => number,
): void {
  new Counter({
    name,
    help,
    labelNames: ["listener"],
    registers,
    collect() {
      this.reset();
      for (const l of stats().listeners) this.inc({ listener: l.id }, value(l));
    },
  });
}

function memberCounter(
  registers: Registers,
  name: string,
  help: string,
  stats: () => DataPlaneStats,
  value: (m: DataPlaneStats["members"][number]) => number,
): void {
  new Counter({
    name,
    help,
    labelNames: ["service", "member"],
    registers,
    collect() {
      this.reset();
      for (const m of stats().members) this.inc({ service: m.serviceId, member: m.key }, value(m));
    },
  });
}
