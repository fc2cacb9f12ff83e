import { KINDS, type Kind, type SpecOf } from "../../model";
import { KIND_FIELD, type ConfigSnapshot, type Stored } from "./snapshot";

/**
 * Typed access to one kind's objects in a snapshot, and building the next snapshot.
 * Snapshots are immutable: every change copies the one map it touches.
 */

/** How messages name a kind: "backend service web is used by listener web-80". */
export const KIND_LABEL: Record<Kind, { readonly one: string; readonly many: string }> = {
  "health-checks": { one: "health check", many: "health checks" },
  "server-groups": { one: "server group", many: "server groups" },
  "backend-services": { one: "backend service", many: "backend services" },
  listeners: { one: "listener", many: "listeners" },
};

export function objectsOf<K extends Kind>(config: ConfigSnapshot, kind: K): ReadonlyMap<string, Stored<SpecOf[K]>> {
  // KIND_FIELD maps each kind to the field holding exactly that kind's specs.
  return config[KIND_FIELD[kind]] as unknown as ReadonlyMap<string, Stored<SpecOf[K]>>;
}

export function withObject<K extends Kind>(config: ConfigSnapshot, kind: K, stored: Stored<SpecOf[K]>): ConfigSnapshot {
  const next = new Map(objectsOf(config, kind));
  next.set(stored.id, stored);
  return { ...config, [KIND_FIELD[kind]]: next, lastRevision: Math.max(config.lastRevision ?? 0, stored.revision) };
}

export function withoutObject(config: ConfigSnapshot, kind: Kind, id: string): ConfigSnapshot {
  const next = new Map(objectsOf(config, kind));
  next.delete(id);
  return { ...config, [KIND_FIELD[kind]]: next };
}

/** Object counts per kind, for the ready log line and the `dnlb_config_objects` gauge. */
export function countObjects(config: ConfigSnapshot): Record<Kind, number> {
  const counts = {} as Record<Kind, number>;
  for (const kind of KINDS) counts[kind] = objectsOf(config, kind).size;
  return counts;
}
