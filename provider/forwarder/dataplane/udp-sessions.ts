/**
 * The UDP session table of one data plane: finds a datagram's session by (listener, client
 * address, client port) or opens one, and keeps the table bounded. With the native engine the
 * relay finds a datagram's session itself and comes here only for a new client (`opened`).
 *
 * - A session keeps its member while the member stays in its service's table: when a new plan
 *   makes the member ineligible (Unhealthy) or moves the listener to another service, the
 *   session is closed at its next datagram and that datagram picks again, so a client is moved
 *   at once rather than sending into a member that is down. A member that leaves the plan
 *   (removed or disabled) is drained instead: its sessions carry on until the service's
 *   draining timeout closes them, as its connections would. The native relay sees the next
 *   datagram without asking: `recheck`, after each plan, marks the sessions it must move.
 * - Full table: the oldest session (the first opened) is closed to make room, and counted on
 *   its listener as an eviction. Oldest-opened rather than least-recently-used, so that a
 *   datagram costs no reordering of the table.
 */
import type { NativeRelay } from "../native/relay";
import { NativeUdpSession } from "./native-udp-session";
import type { RouteMember, ServiceRoute } from "./routes";
import type { RejectReason } from "./stats";
import type { UdpServer } from "./udp-listener";
import { DgramUdpSession, type UdpSession, type UdpSlot } from "./udp-session";

export type { UdpSlot };

/** What the table needs from its data plane. */
export interface UdpSessionOwner {
  /** Counts a new session and picks its member, or says why its datagram is dropped. */
  pickUdp(slot: UdpSlot, clientAddress: string, clientPort: number, localAddress: string, localPort: number): Picked | RejectReason;
  /** A session was opened: the data plane tracks it as it tracks a connection. */
  sessionOpened(session: UdpSession): void;
  readonly flowOwner: ConstructorParameters<typeof DgramUdpSession>[0];
}

interface Picked {
  readonly member: RouteMember;
  readonly hash: number;
}

/** What an engine's session class is made from. */
type SessionParts = [ServiceRoute, number, RouteMember, string, string, number, (ended: UdpSession) => void];

export class UdpSessionTable {
  /** In the order opened, so the first is the one to evict. */
  private readonly sessions = new Map<string, UdpSession>();
  private readonly eligibleKeys = new WeakMap<ServiceRoute, ReadonlySet<string>>();

  constructor(
    private readonly owner: UdpSessionOwner,
    readonly maxSessions: number,
  ) {}

  get size(): number {
    return this.sessions.size;
  }

  /** Engine "streams": a datagram `message` from a client reached `slot`'s socket `server`. */
  receive(slot: UdpSlot, server: UdpServer, message: Buffer, clientAddress: string, clientPort: number): void {
    const key = tableKey(slot, clientAddress, clientPort);
    let session = this.sessions.get(key) as DgramUdpSession | undefined;
    if (session !== undefined && !this.keeps(session, slot.route)) {
      session.destroy();
      session = undefined;
    }
    if (session !== undefined) {
      session.forward(message);
      return;
    }
    const opened = this.open(slot, key, clientAddress, clientPort, server.localAddress, server.localPort, (parts) => new DgramUdpSession(this.owner.flowOwner, slot, ...parts));
    opened?.start(message);
  }

  /**
   * Engine "native": the relay holds a new client's first datagram as session `sessionId` of
   * `slot`'s listener. Connects it to the member picked, or closes it (its datagrams are dropped).
   */
  opened(slot: UdpSlot, relay: NativeRelay, sessionId: number, clientAddress: string, clientPort: number, localAddress: string, localPort: number): void {
    const key = tableKey(slot, clientAddress, clientPort);
    const open = (parts: SessionParts): NativeUdpSession => new NativeUdpSession(this.owner.flowOwner, slot, ...parts, relay, sessionId);
    const session = this.open(slot, key, clientAddress, clientPort, localAddress, localPort, open);
    if (session === undefined) relay.udpClose(sessionId);
    else session.start();
  }

  /** Engine "native", after a plan is applied: the sessions that must move do so at their next datagram. */
  recheck(): void {
    for (const session of this.sessions.values()) {
      if (session instanceof NativeUdpSession && !this.keeps(session, session.slot.route)) session.repick();
    }
  }

  /** Picks a new client's member and makes room for its session; undefined when its datagrams are dropped. */
  private open<S extends UdpSession>(
    slot: UdpSlot,
    key: string,
    clientAddress: string,
    clientPort: number,
    localAddress: string,
    localPort: number,
    create: (parts: SessionParts) => S,
  ): S | undefined {
    const picked = this.owner.pickUdp(slot, clientAddress, clientPort, localAddress, localPort);
    if (typeof picked === "string") {
      slot.rejected[picked]++;
      return undefined;
    }
    while (this.sessions.size >= this.maxSessions) this.evictOldest();
    const session = create([slot.route as ServiceRoute, picked.hash, picked.member, key, clientAddress, clientPort, (ended) => this.forget(ended)]);
    this.sessions.set(key, session);
    this.owner.sessionOpened(session);
    return session;
  }

  private forget(session: UdpSession): void {
    if (this.sessions.get(session.tableKey) === session) this.sessions.delete(session.tableKey);
  }

  /** Whether `session` may carry on under the listener's current route (see the header comment). */
  private keeps(session: UdpSession, route: ServiceRoute | null): boolean {
    if (session.route === route) return true;
    const bucket = session.member.bucket;
    if (!bucket.retained) return !bucket.drained;
    if (route === null || route.id !== session.route.id || route.table === null) return false;
    return this.eligible(route).has(session.member.key);
  }

  private eligible(route: ServiceRoute): ReadonlySet<string> {
    let keys = this.eligibleKeys.get(route);
    if (keys === undefined) {
      keys = new Set((route.table?.members ?? []).map((m) => m.key));
      this.eligibleKeys.set(route, keys);
    }
    return keys;
  }

  private evictOldest(): void {
    const oldest = this.sessions.values().next().value as UdpSession | undefined;
    if (oldest === undefined) return;
    this.sessions.delete(oldest.tableKey);
    oldest.slot.udp.evictions++;
    oldest.destroy();
  }
}

function tableKey(slot: UdpSlot, clientAddress: string, clientPort: number): string {
  return `${slot.id} ${clientAddress} ${clientPort}`;
}
