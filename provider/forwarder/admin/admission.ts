import type { Socket } from "node:net";

/**
 * Who may hold one of the admin API's connections. A connection that is not inside a request (its
 * headers are not complete yet, or it sits idle between keep-alive requests) is *waiting*: it costs
 * the node a descriptor and gives nothing back. When every slot is taken, a new connection closes
 * the oldest waiting connection of the source address that has the most of them. A flood of slow
 * clients (slowloris), from one address or many, then only churns itself, and a new client always
 * gets in: its headers arrive at once, while the flood's connections are older and come from the
 * addresses that hold the most. A connection inside
 * a request is never closed for room; when every connection is inside a request, the new one is
 * closed instead.
 */

export interface AdmissionLimits {
  /** Connections open at once: bounds the descriptors the admin API takes (main.ts reserves 512 outside the data plane). */
  readonly maxConnections: number;
}

/** The provider keeps a few connections per node; this leaves room for many programs and operators. */
export const ADMIN_ADMISSION_LIMITS: AdmissionLimits = { maxConnections: 256 };

export interface AdmissionCounts {
  readonly open: number;
  readonly waiting: number;
  /** Waiting connections closed to make room. */
  readonly evicted: number;
  /** New connections closed because every open one was inside a request. */
  readonly refused: number;
}

export class ConnectionAdmission {
  private readonly open = new Set<Socket>();
  /** Waiting connections by source address, each set oldest first (a Set iterates in insertion order). */
  private readonly waitingBySource = new Map<string, Set<Socket>>();
  private readonly sourceOf = new Map<Socket, string>();
  private evicted = 0;
  private refused = 0;

  constructor(private readonly limits: AdmissionLimits = ADMIN_ADMISSION_LIMITS) {
    if (!Number.isInteger(limits.maxConnections) || limits.maxConnections < 1) {
      throw new RangeError(`admission limit maxConnections must be an integer >= 1, got ${String(limits.maxConnections)}`);
    }
  }

  /** A new connection: makes room for it, or closes it when no waiting connection can give way. */
  admit(socket: Socket): void {
    if (this.open.size >= this.limits.maxConnections) {
      const victim = this.oldestOfHeaviestSource();
      if (victim === undefined) {
        this.refused++;
        socket.destroy();
        return;
      }
      this.evicted++;
      // Forgotten now, not at 'close' (a tick later), so the room counts for the connection at hand.
      this.forget(victim);
      victim.destroy();
    }
    this.open.add(socket);
    this.markWaiting(socket);
    socket.once("close", () => this.forget(socket));
  }

  /** Its request's headers are complete: it is no longer a candidate for eviction. */
  requestStarted(socket: Socket): void {
    this.unmarkWaiting(socket);
  }

  /** Its response is sent: waiting again (for the next keep-alive request), and now the newest. */
  requestEnded(socket: Socket): void {
    if (!this.open.has(socket) || socket.destroyed) return;
    this.unmarkWaiting(socket);
    this.markWaiting(socket);
  }

  counts(): AdmissionCounts {
    return { open: this.open.size, waiting: this.sourceOf.size, evicted: this.evicted, refused: this.refused };
  }

  private oldestOfHeaviestSource(): Socket | undefined {
    let heaviest: Set<Socket> | undefined;
    for (const sockets of this.waitingBySource.values()) if (heaviest === undefined || sockets.size > heaviest.size) heaviest = sockets;
    if (heaviest === undefined) return undefined;
    for (const socket of heaviest) return socket;
    return undefined;
  }

  private forget(socket: Socket): void {
    this.open.delete(socket);
    this.unmarkWaiting(socket);
  }

  private markWaiting(socket: Socket): void {
    const source = socket.remoteAddress ?? "";
    this.sourceOf.set(socket, source);
    let sockets = this.waitingBySource.get(source);
    if (sockets === undefined) {
      sockets = new Set();
      this.waitingBySource.set(source, sockets);
    }
    sockets.add(socket);
  }

  private unmarkWaiting(socket: Socket): void {
    const source = this.sourceOf.get(socket);
    if (source === undefined) return;
    this.sourceOf.delete(socket);
    const sockets = this.waitingBySource.get(source);
    sockets?.delete(socket);
    if (sockets?.size === 0) this.waitingBySource.delete(source);
  }
}
