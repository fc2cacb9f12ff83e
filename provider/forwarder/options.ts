/**
 * The node's options: one nested object from the command line (main.ts) through the node
 * (node.ts) and the runtime (runtime/runtime.ts) to every data plane, and every default in one
 * place (DEFAULTS).
 */
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
}

export interface HealthOptions {
  /**
   * Multiplies every health-check duration (timeout, interval). 1 in production; tests use
   * e.g. 0.1 to run the real rules (5 s minimum interval) ten times faster.
   */
  readonly timeScale?: number;
}

export const DEFAULTS = {
  dataPlane: {
    workers: 0,
    connectTimeoutMs: 3000,
    maxConnectAttempts: 3,
    maxConnectionsPerListener: 100_000,
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
} as const;

/** The engine a data plane gets when none is asked for: native when its addon loads here. */
export function defaultEngine(): DataPlaneEngine {
  return nativeRelay() === undefined ? "streams" : "native";
}
