import type { BackendServiceSpec, HealthCheckSpec, Kind, ListenerSpec, ServerGroupSpec } from "../../model";
import type { StoredObject } from "../../protocol";

/**
 * The node's whole configuration as the store holds it and the runtime consumes it.
 * A snapshot is immutable: the store replaces it on every accepted write, and the runtime
 * diffs the new snapshot against the one it runs.
 */
/** The store holds each object in the shape the admin API exchanges it. */
export type Stored<T> = StoredObject<T>;

export interface ConfigSnapshot {
  readonly healthChecks: ReadonlyMap<string, Stored<HealthCheckSpec>>;
  readonly serverGroups: ReadonlyMap<string, Stored<ServerGroupSpec>>;
  readonly backendServices: ReadonlyMap<string, Stored<BackendServiceSpec>>;
  readonly listeners: ReadonlyMap<string, Stored<ListenerSpec>>;
  /** The highest revision this node has given, deleted objects included (unset: 0). */
  readonly lastRevision?: number;
}

export const EMPTY_CONFIG: ConfigSnapshot = {
  healthChecks: new Map(),
  serverGroups: new Map(),
  backendServices: new Map(),
  listeners: new Map(),
};

export const KIND_FIELD: Record<Kind, keyof ConfigSnapshot> = {
  "health-checks": "healthChecks",
  "server-groups": "serverGroups",
  "backend-services": "backendServices",
  listeners: "listeners",
};
