/**
 * One UDP session on the native relay (engine "native"): the same contract as DgramUdpSession
 * (udp-session.ts) with the socket, the datagrams and their counters in C (native/relay.c). What
 * is left here runs once or twice per session, never per datagram: the connect to the member
 * picked for the client's first datagram, and the end.
 */
import type { NativeRelay, RelayUdpSessionHandler, UdpSessionCounters } from "../native/relay";
import type { FlowOwner } from "./flow";
import type { RouteMember, ServiceRoute } from "./routes";
import { UdpSession, type UdpSlot } from "./udp-session";

const NOTHING: UdpSessionCounters = { datagramsIn: 0, datagramsOut: 0, bytesIn: 0, bytesOut: 0 };

export class NativeUdpSession extends UdpSession implements RelayUdpSessionHandler {
  /** Set when the session has ended: its counters from then on. */
  private final: UdpSessionCounters | undefined = undefined;

  constructor(
    owner: FlowOwner,
    slot: UdpSlot,
    route: ServiceRoute,
    hash: number,
    member: RouteMember,
    tableKey: string,
    clientAddress: string,
    clientPort: number,
    onEnd: (session: UdpSession) => void,
    private readonly relay: NativeRelay,
    readonly id: number,
  ) {
    super(owner, slot, route, hash, member, tableKey, clientAddress, clientPort, onEnd);
  }

  /** Connects the session to its member, which sends the datagrams the relay held for it. */
  start(): void {
    const member = this.member;
    if (this.relay.udpConnect(this.id, this, member.address, member.port) !== undefined) {
      this.final = this.relay.udpCounters(this.id) ?? NOTHING;
      this.relay.udpClose(this.id);
      this.countFailure();
      this.ended();
      return;
    }
    this.connected = true;
    this.owner.flowConnected(this);
  }

  destroy(): void {
    if (this.final === undefined) this.relay.udpClose(this.id);
  }

  /** The client's next datagram ends this session and picks a member again (see udp-sessions.ts). */
  repick(): void {
    if (this.final === undefined) this.relay.udpRepick(this.id);
  }

  counters(): UdpSessionCounters {
    return this.final ?? this.relay.udpCounters(this.id) ?? NOTHING;
  }

  closed(totals: UdpSessionCounters, failed: boolean): void {
    this.final = totals;
    if (failed) this.countFailure();
    this.ended();
  }
}
