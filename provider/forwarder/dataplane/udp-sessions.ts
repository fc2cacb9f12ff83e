/**
 * The UDP session table of one data plane: finds a datagram's session by (listener, client
 * address, client port) or opens one, and keeps the table bounded.
 *
 * - A session keeps its member while the member stays in its service's table: when a new plan
 *   makes the member ineligible (Unhealthy) or moves the listener to another service, the
 *   session is closed at its next datagram and that datagram picks again, so a client is moved
 *   at once rather than sending into a member that is down. A member that leaves the plan
 *   (removed or disabled) is drained instead: its sessions carry on until the service's
 *   draining timeout closes them, as its connections would.
 * - Full table: the oldest session (the first opened) is closed to make room, and counted on
 *   its listener as an eviction. Oldest-opened rather than least-recently-used, so that a
 *   datagram costs no reordering of the table.
 */
import type { ListenerSlot } from "./listener";
import type { RouteMember, ServiceRoute } from "./routes";
import type { RejectReason, UdpListenerTotals } from "./stats";
import type { UdpServer } from "./udp-listener";
import { UdpSession } from "./udp-session";

export type UdpSlot = ListenerSlot & { readonly udp: UdpListenerTotals };

/** What the table needs from its data plane. */
export interface UdpSessionOwner {
  /** Counts a new session and picks its member, or says why its datagram is dropped. */
  pickUdp(slot: UdpSlot, clientAddress: string, clientPort: number, localAddress: string, localPort: number): { member: RouteMember; hash: number } | RejectReason;
  /** A session was opened: the data plane tracks it as it tracks a connection. */
  sessionOpened(session: UdpSession): void;
  readonly flowOwner: ConstructorParameters<typeof UdpSession>[0];
}

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

  /** A datagram `message` from a client reached `slot`'s socket `server`. */
  receive(slot: UdpSlot, server: UdpServer, message: Buffer, clientAddress: string, clientPort: number): void {
    const key = `${slot.id} ${clientAddress} ${clientPort}`;
    let session = this.sessions.get(key);
    if (session !== undefined && !this.keeps(session, slot.route)) {
      session.destroy();
      session = undefined;
    }
    if (session !== undefined) {
      session.forward(message);
      return;
    }
    const picked = this.owner.pickUdp(slot, clientAddress, clientPort, server.localAddress, server.localPort);
    if (typeof picked === "string") {
      slot.rejected[picked]++;
      return;
    }
    while (this.sessions.size >= this.maxSessions) this.evictOldest();
    session = new UdpSession(this.owner.flowOwner, slot, slot.route as ServiceRoute, picked.hash, picked.member, key, clientAddress, clientPort, (ended) => {
      if (this.sessions.get(ended.tableKey) === ended) this.sessions.delete(ended.tableKey);
    });
    this.sessions.set(key, session);
    this.owner.sessionOpened(session);
    session.start(message);
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
