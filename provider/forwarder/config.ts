import type { BackendServiceSpec, HealthCheckSpec, Kind, ListenerSpec, ServerGroupSpec } from "../model";

/**
 * The node's whole configuration as the store holds it and the runtime consumes it.
 * A snapshot is immutable: the store replaces it on every accepted write, and the runtime
 * diffs the new snapshot against the one it runs.
 */
export interface Stored<T> {
  readonly id: string;
  /** Per-object revision, starting at 1, incremented on every accepted write (If-Match compares it). */
  readonly revision: number;
  readonly spec: T;
}

export interface ConfigSnapshot {
  readonly healthChecks: ReadonlyMap<string, Stored<HealthCheckSpec>>;
  readonly serverGroups: ReadonlyMap<string, Stored<ServerGroupSpec>>;
  readonly backendServices: ReadonlyMap<string, Stored<BackendServiceSpec>>;
  readonly listeners: ReadonlyMap<string, Stored<ListenerSpec>>;
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
