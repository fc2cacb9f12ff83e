/**
 * The data plane spread over N worker processes (`--workers N`), seen by the runtime as one data
 * plane: `apply` sends the plan to every worker and resolves when all have applied it, `stats`
 * merges their snapshots, `close` closes them all.
 *
 * - The primary binds each listener port once and hands that socket to the workers that ask
 *   (bound-sockets.ts). Every worker listens on a TCP socket and accepts from its one queue,
 *   whichever is free first. No connection passes through the primary, as it would with the
 *   cluster module's round-robin (measured to lower connection rates). No SO_REUSEPORT: no other
 *   process can bind a port the node holds, nor can the node bind one another process holds.
 * - A UDP socket is read by one worker, its owner (udp-owners.ts): each worker is sent the plan
 *   without the UDP listeners it does not own, so one client's datagrams all reach one session.
 *   When the owner exits, its UDP listeners go to the live workers at once (they ask for the
 *   sockets, which the primary still holds, and datagrams wait in the socket meanwhile); the
 *   owner's replacement does not take them back.
 * - The admin API, the store and the health checks stay in the primary; workers receive plans
 *   (which carry health already) and never probe.
 * - A worker that exits unexpectedly is started again (after 100 ms, doubling up to 5 s while it
 *   keeps failing) and given the current plan. The other workers, their listeners and their
 *   connections are not touched. The exited worker's open connections and UDP sessions are lost
 *   with it; clients still queued on a listening socket wait there for the other workers (or the
 *   replacement).
 * - `maxConnectionsPerListener` is the node's limit: each worker enforces its share of it. With
 *   the native engine a worker at its share stops accepting for a moment, leaving new clients to
 *   a worker with room (dataplane.ts); Node's servers cannot, and reset them.
 * - Stats: every worker pushes a snapshot every `statsIntervalMs` (default 1 s) and with every
 *   applied plan; `stats()` merges the latest ones (merge-stats.ts), so open-connection counts
 *   in status and metrics may be up to that old. Counters of exited workers are kept.
 */
import { fork, type ChildProcess, type SendHandle } from "node:child_process";
import * as path from "node:path";
import type { DataPlaneEvent } from "../dataplane/dataplane";
import type { DataPlaneHandle } from "../dataplane/handle";
import type { BoundSocket } from "../dataplane/listener";
import { EMPTY_PLAN, transportOf, type DataPlanePlan, type ListenerPlan, type Transport } from "../dataplane/plan";
import type { DataPlaneStats } from "../dataplane/stats";
import type { DataPlaneSettings } from "../options";
import { SerialQueue } from "../serial-queue";
import { BoundSockets, socketKey } from "./bound-sockets";
import { EMPTY_STATS, mergeStats, retire } from "./merge-stats";
import type { FromWorker, ToWorker, WorkerSettings, WorkerUsage } from "./messages";
import { UdpListenerOwners } from "./udp-owners";

export interface WorkerExit {
  readonly worker: number;
  readonly pid: number | undefined;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** When the replacement is started. */
  readonly restartInMs: number;
}

export interface WorkerPoolOptions extends DataPlaneSettings {
  /** Worker processes, at least 1. */
  readonly workers: number;
  /** Default 1000 ms. */
  readonly statsIntervalMs?: number;
  /** How long a worker may take to start or to apply a plan. Default 30 s. */
  readonly replyTimeoutMs?: number;
  /** The data plane's events, from every worker. */
  readonly onEvent?: (event: DataPlaneEvent, worker: number) => void;
  /** A worker exited unexpectedly (it is restarted). */
  readonly onWorkerExit?: (exit: WorkerExit) => void;
  /** Node options for the workers. Default: the primary's own (`process.execArgv`). */
  readonly execArgv?: readonly string[];
}

const WORKER_SCRIPT = path.join(__dirname, "worker.js");
const RESTART_MIN_MS = 100;
const RESTART_MAX_MS = 5000;
/** A worker that ran this long before exiting is restarted after the minimum delay again. */
const STABLE_AFTER_MS = 10_000;

interface PendingApply {
  readonly resolve: (failed: readonly (readonly [string, string])[]) => void;
  readonly reject: (error: Error) => void;
}

/** One worker process: its IPC traffic, its last stats, the plans it has not answered yet. */
class WorkerSlot {
  readonly child: ChildProcess;
  readonly startedAt = Date.now();
  readonly ready: Promise<void>;
  lastStats: DataPlaneStats | undefined;
  usage: WorkerUsage | undefined;
  exited = false;
  readonly pending = new Map<number, PendingApply>();
  private markReady: () => void = () => undefined;
  private failReady: (error: Error) => void = () => undefined;

