import type { DataPlanePlan } from "./plan";
import type { DataPlaneStats } from "./stats";

/** What the runtime needs from a data plane: DataPlane itself, or a WorkerPool. */
export interface DataPlaneHandle {
  apply(plan: DataPlanePlan): Promise<ReadonlyMap<string, string>>;
  stats(): DataPlaneStats;
  close(opts?: { graceMs?: number }): Promise<void>;
}
