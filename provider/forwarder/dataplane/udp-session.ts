/**
 * One UDP session: (client address, client port, listener) stuck to one member, with its own
 * socket connected to that member. The connected socket is what makes answers find their
 * client (everything it receives is this client's) and what lets an ICMP port-unreachable from
 * the member reach the session (the kernel reports it as ECONNREFUSED on connected sockets only).
 *
 * A session is a Flow, so the data plane drains, sweeps and counts it as it does a connection:
 * it is in its member's bucket once its socket is connected, its idle timeout is the service's
 * `udpSessionTimeoutMs`, and "activity" is datagrams either way. Like a connection's bytes, its
 * datagrams are counted on the session and added to its listener's and member's totals when it
 * ends (the data plane adds those of open sessions to a snapshot).
 *
 * One class per engine: DgramUdpSession here (Node's `dgram`, engine "streams") and
 * NativeUdpSession (native-udp-session.ts, the C relay).
 */
import * as dgram from "node:dgram";
import { isIPv6 } from "node:net";
import type { UdpSessionCounters } from "../native/relay";
import { Flow, type FlowOwner } from "./flow";
import type { ListenerSlot } from "./listener";
import type { RouteMember, ServiceRoute } from "./routes";
import type { UdpListenerTotals } from "./stats";
import type { UdpServer } from "./udp-listener";

export type UdpSlot = ListenerSlot & { readonly udp: UdpListenerTotals };

export type { UdpSessionCounters };

/** Datagrams a session holds while its socket connects; more are dropped, as a full socket buffer would. */
const PENDING_LIMIT = 64;

export abstract class UdpSession extends Flow {
  constructor(
    owner: FlowOwner,
    readonly slot: UdpSlot,
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

  /** Datagrams and bytes each way so far (all of them once the session has ended). */
  abstract counters(): UdpSessionCounters;

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
    const counters = this.counters();
    return counters.datagramsIn + counters.datagramsOut;
  }

  bytesIn(): number {
    return this.counters().bytesIn;
  }

  bytesOut(): number {
    return this.counters().bytesOut;
  }

  /** An error on the session's socket (an ICMP error from the member, mostly) ended it: counted as a failed connect. */
  protected countFailure(): void {
    this.listener.totals.connectFailures++;
    this.member.bucket.totals.connectFailures++;
  }

  /** For the engine's class, once, when the session's socket is closed. */
  protected ended(): void {
    this.onEnd(this);
    this.owner.flowEnded(this);
  }
}

/** A session on Node's `dgram`: every datagram passes through JavaScript. */
export class DgramUdpSession extends UdpSession {
  private socket: dgram.Socket | null = null;
  private pending: Buffer[] | null = [];
  private received = 0;
  private sent = 0;
  private bytesReceived = 0;
  private bytesSent = 0;
  private closed = false;
  /** Until connect's callback: closing the socket now would make Node throw when its connect resumes. */
  private connecting = true;

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
      this.countFailure();
      this.destroy();
    });
    socket.connect(member.port, member.address, () => {
      this.connecting = false;
      if (this.closed) {
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
    if (this.closed) return;
    this.received++;
    this.bytesReceived += message.length;
    if (this.pending === null) (this.socket as dgram.Socket).send(message);
    else if (this.pending.length < PENDING_LIMIT) this.pending.push(message);
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.pending = null;
    const socket = this.socket;
    this.socket = null;
    if (!this.connecting) socket?.close();
    this.ended();
  }

  counters(): UdpSessionCounters {
    return { datagramsIn: this.received, datagramsOut: this.sent, bytesIn: this.bytesReceived, bytesOut: this.bytesSent };
  }

  /** A datagram from the member, for the client (through the listener's socket, so it comes from the listener's address). */
  private answer(message: Buffer): void {
    if (this.closed) return;
    this.sent++;
    this.bytesSent += message.length;
    (this.slot.server as UdpServer | null)?.send(message, this.clientPort, this.clientAddress);
  }
}
