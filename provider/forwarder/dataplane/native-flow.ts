/**
 * One proxied connection on the native relay (engine "native"): the same contract as StreamFlow
 * (stream-flow.ts) with the sockets, the byte copying, half-close and back-pressure in C
 * (native/relay.c). What is left here runs at most three times per connection: the connect
 * result (the next candidate after a failure), the accounting, and the end.
 */
import type { NativeRelay, RelayFlowHandler } from "../native/relay";
import { Flow, type FlowListener, type FlowOwner } from "./flow";
import type { RouteMember, ServiceRoute } from "./routes";

/** libuv's EINVAL: an attempt that could not even start counts as a failed connect. */
const UV_EINVAL = -22;

export class NativeFlow extends Flow implements RelayFlowHandler {
  private ended = false;
  private finalBytesIn = 0;
  private finalBytesOut = 0;

  constructor(
    owner: FlowOwner,
    listener: FlowListener,
    route: ServiceRoute,
    hash: number,
    private readonly relay: NativeRelay,
    readonly id: number,
    member: RouteMember,
  ) {
    super(owner, listener, route, hash, member);
  }

  /** Connects to `member` (the table's pick); `header` is the PROXY protocol header, if the service sends one. */
  start(header: Buffer | undefined): void {
    this.connect(this.member, header);
  }

  destroy(): void {
    if (!this.ended) this.relay.destroy(this.id);
  }

  reset(): void {
    if (!this.ended) this.relay.reset(this.id);
  }

  abandoned(): boolean {
    return !this.ended && this.relay.abandoned(this.id);
  }

  bytesIn(): number {
    return this.ended ? this.finalBytesIn : this.relay.bytesIn(this.id);
  }

  bytesOut(): number {
    return this.ended ? this.finalBytesOut : this.relay.bytesOut(this.id);
  }

  connectResult(status: number): void {
    if (status === 0) {
      this.connected = true;
      this.owner.flowConnected(this);
      return;
    }
    this.member.bucket.totals.connectFailures++;
    this.listener.totals.connectFailures++;
    const next = this.nextCandidate();
    if (next === undefined) {
      this.listener.rejected.connect_failed++;
      this.relay.reset(this.id);
      return;
    }
    this.connect(next, undefined);
  }

  closed(bytesIn: number, bytesOut: number): void {
    this.ended = true;
    this.finalBytesIn = bytesIn;
    this.finalBytesOut = bytesOut;
    this.owner.flowEnded(this);
  }

  private connect(member: RouteMember, header: Buffer | undefined): void {
    this.member = member;
    const code = this.relay.connect(this.id, this, member.address, member.port, this.owner.connectTimeoutMs, this.owner.socketBufferBytes, header);
    if (code !== undefined) this.connectResult(UV_EINVAL);
  }
}
