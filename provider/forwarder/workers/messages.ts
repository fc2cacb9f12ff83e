/**
 * What the node's primary process and its data-plane workers say to each other over the IPC
 * channel of `child_process.fork`. Everything is plain JSON: plans (dataplane/plan.ts) and stats
 * snapshots (dataplane/stats.ts) were designed to cross this boundary as they are.
 *
 * The primary sends `init` first (the hash seed travels here, never in argv or the environment,
 * where other users could read it), then a `plan` whenever the configuration or health changes,
 * and `close` at shutdown. A worker answers every plan with `applied` (including a fresh stats
 * snapshot, so that a status read right after a write sees it), and pushes `stats` periodically.
 * Around a configuration write, `prepare` (answered with `prepared`) and `release` drive
 * DataPlane.prepare and DataPlane.release.
 *
 * A worker asks for each listener port's socket (TCP or UDP) with `socket-request`; the primary
 * answers each request with one `socket` message, carrying the socket it bound as the message's
 * handle, or the reason it cannot bind the port (workers/bound-sockets.ts).
 */
import type { DataPlaneEvent } from "../dataplane/dataplane";
import type { DataPlanePlan, ListenerPlan, Transport } from "../dataplane/plan";
import type { DataPlaneStats } from "../dataplane/stats";
import type { DataPlaneSettings } from "../options";

/** What a worker's data plane is started with: the node's data-plane options, shipped over IPC. */
export interface WorkerSettings extends DataPlaneSettings {
  /** How often the worker pushes a stats snapshot. */
  readonly statsIntervalMs: number;
}

export type ToWorker =
  | { readonly type: "init"; readonly settings: WorkerSettings }
  | { readonly type: "plan"; readonly seq: number; readonly plan: DataPlanePlan }
  | { readonly type: "prepare"; readonly seq: number; readonly listeners: readonly ListenerPlan[] }
  | { readonly type: "release" }
  | { readonly type: "close"; readonly graceMs: number }
  /** Sent with the bound socket as handle; without one when `error` says why there is none. */
  | { readonly type: "socket"; readonly transport: Transport; readonly port: number; readonly error?: string };

/** A worker process's own resource use, reported with its stats. */
export interface WorkerUsage {
  readonly rssBytes: number;
  readonly cpuSeconds: number;
}

export type FromWorker =
  | { readonly type: "ready" }
  | {
      readonly type: "applied";
      readonly seq: number;
      /** [listener id, why it is not listening] */
      readonly failed: readonly (readonly [string, string])[];
      readonly stats: DataPlaneStats;
    }
  | {
      readonly type: "prepared";
      readonly seq: number;
      /** [listener id, why it cannot listen] */
      readonly failed: readonly (readonly [string, string])[];
    }
  | { readonly type: "apply-failed"; readonly seq: number; readonly error: string }
  | { readonly type: "stats"; readonly stats: DataPlaneStats; readonly usage: WorkerUsage }
  | { readonly type: "event"; readonly event: DataPlaneEvent }
  | { readonly type: "socket-request"; readonly transport: Transport; readonly port: number };
