/**
 * Traffic counters of the data plane, kept as plain numbers on long-lived objects (one per
 * listener, one per member of a service) so that the hot path only increments fields. Byte
 * counts are not touched per chunk: a closed connection adds its two sockets' `bytesRead` once
 * (client side: bytes in; member side: bytes out), and a snapshot adds those of the connections
 * still open.
 *
 * Snapshots are plain data, so they can cross a process boundary as they are.
 */

export type ListenerState = "Listening" | "Failed" | "NoBackend";

/** Why a client was reset without being forwarded. */
export type RejectReason = "no_backend" | "limit" | "connect_failed";

export interface TrafficTotals {
  /** Connections forwarded (listener: clients accepted; member: backend connections established). */
  connections: number;
  /** Backend connect attempts that failed (refused, unreachable, timed out). */
  connectFailures: number;
  /** Bytes received from clients (and sent on to members). */
  bytesIn: number;
  /** Bytes sent to clients (received from members). */
  bytesOut: number;
}

export function emptyTotals(): TrafficTotals {
  return { connections: 0, connectFailures: 0, bytesIn: 0, bytesOut: 0 };
}

/**
 * A UDP listener's or member's datagram counters. For UDP, the TrafficTotals fields count
 * sessions: `connections` sessions opened, `active` sessions open, `connectFailures` sessions
 * ended by an ICMP error from the member (ECONNREFUSED on the session's connected socket).
 */
export interface DatagramTotals {
  /** Datagrams received from clients (and sent on to members). */
  datagramsIn: number;
  /** Datagrams sent to clients (received from members). */
  datagramsOut: number;
}

export interface UdpListenerTotals extends DatagramTotals {
  /** Sessions closed to make room for a new one because the session table was full. */
  evictions: number;
}

export function emptyDatagramTotals(): DatagramTotals {
  return { datagramsIn: 0, datagramsOut: 0 };
}

export interface ListenerStats extends TrafficTotals {
  readonly id: string;
  readonly port: number;
  readonly serviceId?: string;
  readonly state: ListenerState;
  readonly error?: string;
  /** Clients open now, including those whose backend connection is still being made. */
  readonly active: number;
  readonly rejected: Readonly<Record<RejectReason, number>>;
  /** UDP listeners only. */
  readonly udp?: Readonly<UdpListenerTotals>;
}

export interface MemberStats extends TrafficTotals {
  readonly serviceId: string;
  readonly key: string;
  /** Established connections open now. */
  readonly active: number;
  /** True while the member's connections are counting down to being closed. */
  readonly draining: boolean;
  /** Members of UDP services only (once a session has used them). */
  readonly udp?: Readonly<DatagramTotals>;
}

export interface ServiceStats {
  readonly id: string;
  /** Maglev tables built for this service since start (a plan with an unchanged member set reuses the table). */
  readonly tablesBuilt: number;
  readonly tableSize: number;
}

export interface DataPlaneStats {
  readonly listeners: readonly ListenerStats[];
  readonly members: readonly MemberStats[];
  readonly services: readonly ServiceStats[];
}
