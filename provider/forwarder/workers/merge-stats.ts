/**
 * Merges the data-plane stats of several worker processes into the node's own, so that status
 * and metrics read as if one process served every connection:
 * - counters and open connections add up across workers; a UDP listener is in the snapshot of its
 *   owner alone (the one worker that opens it, udp-owners.ts), so its state is the owner's;
 * - a listener is Failed when any worker could not bind it (with that worker's reason), else
 *   NoBackend when any worker has no table for it, else Listening;
 * - a member is draining when any worker is draining it;
 * - every worker builds the same tables from the same plans, so a service's table count and
 *   size are the largest any worker reports, not a sum.
 *
 * `retired` holds the counters of workers that have exited (their open connections are gone, so
 * it carries no `active`). They are added to listeners and members that live workers still
 * report, which keeps Prometheus counters from going backwards when a worker is restarted; a
 * listener or member that no live worker knows any more is dropped, as a single data plane drops
 * it.
 */
import type { DataPlaneStats, DatagramTotals, ListenerStats, MemberStats, ServiceStats, TrafficTotals, UdpListenerTotals } from "../dataplane/stats";

export function mergeStats(live: readonly DataPlaneStats[], retired: DataPlaneStats = EMPTY_STATS): DataPlaneStats {
  const listeners = new Map<string, ListenerStats>();
  const members = new Map<string, MemberStats>();
  const services = new Map<string, ServiceStats>();
  for (const snapshot of live) {
    for (const l of snapshot.listeners) {
      const seen = listeners.get(l.id);
      listeners.set(l.id, seen === undefined ? copyListener(l) : addListener(seen, l, true));
    }
    for (const m of snapshot.members) {
      const key = memberId(m);
      const seen = members.get(key);
      members.set(key, seen === undefined ? { ...m } : addMember(seen, m, true));
    }
    for (const s of snapshot.services) {
      const seen = services.get(s.id);
      services.set(
        s.id,
        seen === undefined ? { ...s } : { id: s.id, tablesBuilt: Math.max(seen.tablesBuilt, s.tablesBuilt), tableSize: Math.max(seen.tableSize, s.tableSize) },
      );
    }
  }
  for (const l of retired.listeners) {
    const seen = listeners.get(l.id);
    if (seen !== undefined) listeners.set(l.id, addListener(seen, l, false));
  }
  for (const m of retired.members) {
    const seen = members.get(memberId(m));
    if (seen !== undefined) members.set(memberId(m), addMember(seen, m, false));
  }
  return { listeners: [...listeners.values()], members: [...members.values()], services: [...services.values()] };
}

/**
 * Folds an exited worker's last snapshot into `retired`: its counters are kept, its open
 * connections (closed with the process) are not.
 */
export function retire(retired: DataPlaneStats, last: DataPlaneStats): DataPlaneStats {
  const listeners = new Map(retired.listeners.map((l) => [l.id, l]));
  for (const l of last.listeners) {
    const seen = listeners.get(l.id);
    listeners.set(l.id, seen === undefined ? { ...copyListener(l), active: 0 } : addListener(seen, l, false));
  }
  const members = new Map(retired.members.map((m) => [memberId(m), m]));
  for (const m of last.members) {
    const seen = members.get(memberId(m));
    members.set(memberId(m), seen === undefined ? { ...m, active: 0, draining: false } : addMember(seen, m, false));
  }
  return { listeners: [...listeners.values()], members: [...members.values()], services: [] };
}

export const EMPTY_STATS: DataPlaneStats = { listeners: [], members: [], services: [] };

function memberId(m: MemberStats): string {
  return `${m.serviceId}|${m.key}`;
}

function copyListener(l: ListenerStats): ListenerStats {
  return { ...l, rejected: { ...l.rejected }, ...(l.udp === undefined ? {} : { udp: { ...l.udp } }) };
}

/** Datagram counters add up; either side may have none (a worker no datagram has reached yet). */
function addDatagrams<T extends DatagramTotals>(a: T | undefined, b: T | undefined, add: (a: T, b: T) => T): { udp?: T } {
  if (a === undefined) return b === undefined ? {} : { udp: { ...b } };
  return { udp: b === undefined ? { ...a } : add(a, b) };
}

const addListenerDatagrams = (a: UdpListenerTotals, b: UdpListenerTotals): UdpListenerTotals => ({
  datagramsIn: a.datagramsIn + b.datagramsIn,
  datagramsOut: a.datagramsOut + b.datagramsOut,
  evictions: a.evictions + b.evictions,
});

const addMemberDatagrams = (a: DatagramTotals, b: DatagramTotals): DatagramTotals => ({
  datagramsIn: a.datagramsIn + b.datagramsIn,
  datagramsOut: a.datagramsOut + b.datagramsOut,
});

function addTotals(a: TrafficTotals, b: TrafficTotals): TrafficTotals {
  return {
    connections: a.connections + b.connections,
    connectFailures: a.connectFailures + b.connectFailures,
    bytesIn: a.bytesIn + b.bytesIn,
    bytesOut: a.bytesOut + b.bytesOut,
  };
}

/** `b` added to `a`; with `live`, b's open connections and state count too. */
function addListener(a: ListenerStats, b: ListenerStats, live: boolean): ListenerStats {
  const failed = a.state === "Failed" ? a : live && b.state === "Failed" ? b : undefined;
  const state = failed !== undefined ? "Failed" : live && b.state === "NoBackend" ? "NoBackend" : a.state;
  return {
    id: a.id,
    port: a.port,
    ...(a.serviceId === undefined ? {} : { serviceId: a.serviceId }),
    state,
    ...(failed?.error === undefined ? {} : { error: failed.error }),
    active: a.active + (live ? b.active : 0),
    ...addTotals(a, b),
    rejected: {
      no_backend: a.rejected.no_backend + b.rejected.no_backend,
      limit: a.rejected.limit + b.rejected.limit,
      connect_failed: a.rejected.connect_failed + b.rejected.connect_failed,
    },
    ...addDatagrams(a.udp, b.udp, addListenerDatagrams),
  };
}

function addMember(a: MemberStats, b: MemberStats, live: boolean): MemberStats {
  return {
    serviceId: a.serviceId,
    key: a.key,
    active: a.active + (live ? b.active : 0),
    draining: a.draining || (live && b.draining),
    ...addTotals(a, b),
    ...addDatagrams(a.udp, b.udp, addMemberDatagrams),
  };
}
