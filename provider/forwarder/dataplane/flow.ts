/**
 * What the data plane keeps of one proxied connection, whichever engine carries its bytes: the
 * base of StreamFlow (stream-flow.ts, Node sockets) and NativeFlow (native-flow.ts, the C relay).
 */
import { emptyLinks, type FlowLinks } from "./flow-list";
import { encodeProxyHeader } from "./proxy-protocol";
import type { RouteMember, ServiceRoute } from "./routes";
import type { RejectReason, TrafficTotals } from "./stats";

/** The listener side of a flow: counters the flow updates. */
export interface FlowListener {
  readonly totals: TrafficTotals;
  readonly rejected: Record<RejectReason, number>;
}

/** What the data plane provides to its flows. */
export interface FlowOwner {
  readonly connectTimeoutMs: number;
  readonly maxConnectAttempts: number;
  /** Caps the kernel buffers of a member's socket (0: the kernel's); see DataPlaneSettings. */
  readonly socketBufferBytes: number;
  /** The flow's backend connection is established (it has joined its member's bucket). */
  flowConnected(flow: Flow): void;
  /** Every socket of the flow has closed: account for it and forget it. */
  flowEnded(flow: Flow): void;
}

/**
 * What the data plane keeps of a connection, whichever engine carries its bytes: where it came
 * from and goes, whether it is established, its byte counters and idle bookkeeping, and the
 * fallback to the flow's next Maglev candidates.
 */
export abstract class Flow {
  /** The member being connected to, then the member connected to. */
  member: RouteMember;
  connected = false;
  /** Idle detection (see DataPlane.sweep): bytes seen at the last sweep and when they last changed. */
  lastActivity = 0;
  lastActiveAt = 0;
  /** When the sweep last asked whether the flow is abandoned. */
  abandonCheckedAt = 0;
  /** Links in the data plane's list of open connections, and in the member's. */
  readonly inPlane: FlowLinks = emptyLinks();
  readonly inBucket: FlowLinks = emptyLinks();
  /** Members tried so far. */
  private attempts = 1;
  private candidates: RouteMember[] | null = null;

  constructor(
    readonly owner: FlowOwner,
    readonly listener: FlowListener,
    readonly route: ServiceRoute,
    readonly hash: number,
    member: RouteMember,
  ) {
    this.member = member;
  }

  /** Closes both sides now (draining, idle timeout, shutdown). */
  abstract destroy(): void;
  /** Resets both sides now: what is queued on either side is thrown away, and its kernel memory freed. */
  abstract reset(): void;
  /** Bytes wait for a side that takes none of them, and the side they came from has closed or reset. */
  abstract abandoned(): boolean;
  /** Bytes received from the client so far (forwarded to the member). */
  abstract bytesIn(): number;
  /** Bytes received from the member so far (forwarded to the client). */
  abstract bytesOut(): number;

  /** How long the flow may go without activity before the sweep closes it. */
  idleTimeoutMs(): number {
    return this.route.settings.idleTimeoutMs;
  }

  /** Bytes moved either way so far, for idle detection. */
  activity(): number {
    return this.bytesIn() + this.bytesOut();
  }

  /** The next distinct member to try after a failed connect, or undefined when the attempts are used up. */
  nextCandidate(): RouteMember | undefined {
    const table = this.route.table;
    if (table === null || this.attempts >= this.owner.maxConnectAttempts) return undefined;
    // Computed only on the first failure: the common path never walks the table.
    this.candidates ??= table.candidates(this.hash, this.owner.maxConnectAttempts);
    return this.candidates[this.attempts++];
  }
}

/** The PROXY protocol header a connection of `route` starts with (both engines), or undefined when the service sends none. */
export function proxyHeaderFor(route: ServiceRoute, remoteAddress: string, remotePort: number, localAddress: string, localPort: number): Buffer | undefined {
  if (route.proxyProtocol === "off") return undefined;
  return encodeProxyHeader(route.proxyProtocol, {
    sourceAddress: remoteAddress,
    sourcePort: remotePort,
    destinationAddress: localAddress,
    destinationPort: localPort,
  });
}
