/**
 * The control part's pure functions: configuration -> each backend service's members and health
 * check -> probe targets; plus members' health -> the data plane's plan.
 *
 * Rules (docs/DESIGN.md, "Forwarder behaviour"):
 * - A service's members are those of its bound server group. A virtual group member's port
 *   defaults to the service port; a high-availability group's members all use the service port
 *   and weigh the same (1).
 * - Health check: the service's `healthCheck`, or a check with the defaults if unset, of the
 *   service's protocol (a UDP service's members may have no TCP port). Probe port: the check's
 *   `port`, else the member's port. Every member is probed, disabled ones
 *   too, so that a member that is enabled again takes traffic as soon as it is known to be up.
 * - Eligible = enabled and Healthy (Initial is not: a new member takes traffic after its first
 *   successful probe); with `healthCheckEnabled: false` every enabled member is eligible and
 *   health shows "N/A". No eligible member: fail open to every enabled member.
 * - The plan's table is every enabled member, with the members that take traffic listed in
 *   `eligible` (every enabled member when failing open). The data plane builds Maglev over the
 *   table with that `eligible` set, so a health flip keeps the table's size and every other
 *   member's slots: only the flipped member's clients move, and the same ones come back when
 *   it recovers. Disabling or removing a member changes the table itself (a configuration
 *   change, which moves a little more: Maglev's usual rebuild).
 */
import { UDP_SESSION_TIMEOUT_DEFAULT_SECONDS, type BackendServiceSpec, type HealthCheckSpec, type ListenerSpec, type ServerGroupSpec } from "../../model";
import { memberKey } from "../../hashing";
import type { ConfigSnapshot, Stored } from "../store/snapshot";
import type { HealthState, ProbeMethod, ProbeTarget } from "../health/monitor";
import type { ListenerPlan, PlanMember, ServicePlan } from "../dataplane/plan";

/** The defaults of the HealthCheck schema (provider/model/schemas.ts), for a service without a check. */
export const DEFAULT_HEALTH_CHECK = {
  timeoutSeconds: 3,
  intervalSeconds: 5,
  unhealthyThreshold: 3,
  healthyThreshold: 3,
} as const;

type CheckTiming = Pick<HealthCheckSpec, "timeoutSeconds" | "intervalSeconds" | "unhealthyThreshold" | "healthyThreshold">;

/** Weight of every member of a high-availability group. */
export const HA_MEMBER_WEIGHT = 1;

export interface ResolvedMember extends PlanMember {
  readonly enabled: boolean;
  /** The health monitor's key: service id and member key, so health survives unrelated changes. */
  readonly probeKey: string;
  readonly probePort: number;
}

