/**
 * What the hot path reads for one backend service: its Maglev table and flow-key kind, and, per
 * member, a long-lived bucket holding the member's open connections and counters.
 *
 * A route is immutable and replaced whole when a plan changes it, so a listener switches tables
 * with one reference assignment and a connection being set up keeps the route it started with.
 * Buckets outlive routes: a member kept across plans keeps its bucket (its connections and
 * counters), and a member that leaves the plan keeps its bucket until its last connection ends.
 */
import { Maglev } from "../../hashing";
import { FlowList } from "./flow-list";
import type { PlanMember, ProxyProtocolMode, ServicePlan } from "./plan";
import { emptyTotals, type DatagramTotals, type TrafficTotals } from "./stats";

export class MemberBucket {
  readonly totals: TrafficTotals = emptyTotals();
  /** Set when a UDP session first uses the member. */
  udp: DatagramTotals | undefined = undefined;
  /** Established connections (or UDP sessions) to this member. */
  readonly flows = new FlowList((flow) => flow.inBucket);
  /** False once the member is no longer retained (removed or disabled). */
  retained = true;
  /** Set when the draining timeout has run out: a connection that completes afterwards is closed at once. */
  drained = false;
  private drainTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly serviceId: string,
    readonly key: string,
  ) {}

  get draining(): boolean {
    return this.drainTimer !== null || this.drained;
  }

  /** Closes the member's connections after `ms` (at once for 0). Idempotent: a running countdown is kept. */
  startDrain(ms: number): void {
    this.retained = false;
    if (this.drainTimer !== null || this.drained) return;
    if (ms <= 0) {
      this.expire();
      return;
    }
    this.drainTimer = setTimeout(() => this.expire(), ms);
    this.drainTimer.unref();
  }

  /** The member is back (re-enabled or re-added) before its countdown ended: its connections stay. */
  cancelDrain(): void {
    this.retained = true;
    this.drained = false;
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  /** Stops the countdown without closing anything (the data plane is closing). */
  stop(): void {
    if (this.drainTimer !== null) clearTimeout(this.drainTimer);
    this.drainTimer = null;
  }

  private expire(): void {
    this.drainTimer = null;
    this.drained = true;
    for (const flow of this.flows) flow.destroy();
  }
}

/** A table member: the plan's member plus its bucket, so a lookup needs no further map access. */
export interface RouteMember extends PlanMember {
  readonly bucket: MemberBucket;
}

/** Per-service settings that apply to open connections too; updated in place by a new plan. */
export interface ServiceSettings {
  idleTimeoutMs: number;
  /** UDP sessions' idle timeout. */
  udpSessionTimeoutMs: number;
  drainingTimeoutMs: number;
}

export class ServiceRoute {
  constructor(
    readonly id: string,
    /** QuintupleHash (else IpHash). */
    readonly quintuple: boolean,
    readonly proxyProtocol: ProxyProtocolMode,
    /** Null when the table has no member: new clients are reset. */
    readonly table: Maglev<RouteMember> | null,
    /** Identifies the table's members, weights and eligibility, to reuse the table when they are unchanged. */
    readonly signature: string,
    readonly settings: ServiceSettings,
  ) {}
}

/**
 * Same members with the same weights and the same eligibility, in any order, give the same
 * signature. `eligible` undefined: every member is eligible.
 */
export function tableSignature(members: readonly PlanMember[], eligible?: ReadonlySet<string>): string {
  return members
    .map((m) => `${m.key}*${m.weight}${eligible === undefined || eligible.has(m.key) ? "" : "/down"}`)
    .sort()
    .join(" ");
}

/**
 * Builds the route for a service plan, reusing `previous`'s table when the members, weights and
 * eligibility are the same (so a plan change that touches another service, or only a timeout,
 * rebuilds nothing). `bucketOf` returns the member's long-lived bucket. Reports whether a table
 * was built.
 *
 * The table is built over every `plan.table` member with Maglev's `eligible` option set from
 * `plan.eligible`: its size follows the configured members, eligible members keep their slots,
 * and only an ineligible member's slots are dealt to the others. A health flip therefore moves
 * the flipped member's clients and no one else's, and nodes that agree on health agree on the
 * table. The Set and the predicate live only for the build; lookups read the finished table,
 * which holds only eligible members (so connect-failure candidates are eligible too).
 */
export function buildRoute(
  plan: ServicePlan,
  previous: ServiceRoute | undefined,
  settings: ServiceSettings,
  bucketOf: (key: string) => MemberBucket,
): { route: ServiceRoute; built: boolean } {
  const eligible = plan.eligible === undefined ? undefined : new Set(plan.eligible);
  const signature = tableSignature(plan.table, eligible);
  const quintuple = plan.algorithm === "QuintupleHash";
  if (previous !== undefined && previous.signature === signature) {
    const same = previous.quintuple === quintuple && previous.proxyProtocol === plan.proxyProtocol;
    const route = same ? previous : new ServiceRoute(plan.id, quintuple, plan.proxyProtocol, previous.table, signature, settings);
    return { route, built: false };
  }
  if (plan.table.length === 0 || (eligible !== undefined && !plan.table.some((m) => eligible.has(m.key)))) {
    return { route: new ServiceRoute(plan.id, quintuple, plan.proxyProtocol, null, signature, settings), built: false };
  }
  const members: RouteMember[] = plan.table.map((m) => ({
    key: m.key,
    address: m.address,
    port: m.port,
    weight: m.weight,
    bucket: bucketOf(m.key),
  }));
  const table = Maglev.build(members, eligible === undefined ? {} : { eligible: (m) => eligible.has(m.key) });
  return { route: new ServiceRoute(plan.id, quintuple, plan.proxyProtocol, table, signature, settings), built: true };
}
