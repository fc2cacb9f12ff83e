/**
 * The node's options: one nested object from the command line (main.ts) through the node
 * (node.ts) and the runtime (runtime/runtime.ts) to every data plane, and every default in one
 * place (DEFAULTS).
 */
import type { AdminTlsFiles } from "./admin/tls";
import { nativeRelay } from "./native/relay";

export type DataPlaneEngine = "native" | "streams";

/** What one data plane runs with: the node's own, or each worker's (shipped over IPC). */
export interface DataPlaneSettings {
  /** Listeners bind here, e.g. "0.0.0.0" or "127.0.1.1". */
  readonly listenAddress: string;
  /** The load balancer's flow-hash seed (DNLB_HASH_SEED). Never logged. */
  readonly hashSeed: string;
  /**
   * Who moves the bytes: "native" (the C relay on Node's loop, native/relay.c: less than half
   * the CPU per connection) or "streams" (Node's net.Socket). Default: defaultEngine(); asking
   * for native where it cannot load throws, naming why.
   */
  readonly engine?: DataPlaneEngine;
  readonly connectTimeoutMs?: number;
  /** Distinct members tried for one client before it is reset. */
  readonly maxConnectAttempts?: number;
  /** Clients open at once per listener; beyond it new clients are reset and counted as rejected. */
  readonly maxConnectionsPerListener?: number;
  /**
   * Proxied connections open at once in this data-plane process, across all its listeners; beyond
   * it new clients are reset and counted as rejected `limit`. Descriptors are per process (each
   * worker has its own table), so this is per process, never split between workers. Default: what
   * the process's open-files limit allows with descriptors kept for the admin API, probes and the
   * store (connectionBudget, dataplane/descriptors.ts).
   */
  readonly maxConnections?: number;
  /**
   * Caps the kernel's receive and send buffers (SO_RCVBUF, SO_SNDBUF) of both sockets of every
   * proxied connection, so that a member that stops reading pins a bounded amount of kernel memory
   * per client instead of what autotuning grows to (net.ipv4.tcp_rmem's maximum). The kernel
   * doubles the value and caps it at net.core.rmem_max / wmem_max. 0: the kernel's autotuning.
   * Native engine only: Node's sockets have no setter for these (docs/RELIABILITY.md).
   */
  readonly socketBufferBytes?: number;
  /**
   * A connection whose bytes wait for a side that takes none of them, while the side they came
   * from has closed or reset, is reset on both sides after this long without progress, instead
   * of living until the idle timeout: nobody is left to receive an answer.
   */
  readonly abandonedTimeoutMs?: number;
  /**
   * UDP sessions open at once in this data-plane process, over all its listeners; a new session
   * beyond it closes the oldest (counted as an eviction). Each session holds one descriptor.
   */
  readonly maxUdpSessions?: number;
  /** Idle-connection sweep period. */
  readonly sweepIntervalMs?: number;
  /** How often a listener that could not bind is retried. */
  readonly bindRetryIntervalMs?: number;
}

/** The node's data plane: its settings, and how many processes share them. */
export interface NodeDataPlaneOptions extends DataPlaneSettings {
  /**
   * Data-plane worker processes. 0: the data plane runs in the node's own process. N >= 1: it
   * runs in N worker processes sharing every listener port (workers/pool.ts), which split
   * `maxConnectionsPerListener` between them; health checks, status and metrics stay in the node.
   * Even one worker is cheaper per connection than the data plane in the node's process, which
   * also runs the admin API and the process metrics (docs/BENCHMARKS.md).
   */
  readonly workers?: number;
  /** Why `engine` was chosen, for status and metrics (main.ts knows the flags); unset: the runtime says. */
  readonly engineReason?: string;
}

export interface AdminOptions {
  /** Port 0 binds an ephemeral port (see ForwarderNode.adminAddress). */
  readonly host: string;
  readonly port: number;
  /** Bearer token for `/v1`. Never logged. */
  readonly token: string;
  /** Serve HTTPS with this certificate and key, reloaded when the files change. Unset: plain HTTP. */
  readonly tls?: AdminTlsFiles;
  /** `/metrics` needs the bearer token too. Default false: open, on the admin address only. */
  readonly metricsRequireToken?: boolean;
}

export interface HealthOptions {
  /**
   * Multiplies every health-check duration (timeout, interval). 1 in production; tests use
   * e.g. 0.1 to run the real rules (5 s minimum interval) ten times faster.
   */
  readonly timeScale?: number;
}

/** One BGP session; each has its own timers, as BIRD configures them per `protocol bgp`. */
export interface BgpPeer {
  readonly address: string;
  readonly asn: number;
  /** 0 turns keepalives and the hold timer off (RFC 4271), else 3-65535. */
  readonly holdTimeSeconds: number;
  /** BFD with this peer: a silent node is noticed in about 0.3 s instead of the hold time. */
  readonly bfd: boolean;
}

export interface BgpOptions {
  readonly localAsn: number;
  /** Unset: BIRD picks one of the node's addresses. */
  readonly routerId?: string;
  readonly peers: readonly BgpPeer[];
}

/** One virtual IP served by every node (--vip): the listeners bind it and BGP announces it. */
export interface VipOptions {
  readonly address: string;
  /** Unset: the node binds the VIP and announces nothing (another speaker or static routes). */
  readonly bgp?: BgpOptions;
  /** BIRD 2's `bird`; `birdc` next to it. */
  readonly birdBinary?: string;
  /** On SIGTERM, the time between the withdrawal and closing the listeners, for routers to converge. */
  readonly withdrawGraceMs?: number;
}

export const DEFAULTS = {
  dataPlane: {
    workers: 0,
    connectTimeoutMs: 3000,
    maxConnectAttempts: 3,
    maxConnectionsPerListener: 100_000,
    /** 256 KiB (512 KiB of kernel memory per buffer): bulk throughput as with autotuning (docs/RELIABILITY.md). */
    socketBufferBytes: 256 * 1024,
    abandonedTimeoutMs: 10_000,
    maxUdpSessions: 100_000,
    /** A UDP service's session idle timeout when its plan carries none (the model's default). */
    udpSessionTimeoutMs: 120_000,
    sweepIntervalMs: 250,
    bindRetryIntervalMs: 5000,
  },
  health: { timeScale: 1 },
  /** How long open connections may finish when the node closes. */
  shutdownGraceMs: 10_000,
  /** Register prom-client's process metrics (`dnlb_process_...`, `dnlb_nodejs_...`). */
  defaultMetrics: true,
  vip: { birdBinary: "bird", withdrawGraceMs: 2000, holdTimeSeconds: 3 },
} as const;

/** What `socketBufferBytes` may be: 0 (the kernel's autotuning), or from 4 KiB to 1 GiB (the kernel takes an int, and doubles it). */
export const SOCKET_BUFFER_BYTES = { min: 4096, max: 1 << 30 } as const;

export function validSocketBufferBytes(value: number): boolean {
  return value === 0 || (Number.isInteger(value) && value >= SOCKET_BUFFER_BYTES.min && value <= SOCKET_BUFFER_BYTES.max);
}

/** The engine a data plane gets when none is asked for: native when its addon loads here. */
export function defaultEngine(): DataPlaneEngine {
  return nativeRelay() === undefined ? "streams" : "native";
}
