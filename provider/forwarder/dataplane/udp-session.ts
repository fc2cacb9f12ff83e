/**
 * One UDP session: (client address, client port, listener) stuck to one member, with its own
 * socket connected to that member. The connected socket is what makes answers find their
 * client (everything it receives is this client's) and what lets an ICMP port-unreachable from
 * the member reach the session (the kernel reports it as ECONNREFUSED on connected sockets only).
 *
 * A session is a Flow, so the data plane drains, sweeps and counts it as it does a connection:
 * it is in its member's bucket once its socket is connected, its idle timeout is the service's
 * `udpSessionTimeoutMs`, and "activity" is datagrams either way.
 */
import * as dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { Flow, type FlowOwner } from "./flow";
import type { ListenerSlot } from "./listener";
import type { RouteMember, ServiceRoute } from "./routes";
import { emptyDatagramTotals, type DatagramTotals, type UdpListenerTotals } from "./stats";
import type { UdpServer } from "./udp-listener";

/** Datagrams a session holds while its socket connects; more are dropped, as a full socket buffer would. */
const PENDING_LIMIT = 64;

export class UdpSession extends Flow {
  private socket: dgram.Socket | null = null;
  private pending: Buffer[] | null = [];
  private received = 0;
  private sent = 0;
  private bytesReceived = 0;
  private bytesSent = 0;
  private ended = false;
  /** Until connect's callback: closing the socket now would make Node throw when its connect resumes. */
  private connecting = true;

  constructor(
    owner: FlowOwner,
    readonly slot: ListenerSlot & { readonly udp: UdpListenerTotals },
    route: ServiceRoute,
    hash: number,
    member: RouteMember,
    /** The session table's key for this session. */
    readonly tableKey: string,
    readonly clientAddress: string,
    readonly clientPort: number,
    /** Called once when the session ends, before the owner's `flowEnded`. */
    private readonly onEnd: (session: UdpSession) => void,
  ) {
    super(owner, slot, route, hash, member);
  }

  /** Opens the socket towards the member; `first` is sent once it is connected. */
  start(first: Buffer): void {
    const member = this.member;
    const socket = dgram.createSocket(isIPv6(member.address) ? "udp6" : "udp4");
    this.socket = socket;
    this.forward(first);
    socket.on("message", (message) => this.answer(message));
    // After connect, an error is an ICMP error from the member for an earlier datagram.
    socket.on("error", () => {
      this.connecting = false;
      this.listener.totals.connectFailures++;
      member.bucket.totals.connectFailures++;
      this.destroy();
    });
    socket.connect(member.port, member.address, () => {
      this.connecting = false;
      if (this.ended) {
        socket.close();
        return;
      }
      this.connected = true;
      this.owner.flowConnected(this);
      const pending = this.pending ?? [];
      this.pending = null;
      for (const message of pending) socket.send(message);
    });
  }

  /** A datagram from the client, for the member. */
  forward(message: Buffer): void {
    if (this.ended) return;
    this.received++;
    this.bytesReceived += message.length;
    this.slot.udp.datagramsIn++;
    datagramsOf(this.member).datagramsIn++;
    if (this.pending === null) (this.socket as dgram.Socket).send(message);
    else if (this.pending.length < PENDING_LIMIT) this.pending.push(message);
  }

  destroy(): void {
    if (this.ended) return;
    this.ended = true;
    this.pending = null;
    const socket = this.socket;
    this.socket = null;
    if (!this.connecting) socket?.close();
    this.onEnd(this);
    this.owner.flowEnded(this);
  }

  /** A datagram socket has nothing queued to throw away: as destroy. */
  reset(): void {
    this.destroy();
  }

  /** Datagrams are not retransmitted: nothing waits on a side that takes none. */
  abandoned(): boolean {
    return false;
  }

  override idleTimeoutMs(): number {
    return this.route.settings.udpSessionTimeoutMs;
  }

  override activity(): number {
    return this.received + this.sent;
  }

  bytesIn(): number {
    return this.bytesReceived;
  }

  bytesOut(): number {
    return this.bytesSent;
  }

  /** A datagram from the member, for the client (through the listener's socket, so it comes from the listener's address). */
  private answer(message: Buffer): void {
    if (this.ended) return;
    this.sent++;
    this.bytesSent += message.length;
    this.slot.udp.datagramsOut++;
    datagramsOf(this.member).datagramsOut++;
    (this.slot.server as UdpServer | null)?.send(message, this.clientPort, this.clientAddress);
  }
}

function datagramsOf(member: RouteMember): DatagramTotals {
  member.bucket.udp ??= emptyDatagramTotals();
  return member.bucket.udp;
}