export interface ResolvedCheck {
  readonly method: ProbeMethod;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface ResolvedService {
  readonly id: string;
  readonly spec: BackendServiceSpec;
  /** The bound server group's id when it exists. */
  readonly groupId?: string;
  /** In canonical order (by member key); a member repeated under another spelling is listed once. */
  readonly members: readonly ResolvedMember[];
  /** Null when health checking is off for the service. */
  readonly check: ResolvedCheck | null;
}

export function probeKeyOf(serviceId: string, key: string): string {
  return `${serviceId}|${key}`;
}

/**
 * Resolves every backend service. `healthTimeScale` multiplies every health-check duration
 * (tests run the real rules faster with, e.g., 0.1); 1 in production.
 */
export function resolveServices(config: ConfigSnapshot, healthTimeScale = 1): ResolvedService[] {
  return [...config.backendServices.values()].map((stored) => resolveService(config, stored, healthTimeScale));
}

function resolveService(config: ConfigSnapshot, stored: Stored<BackendServiceSpec>, scale: number): ResolvedService {
  const spec = stored.spec;
  const group = spec.serverGroup === undefined ? undefined : config.serverGroups.get(spec.serverGroup);
  const checkSpec: Partial<HealthCheckSpec> & CheckTiming =
    (spec.healthCheck === undefined ? undefined : config.healthChecks.get(spec.healthCheck)?.spec) ?? DEFAULT_HEALTH_CHECK;
  const check: ResolvedCheck | null = spec.healthCheckEnabled
    ? {
        method: probeMethod(checkSpec, spec),
        timeoutMs: checkSpec.timeoutSeconds * 1000 * scale,
        intervalMs: checkSpec.intervalSeconds * 1000 * scale,
        healthyThreshold: checkSpec.healthyThreshold,
        unhealthyThreshold: checkSpec.unhealthyThreshold,
      }
    : null;
  const members = group === undefined ? [] : resolveMembers(stored.id, spec, group.spec, checkSpec.port);
  return {
    id: stored.id,
    spec,
    ...(group === undefined ? {} : { groupId: group.id }),
    members,
    check,
  };
}

function probeMethod(check: Partial<HealthCheckSpec>, service: BackendServiceSpec): ProbeMethod {
  if ((check.protocol ?? service.protocol) === "TCP") return { protocol: "TCP" };
  return {
    protocol: "UDP",
    ...(check.udpRequest === undefined ? {} : { request: check.udpRequest }),
    ...(check.udpExpectedResponse === undefined ? {} : { expectedResponse: check.udpExpectedResponse }),
  };
}

function resolveMembers(serviceId: string, service: BackendServiceSpec, group: ServerGroupSpec, checkPort: number | undefined): ResolvedMember[] {
  const out = new Map<string, ResolvedMember>();
  const listed: { address: string; port: number; weight: number; enabled: boolean }[] =
    group.type === "virtual"
      ? group.members.map((m) => ({ address: m.address, port: m.port ?? service.port, weight: m.weight, enabled: m.enabled }))
      : group.members.map((m) => ({ address: m.address, port: service.port, weight: HA_MEMBER_WEIGHT, enabled: m.enabled }));
  for (const { address, port, weight, enabled } of listed) {
    const key = memberKey({ address, port });
    // `{address}` and `{address, port: <service port>}` pass the group's uniqueness rule but are
    // one member here: the first one listed wins.
    if (out.has(key)) continue;
    out.set(key, {
      key,
      address,
      port,
      weight,
      enabled,
      probeKey: probeKeyOf(serviceId, key),
      probePort: checkPort ?? port,
    });
  }
  return [...out.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

export function probeTargets(services: readonly ResolvedService[]): ProbeTarget[] {
  const targets: ProbeTarget[] = [];
  for (const s of services) {
    if (s.check === null) continue;
    for (const m of s.members) {
      targets.push({ key: m.probeKey, host: m.address, port: m.probePort, ...s.check });
    }
  }
  return targets;
}

export type HealthLookup = (probeKey: string) => HealthState | undefined;

/** A service as planned: which members are eligible, whether it fails open, and its plan. */
export interface PlannedService {
  readonly service: ResolvedService;
  /** Keys of the eligible members (enabled and Healthy); empty when failing open (status shows it). */
  readonly eligible: ReadonlySet<string>;
  readonly failOpen: boolean;
  readonly plan: ServicePlan;
}

export function planService(service: ResolvedService, health: HealthLookup): PlannedService {
  const enabled = service.members.filter((m) => m.enabled);
  const eligibleMembers =
    service.check === null ? enabled : enabled.filter((m) => health(m.probeKey) === "Healthy");
  const failOpen = eligibleMembers.length === 0 && enabled.length > 0;
  const takingTraffic = failOpen ? enabled : eligibleMembers;
  const spec = service.spec;
  return {
    service,
    eligible: new Set(eligibleMembers.map((m) => m.key)),
    failOpen,
    plan: {
      id: service.id,
      protocol: spec.protocol,
      algorithm: spec.algorithm,
      proxyProtocol: spec.proxyProtocol,
      idleTimeoutMs: spec.idleTimeoutSeconds * 1000,
      ...(spec.protocol === "UDP" ? { udpSessionTimeoutMs: (spec.udpSessionTimeoutSeconds ?? UDP_SESSION_TIMEOUT_DEFAULT_SECONDS) * 1000 } : {}),
      drainingTimeoutMs: spec.drainingTimeoutSeconds * 1000,
      table: enabled.map((m) => ({ key: m.key, address: m.address, port: m.port, weight: m.weight })),
      eligible: takingTraffic.map((m) => m.key),
      retained: enabled.map((m) => m.key),
    },
  };
}

export function planListeners(listeners: ReadonlyMap<string, Stored<ListenerSpec>>, services: ReadonlyMap<string, unknown>): ListenerPlan[] {
  return [...listeners.values()].map((l) => ({
    id: l.id,
    protocol: l.spec.protocol,
    port: l.spec.port,
    ...(services.has(l.spec.backendService) ? { serviceId: l.spec.backendService } : {}),
  }));
}