  constructor(
    readonly index: number,
    settings: WorkerSettings,
    execArgv: readonly string[],
    private readonly onMessage: (slot: WorkerSlot, message: FromWorker) => void,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    this.ready.catch(() => undefined); // observed by whoever waits for it
    this.child = fork(WORKER_SCRIPT, [], { execArgv: [...execArgv], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    this.child.on("message", (message: FromWorker) => {
      if (message.type === "ready") this.markReady();
      else this.onMessage(this, message);
    });
    // A fork that cannot even start reports here; its 'exit' follows.
    this.child.on("error", () => undefined);
    this.send({ type: "init", settings });
  }

  /** `handle`: a socket for the worker (workers/bound-sockets.ts), passed over the IPC channel. */
  send(message: ToWorker, handle?: BoundSocket): boolean {
    if (this.exited || !this.child.connected) return false;
    // Node passes its own TCP handles, which the SendHandle type does not list.
    this.child.send(message, handle as SendHandle, (error) => {
      if (error !== null && error !== undefined) this.child.kill("SIGKILL"); // a worker we cannot talk to is replaced
    });
    return true;
  }

  /** The process is gone: nothing it was asked will be answered. */
  gone(): void {
    this.exited = true;
    this.failReady(new Error(`data-plane worker ${this.index} exited`));
    for (const pending of this.pending.values()) pending.resolve([]);
    this.pending.clear();
  }
}

export class WorkerPool implements DataPlaneHandle {
  private readonly settings: WorkerSettings;
  private readonly execArgv: readonly string[];
  private readonly replyTimeoutMs: number;
  private readonly onEvent: (event: DataPlaneEvent, worker: number) => void;
  private readonly onWorkerExit: (exit: WorkerExit) => void;
  private readonly slots: WorkerSlot[] = [];
  private readonly restartTimers = new Set<NodeJS.Timeout>();
  /** Consecutive quick exits per worker index, for the restart backoff. */
  private readonly failures: number[];
  private retired: DataPlaneStats = EMPTY_STATS;
  private plan: DataPlanePlan = EMPTY_PLAN;
  /** The listeners of a configuration write between prepare and release (see DataPlane.prepare). */
  private prepared: readonly ListenerPlan[] = [];
  private readonly udpOwners = new UdpListenerOwners<WorkerSlot>();
  private seq = 0;
  private readonly queue = new SerialQueue();
  private readonly sockets: BoundSockets;
  private closing: Promise<void> | undefined;

  constructor(opts: WorkerPoolOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1) throw new RangeError(`workers must be an integer >= 1, got ${String(opts.workers)}`);
    const { workers, replyTimeoutMs, onEvent, onWorkerExit, execArgv, ...settings } = opts;
    this.settings = {
      ...settings,
      // The limit is the node's: each worker takes its share.
      ...(settings.maxConnectionsPerListener === undefined ? {} : { maxConnectionsPerListener: Math.ceil(settings.maxConnectionsPerListener / workers) }),
      statsIntervalMs: opts.statsIntervalMs ?? 1000,
    };
    this.sockets = new BoundSockets(settings.listenAddress);
    this.execArgv = execArgv ?? process.execArgv;
    this.replyTimeoutMs = replyTimeoutMs ?? 30_000;
    this.onEvent = onEvent ?? (() => undefined);
    this.onWorkerExit = onWorkerExit ?? (() => undefined);
    this.failures = new Array<number>(workers).fill(0);
    for (let i = 0; i < workers; i++) this.slots.push(this.spawn(i));
  }

  /** The workers' process ids (for tests and operators). */
  pids(): number[] {
    return this.slots.filter((s) => !s.exited && s.child.pid !== undefined).map((s) => s.child.pid as number);
  }

  /**
   * Sends `plan` to every worker; resolves with every listener some worker could not bind (id ->
   * reason) once all have applied it. A worker that exits meanwhile is skipped: its replacement
   * starts with the current plan. Serialized with other applies.
   */
  apply(plan: DataPlanePlan): Promise<ReadonlyMap<string, string>> {
    return this.queue.run(() => this.applyNow(plan));
  }

  /** DataPlane.prepare on every worker: resolves with every listener some worker could not bind. */
  prepare(listeners: readonly ListenerPlan[]): Promise<ReadonlyMap<string, string>> {
    return this.queue.run(() => {
      if (this.closing !== undefined) throw new Error("the data plane is closed");
      this.prepared = listeners;
      this.assignUdpOwners();
      return this.askAll((slot, seq) => ({ type: "prepare", seq, listeners: this.listenersFor(slot, listeners) }), "prepare the listeners");
    });
  }

  /**
   * DataPlane.release on every worker (each worker handles its messages in order: no reply needed),
   * and the primary lets go of the sockets it bound for ports the running plan does not have.
   */
  release(): Promise<void> {
    return this.queue.run(() => {
      for (const slot of this.slots) slot.send({ type: "release" });
      this.prepared = [];
      this.udpOwners.keepOnly(this.portsInUse());
      this.sockets.keepOnly(this.portsInUse());
    });
  }

  stats(): DataPlaneStats {
    const live = this.slots.filter((s) => !s.exited && s.lastStats !== undefined).map((s) => s.lastStats as DataPlaneStats);
    return mergeStats(live, this.retired);
  }

  /** Each live worker's own last snapshot (which worker serves what). */
  workerStats(): { worker: number; pid: number | undefined; stats: DataPlaneStats }[] {
    return this.slots
      .filter((s) => !s.exited && s.lastStats !== undefined)
      .map((s) => ({ worker: s.index, pid: s.child.pid, stats: s.lastStats as DataPlaneStats }));
  }

  /** Resident memory and CPU time of each worker, as last reported. */
  usage(): { worker: number; usage: WorkerUsage }[] {
    return this.slots.filter((s) => !s.exited && s.usage !== undefined).map((s) => ({ worker: s.index, usage: s.usage as WorkerUsage }));
  }

  /** Asks every worker to stop accepting and close after `graceMs`; kills those that have not exited 5 s later. Idempotent. */
  close(opts: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= this.closeNow(Math.max(0, opts.graceMs ?? 0));
    return this.closing;
  }

  private async applyNow(plan: DataPlanePlan): Promise<ReadonlyMap<string, string>> {
    if (this.closing !== undefined) throw new Error("the data plane is closed");
    this.plan = plan;
    this.udpOwners.keepOnly(this.portsInUse());
    this.assignUdpOwners();
    try {
      return await this.askAll((slot, seq) => ({ type: "plan", seq, plan: this.planFor(slot) }), "apply the plan");
    } finally {
      this.sockets.keepOnly(this.portsInUse());
    }
  }

  /** The running plan as `slot` runs it: without the UDP listeners another worker owns. */
  private planFor(slot: WorkerSlot): DataPlanePlan {
    return { ...this.plan, listeners: this.listenersFor(slot, this.plan.listeners) };
  }

  /** The listeners `slot` opens: every TCP listener, and the UDP listeners it owns. */
  private listenersFor(slot: WorkerSlot, listeners: readonly ListenerPlan[]): ListenerPlan[] {
    return listeners.filter((l) => transportOf(l) !== "UDP" || this.udpOwners.ownerOf(listenerSocketKey(l)) === slot);
  }

  /**
   * Gives each UDP listener of the running plan or of a prepared write that has no owner (new, or
   * its owner exited) to a live worker; returns the workers that gained one.
   */
  private assignUdpOwners(): Set<WorkerSlot> {
    const udp = [...this.plan.listeners, ...this.prepared].filter((l) => transportOf(l) === "UDP").map(listenerSocketKey);
    return this.udpOwners.assign(udp, this.slots.filter((s) => !s.exited));
  }

  /** Hands the UDP listeners that lost their owner to live workers, which open them at once. */
  private handOverUdpListeners(): void {
    this.queue
      .run(async () => {
        if (this.closing !== undefined) return;
        const gained = this.assignUdpOwners();
        await Promise.all([...gained].map((slot) => this.applyOn(slot, this.planFor(slot))));
      })
      .catch(() => undefined); // a worker that did not answer in time is sent the listener again with the next plan
  }

  /** Asks every worker; merges the listeners they could not bind. */
  private async askAll(message: (slot: WorkerSlot, seq: number) => ToWorker, what: string): Promise<ReadonlyMap<string, string>> {
    const results = await Promise.all(this.slots.map((slot) => this.ask(slot, (seq) => message(slot, seq), what)));
    const failed = new Map<string, string>();
    for (const list of results) for (const [id, reason] of list) if (!failed.has(id)) failed.set(id, reason);
    return failed;
  }

  private applyOn(slot: WorkerSlot, plan: DataPlanePlan): Promise<readonly (readonly [string, string])[]> {
    return this.ask(slot, (seq) => ({ type: "plan", seq, plan }), "apply the plan");
  }

  private async ask(slot: WorkerSlot, message: (seq: number) => ToWorker, what: string): Promise<readonly (readonly [string, string])[]> {
    try {
      await withTimeout(slot.ready, this.replyTimeoutMs, `data-plane worker ${slot.index} did not start`);
    } catch (error) {
      if (slot.exited) return []; // its replacement gets the current plan
      throw error;
    }
    const seq = ++this.seq;
    const reply = new Promise<readonly (readonly [string, string])[]>((resolve, reject) => slot.pending.set(seq, { resolve, reject }));
    if (!slot.send(message(seq))) {
      slot.pending.delete(seq);
      return [];
    }
    try {
      return await withTimeout(reply, this.replyTimeoutMs, `data-plane worker ${slot.index} did not ${what}`);
    } finally {
      slot.pending.delete(seq);
    }
  }

  private spawn(index: number): WorkerSlot {
    const slot = new WorkerSlot(index, this.settings, this.execArgv, (s, m) => this.onMessage(s, m));
    slot.child.once("exit", (code, signal) => this.exited(slot, code, signal));
    // A replacement starts with the plan the others run (the initial workers get theirs from apply),
    // without the UDP listeners that moved to another worker when it exited. It takes those that had
    // no live worker to go to.
    if (this.plan !== EMPTY_PLAN) {
      void slot.ready.then(
        () => {
          if (this.slots[index] !== slot || this.closing !== undefined) return;
          this.queue
            .run(async () => {
              const gained = this.assignUdpOwners().add(slot);
              await Promise.all([...gained].map((s) => this.applyOn(s, this.planFor(s))));
            })
            .catch(() => undefined);
        },
        () => undefined,
      );
    }
    return slot;
  }

  private onMessage(slot: WorkerSlot, message: FromWorker): void {
    switch (message.type) {
      case "applied":
        slot.lastStats = message.stats;
        slot.pending.get(message.seq)?.resolve(message.failed);
        break;
      case "prepared":
        slot.pending.get(message.seq)?.resolve(message.failed);
        break;
      case "apply-failed":
        slot.pending.get(message.seq)?.reject(new Error(`data-plane worker ${slot.index}: ${message.error}`));
        break;
      case "stats":
        slot.lastStats = message.stats;
        slot.usage = message.usage;
        break;
      case "event":
        this.onEvent(message.event, slot.index);
        break;
      case "socket-request":
        this.sendSocket(slot, message.transport, message.port);
        break;
      case "ready":
        break; // handled by the slot
    }
  }

  /** The sockets (socketKey) of the running plan and of a write being prepared: they stay bound. */
  private portsInUse(): ReadonlySet<string> {
    return new Set([...this.plan.listeners, ...this.prepared].map(listenerSocketKey));
  }

  private sendSocket(slot: WorkerSlot, transport: Transport, port: number): void {
    const socket =
      this.closing !== undefined
        ? "the node is shutting down"
        : this.portsInUse().has(socketKey(transport, port))
          ? this.sockets.socket(transport, port)
          : `${transport} port ${port} is no longer in the node's configuration`;
    if (typeof socket === "string") slot.send({ type: "socket", transport, port, error: socket });
    else slot.send({ type: "socket", transport, port }, socket);
  }

  private exited(slot: WorkerSlot, code: number | null, signal: NodeJS.Signals | null): void {
    slot.gone();
    if (slot.lastStats !== undefined) this.retired = retire(this.retired, slot.lastStats);
    slot.lastStats = undefined;
    if (this.udpOwners.forget(slot).length > 0) this.handOverUdpListeners();
    if (this.closing !== undefined || this.slots[slot.index] !== slot) return;
    const quick = Date.now() - slot.startedAt < STABLE_AFTER_MS;
    this.failures[slot.index] = quick ? this.failures[slot.index] + 1 : 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** Math.max(0, this.failures[slot.index] - 1));
    this.onWorkerExit({ worker: slot.index, pid: slot.child.pid, code, signal, restartInMs: delay });
    const timer = setTimeout(() => {
      this.restartTimers.delete(timer);
      if (this.closing === undefined) this.slots[slot.index] = this.spawn(slot.index);
    }, delay);
    this.restartTimers.add(timer);
  }

  private async closeNow(graceMs: number): Promise<void> {
    for (const timer of this.restartTimers) clearTimeout(timer);
    this.restartTimers.clear();
    // A socket stays listening while any process holds it: the ports close when the workers close theirs.
    this.sockets.close();
    await this.queue.idle();
    await Promise.all(
      this.slots.map(async (slot) => {
        if (slot.exited) return;
        const exited = new Promise<void>((resolve) => slot.child.once("exit", () => resolve()));
        if (!slot.send({ type: "close", graceMs })) slot.child.kill("SIGTERM");
        const timer = setTimeout(() => slot.child.kill("SIGKILL"), graceMs + 5000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

function listenerSocketKey(listener: ListenerPlan): string {
  return socketKey(transportOf(listener), listener.port);
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${message} within ${ms} ms`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}
