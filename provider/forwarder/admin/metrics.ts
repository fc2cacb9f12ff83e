import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import { KINDS } from "../../model";
import type { ConfigSnapshot } from "../store/snapshot";
import { countObjects } from "../store/objects";

/**
 * The control side's metrics. Labels stay bounded: `route` is a template
 * (`/v1/listeners/{id}`, never the id itself), `unmatched` for any path the API does not serve.
 */
export class AdminMetrics {
  private readonly requests: Counter<"route" | "method" | "status">;
  private readonly duration: Histogram<"route" | "method" | "status">;
  private readonly objects: Gauge<"kind">;
  private readonly writes: Counter<"kind" | "action" | "result">;

  constructor(registry: Registry) {
    this.requests = new Counter({
      name: "dnlb_admin_requests_total",
      help: "Admin API requests by route template, method and HTTP status.",
      labelNames: ["route", "method", "status"],
      registers: [registry],
    });
    this.duration = new Histogram({
      name: "dnlb_admin_request_duration_seconds",
      help: "Admin API request durations (a write includes applying and persisting the configuration).",
      labelNames: ["route", "method", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    });
    this.objects = new Gauge({
      name: "dnlb_config_objects",
      help: "Configuration objects held by the node, by kind.",
      labelNames: ["kind"],
      registers: [registry],
    });
    this.writes = new Counter({
      name: "dnlb_config_writes_total",
      help: "Configuration writes by kind, action (put, delete) and result (changed, unchanged, refused, failed).",
      labelNames: ["kind", "action", "result"],
      registers: [registry],
    });
  }

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    const labels = { route, method: KNOWN_METHODS.has(method) ? method : "other", status: String(status) };
    this.requests.inc(labels);
    this.duration.observe(labels, seconds);
  }

  observeWrite(kind: string, action: "put" | "delete", result: "changed" | "unchanged" | "refused" | "failed"): void {
    this.writes.inc({ kind, action, result });
  }

  observeConfig(config: ConfigSnapshot): void {
    const counts = countObjects(config);
    for (const kind of KINDS) this.objects.set({ kind }, counts[kind]);
  }
}

const KNOWN_METHODS = new Set(["GET", "HEAD", "PUT", "DELETE", "POST", "PATCH", "OPTIONS"]);
