import type { DataPlanePlan, ListenerPlan } from "./plan";
import type { DataPlaneStats } from "./stats";

/** What the runtime needs from a data plane: DataPlane itself, or a WorkerPool. */
export interface DataPlaneHandle {
  apply(plan: DataPlanePlan): Promise<ReadonlyMap<string, string>>;
  /** Opens the listeners a write would add, changing nothing that runs (see DataPlane.prepare). */
  prepare(listeners: readonly ListenerPlan[]): Promise<ReadonlyMap<string, string>>;
  /** Closes what `prepare` opened and no `apply` took. */
  release(): Promise<void>;
  stats(): DataPlaneStats;
  close(opts?: { graceMs?: number }): Promise<void>;
}
