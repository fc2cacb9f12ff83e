/**
 * The body of `GET /v1/status`: every backend service with each member's health, eligibility,
 * last probe and open connections, every listener with its state, and the data-plane engine
 * with the reason it was chosen. Plain JSON.
 */
import type { DatagramTotals, ListenerStats, MemberStats, UdpListenerTotals } from "../dataplane/stats";
import type { HealthState, MemberHealth } from "../health/monitor";
import type { EngineChoice } from "./engine";
import type { PlannedService } from "./planner";

export type ListenerStatusState = "Listening" | "Failed" | "NoBackend";

export interface MemberStatus {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  readonly enabled: boolean;
  /** "N/A" when the service's health checks are off. */
  readonly health: HealthState | "N/A";
  /** Takes new connections (enabled and Healthy, or enabled with health checks off). */
  readonly eligible: boolean;
  readonly lastProbe?: {
    readonly code: string;
    readonly description: string;
    readonly latencyMs: number;
    /** ISO 8601. */
    readonly at: string;
  };
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  /** Open connections; for a UDP service, open sessions. */
  readonly activeConnections: number;
  /** UDP services only, once a session has used the member: datagrams each way. */
  readonly udp?: DatagramTotals;
}

export interface BackendServiceStatus {
  readonly id: string;
  readonly name: string;
  readonly port: number;
  readonly algorithm: "IpHash" | "QuintupleHash";
  readonly healthCheckEnabled: boolean;
  /** No member is eligible, so every enabled member takes traffic. */
  readonly failOpen: boolean;
  readonly serverGroup?: string;
  readonly members: readonly MemberStatus[];
}

export interface ListenerStatus {
  readonly id: string;
  readonly name: string;
  readonly port: number;
  readonly backendService: string;
  readonly state: ListenerStatusState;
  readonly error?: string;
  /** Open connections; for a UDP listener, open sessions. */
  readonly activeConnections: number;
  /** UDP listeners only: datagrams each way, and sessions evicted from a full session table. */
  readonly udp?: UdpListenerTotals;
}

export interface StatusReport {
  readonly node: { readonly name: string; readonly listenAddress: string; readonly startedAt: string };
  readonly engine: EngineChoice;
  readonly backendServices: readonly BackendServiceStatus[];
  readonly listeners: readonly ListenerStatus[];
}

export function serviceStatus(
  planned: PlannedService,
  health: (probeKey: string) => MemberHealth | undefined,
  memberStats: ReadonlyMap<string, MemberStats>,
): BackendServiceStatus {
  const { service } = planned;
  const members = service.members.map((m): MemberStatus => {
    const h = service.check === null ? undefined : health(m.probeKey);
    const probe = h?.lastProbe;
    return {
      address: m.address,
      port: m.port,
      weight: m.weight,
      enabled: m.enabled,
      health: service.check === null ? "N/A" : (h?.state ?? "Initial"),
      eligible: planned.eligible.has(m.key),
      ...(probe === undefined
        ? {}
        : {
            lastProbe: {
              code: probe.code,
              description: probe.description,
              latencyMs: Math.round(probe.latencyMs * 10) / 10,
              at: new Date(probe.at).toISOString(),
            },
          }),
      consecutiveSuccesses: h?.consecutiveSuccesses ?? 0,
      consecutiveFailures: h?.consecutiveFailures ?? 0,
      activeConnections: memberStats.get(m.key)?.active ?? 0,
      ...udpOf(memberStats.get(m.key)),
    };
  });
  return {
    id: service.id,
    name: service.spec.name,
    port: service.spec.port,
    algorithm: service.spec.algorithm,
    healthCheckEnabled: service.spec.healthCheckEnabled,
    failOpen: planned.failOpen,
    ...(service.groupId === undefined ? {} : { serverGroup: service.groupId }),
    members,
  };
}

export function listenerStatus(
  id: string,
  spec: { readonly name: string; readonly port: number; readonly backendService: string },
  stats: ListenerStats | undefined,
): ListenerStatus {
  const state = stats?.state ?? "Failed";
  return {
    id,
    name: spec.name,
    port: spec.port,
    backendService: spec.backendService,
    state,
    ...(state === "Failed" ? { error: stats?.error ?? "not listening" } : {}),
    activeConnections: stats?.active ?? 0,
    ...udpOf(stats),
  };
}

function udpOf<T>(stats: { readonly udp?: T } | undefined): { udp?: T } {
  return stats?.udp === undefined ? {} : { udp: stats.udp };
}
