/**
 * The data plane's whole input: a plain, JSON-serializable "plan" that the control part
 * (runtime.ts) derives from the configuration and the members' health, and that the data plane
 * turns into listening sockets and Maglev tables.
 *
 * Keeping this boundary plain data (no class instances, no Maps, no callbacks) is deliberate: a
 * later change can run the data plane in worker processes and ship each new plan over IPC, while
 * health checking and the admin API stay in one control process.
 */

/** The model's Transport, spelled here: the data plane does not import the model (docs/ARCHITECTURE.md). */
export type Transport = "TCP" | "UDP";
export type Algorithm = "IpHash" | "QuintupleHash";
export type ProxyProtocolMode = "off" | "v1" | "v2";

/** A member as the data plane needs it: where to connect and how much traffic it takes. */
export interface PlanMember {
  /** memberKey(address, port): the member's identity in the table and in statistics. */
  readonly key: string;
  /** Canonical IP literal (the model normalizes addresses), so no name lookup ever happens. */
  readonly address: string;
  readonly port: number;
  /** 1-100 (a high-availability group's members all weigh 1). */
  readonly weight: number;
}

export interface ServicePlan {
  readonly id: string;
  /** Unset: TCP. A service's listeners have its protocol (the store refuses any other). */
  readonly protocol?: Transport;
  readonly algorithm: Algorithm;
  readonly proxyProtocol: ProxyProtocolMode;
  /** A connection with no byte either way for this long is closed. */
  readonly idleTimeoutMs: number;
  /**
   * UDP services only: a session (client address and port, listener) with no datagram either
   * way for this long is forgotten, so the client's next datagram is hashed afresh.
   */
  readonly udpSessionTimeoutMs?: number;
  /** A member's open connections are closed this long after it leaves `retained`. */
  readonly drainingTimeoutMs: number;
  /**
   * Members the table is sized and built over: the enabled members, healthy or not (disabling
   * is a configuration change and takes a member out of the table). Empty: new clients are reset.
   */
  readonly table: readonly PlanMember[];
  /**
   * Keys of the `table` members that take new connections (Maglev's `eligible`): the enabled
   * and Healthy members, or every enabled member when health checks are off or none is
   * Healthy (fail open). Unset: every `table` member. A health change only changes this list,
   * so the table keeps its size and every eligible member keeps its slots: only the clients of
   * a member that goes down move, and exactly those come back when it recovers. None of
   * `table` eligible: new clients are reset.
   */
  readonly eligible?: readonly string[];
  /**
   * Keys of the members whose open connections stay (the enabled members, healthy or not). A
   * member that leaves this set (removed or disabled) is drained. Today it names the same
   * members as `table`.
   */
  readonly retained: readonly string[];
}

export interface ListenerPlan {
  readonly id: string;
  /** Unset: TCP. Listeners are unique by (protocol, port): a TCP and a UDP listener may share a port. */
  readonly protocol?: Transport;
  readonly port: number;
  /** The backend service id; unset (or a service with an empty table): new clients are reset. */
  readonly serviceId?: string;
}

export interface DataPlanePlan {
  readonly listeners: readonly ListenerPlan[];
  readonly services: readonly ServicePlan[];
}

export const EMPTY_PLAN: DataPlanePlan = { listeners: [], services: [] };

/** A listener's or a service's transport: plans written before UDP existed carry none and are TCP. */
export function transportOf(plan: { readonly protocol?: Transport }): Transport {
  return plan.protocol ?? "TCP";
}
