/**
 * The forwarder runtime: the control part between the configuration store and the data plane.
 *
 *   ConfigSnapshot --resolve--> services, members, health checks --> HealthMonitor targets
 *   services + members' health --plan--> DataPlanePlan --> DataPlane (sockets, tables, proxying)
 *
 * A configuration write runs `prepare` (everything that can refuse it: the services resolve, the
 * probe targets are valid, the listeners' ports can be bound; nothing that runs changes), then the
 * caller stores it, then `apply` (or nothing, when the write failed), then always `release`.
 * `apply` also runs alone on a restored configuration; a health transition replans on its own. Both
 * produce a whole plan; the data plane rebuilds only the tables whose member set changed and
 * never closes a connection because of a plan (see dataplane/dataplane.ts for what it closes:
 * drained members, removed listeners, idle connections).
 *
 * Unhealthy members keep their open connections; only removing or disabling a member drains it
 * (as AWS NLB and GCP do: a health check decides where new connections go).
 */
import * as os from "node:os";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { EMPTY_CONFIG, type ConfigSnapshot } from "../store/snapshot";
import { DataPlane, type DataPlaneEvent } from "../dataplane/dataplane";
import type { DataPlaneHandle } from "../dataplane/handle";
import { WorkerPool, type WorkerExit } from "../workers/pool";
import type { DataPlanePlan } from "../dataplane/plan";
import type { MemberStats } from "../dataplane/stats";
import { checkTargets, HealthMonitor, type HealthState, type ProbeOutcome } from "../health/monitor";
import { DEFAULTS, type HealthOptions, type NodeDataPlaneOptions } from "../options";
import { chooseEngine, type EngineChoice } from "./engine";
import { RuntimeMetrics } from "./metrics";
import {
  planListeners,
  planService,
  probeTargets,
  resolveServices,
  type PlannedService,
  type ResolvedService,
} from "./planner";
import { listenerStatus, serviceStatus, type StatusReport } from "./status";

export interface RuntimeOptions {
  readonly dataPlane: NodeDataPlaneOptions;
  readonly health?: HealthOptions;
  /** Shown in status; default the host name. */
  readonly nodeName?: string;
  /** The runtime registers its metrics here (one runtime per registry). */
  readonly registry: Registry;
  readonly logger: Logger;
  /** Default: a new HealthMonitor. The runtime owns it: `close()` closes it. */
  readonly monitor?: HealthMonitor;
}

export interface ApplyResult {
  /** Listener id -> why it is not listening (e.g. "port 8080 on 127.0.1.1 is in use"). */
  readonly listenerErrors: ReadonlyMap<string, string>;
}

export class ForwarderRuntime {
  private readonly logger: Logger;
  private readonly monitor: HealthMonitor;
  private readonly dataplane: DataPlaneHandle;
  private readonly metrics: RuntimeMetrics;
  private readonly healthTimeScale: number;
  private readonly node: StatusReport["node"];
  private readonly engine: EngineChoice;

  private config: ConfigSnapshot = EMPTY_CONFIG;
  private services: readonly ResolvedService[] = [];
  private planned: readonly PlannedService[] = [];
  /** probe key -> (service id, member key), for logs and metrics. */
  private probeIndex = new Map<string, { serviceId: string; member: string }>();
  private replanPending = false;
  private closing: Promise<void> | undefined;

  constructor(opts: RuntimeOptions) {
    this.logger = opts.logger;
    this.healthTimeScale = opts.health?.timeScale ?? DEFAULTS.health.timeScale;
    if (!(this.healthTimeScale > 0)) throw new RangeError(`health.timeScale must be > 0, got ${String(opts.health?.timeScale)}`);
    const { workers = DEFAULTS.dataPlane.workers, engineReason, ...asked } = opts.dataPlane;
    this.engine = asked.engine !== undefined && engineReason !== undefined ? { name: asked.engine, reason: engineReason } : chooseEngine(asked.engine, false);
    const settings = { ...asked, engine: this.engine.name };
    this.node = {
      name: opts.nodeName ?? os.hostname(),
      listenAddress: settings.listenAddress,
      startedAt: new Date().toISOString(),
    };
    this.monitor = opts.monitor ?? new HealthMonitor();
    this.dataplane =
      workers >= 1
        ? new WorkerPool({
            ...settings,
            workers,
            onEvent: (event, worker) => this.logDataPlaneEvent(event, worker),
            onWorkerExit: (exit) => this.workerExited(exit),
          })
        : new DataPlane({ ...settings, onEvent: (event) => this.logDataPlaneEvent(event) });
    const pool = this.dataplane instanceof WorkerPool ? this.dataplane : undefined;
    this.metrics = new RuntimeMetrics(opts.registry, {
      stats: () => this.dataplane.stats(),
      workers: () => pool?.usage() ?? [],
      planned: () => this.planned,
      health: (key) => this.monitor.get(key)?.state,
      engine: this.engine,
    });
    this.monitor.on("transition", this.onTransition);
  }

  /**
   * Checks that `config` can run, without changing what runs: resolves with the listeners that
   * cannot bind (their servers are opened now and kept for `apply`), throws for a configuration
   * the runtime refuses. `release` closes what `apply` did not take.
   */
  async prepare(config: ConfigSnapshot): Promise<ApplyResult> {
    if (this.closing !== undefined) throw new Error("the forwarder runtime is closed");
    checkTargets(probeTargets(resolveServices(config, this.healthTimeScale)));
    const listenerErrors = await this.dataplane.prepare(planListeners(config.listeners, config.backendServices));
    return { listenerErrors };
  }

  /** Closes the listener servers `prepare` opened and `apply` did not take. */
  release(): Promise<void> {
    return this.dataplane.release();
  }

  /**
   * Runs `config`: reconciles probe targets (members kept keep their health), opens and closes
   * listener servers, swaps the tables whose members changed. Idempotent. Resolves with the
   * listeners that are not listening; a listener that failed to bind has no server left open.
   */
  async apply(config: ConfigSnapshot): Promise<ApplyResult> {
    if (this.closing !== undefined) throw new Error("the forwarder runtime is closed");
    const services = resolveServices(config, this.healthTimeScale);
    this.monitor.setTargets(probeTargets(services)); // throws (changing nothing) on a malformed target
    this.config = config;
    this.services = services;
    this.probeIndex = new Map(services.flatMap((s) => s.members.map((m) => [m.probeKey, { serviceId: s.id, member: m.key }] as const)));
    const listenerErrors = await this.replan();
    return { listenerErrors };
  }

  status(): StatusReport {
    const stats = this.dataplane.stats();
    const membersByService = new Map<string, Map<string, MemberStats>>();
    for (const m of stats.members) {
      let byKey = membersByService.get(m.serviceId);
      if (byKey === undefined) {
        byKey = new Map();
        membersByService.set(m.serviceId, byKey);
      }
      byKey.set(m.key, m);
    }
    const listenerStats = new Map(stats.listeners.map((l) => [l.id, l]));
    const noMembers = new Map<string, MemberStats>();
    return {
      node: { ...this.node },
      engine: { ...this.engine },
      backendServices: this.planned.map((p) =>
        serviceStatus(p, (key) => this.monitor.get(key), membersByService.get(p.service.id) ?? noMembers),
      ),
      listeners: [...this.config.listeners.values()].map((l) => listenerStatus(l.id, l.spec, listenerStats.get(l.id))),
    };
  }

  /** Stops accepting and probing, lets open connections finish for up to `graceMs` (default 0), then closes them. Idempotent. */
  close(opts: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= (async () => {
      this.monitor.off("transition", this.onTransition);
      this.monitor.close();
      await this.dataplane.close(opts);
    })();
    return this.closing;
  }

  /** The plan for the current configuration and health. */
  currentPlan(): DataPlanePlan {
    return {
      services: this.planned.map((p) => p.plan),
      listeners: planListeners(this.config.listeners, this.config.backendServices),
    };
  }

  private replan(): Promise<ReadonlyMap<string, string>> {
    const health = (key: string): HealthState | undefined => this.monitor.get(key)?.state;
    this.planned = this.services.map((s) => planService(s, health));
    return this.dataplane.apply(this.currentPlan());
  }

  /**
   * Health changed: replan once for all the transitions of this callback (a probe round can flip
   * several members at once). A microtask, not setImmediate: the new plan reaches the data plane
   * before any other callback runs, so no client is accepted on the old table once status shows
   * the change (with setImmediate a client accepted in the same loop turn could still be sent to a
   * member already shown Unhealthy).
   */
  private readonly onTransition = (key: string, from: HealthState, to: HealthState, probe: ProbeOutcome): void => {
    const where = this.probeIndex.get(key);
    if (where !== undefined) this.metrics.transition(where.serviceId, where.member, to);
    const fields = { service: where?.serviceId, member: where?.member, from, to, code: probe.code, probe: probe.description };
    if (to === "Unhealthy") this.logger.warn(fields, "member became unhealthy");
    else this.logger.info(fields, "member became healthy");
    if (this.replanPending || this.closing !== undefined) return;
    this.replanPending = true;
    queueMicrotask(() => {
      this.replanPending = false;
      if (this.closing !== undefined) return;
      this.replan().catch((err: unknown) => this.logger.error({ err }, "applying a health change failed"));
    });
  };

  private workerExited(exit: WorkerExit): void {
    this.metrics.workerExited();
    this.logger.error(
      { worker: exit.worker, pid: exit.pid, code: exit.code, signal: exit.signal, restartInMs: exit.restartInMs },
      "data-plane worker exited; restarting it (the other workers and their connections are not affected)",
    );
  }

  private logDataPlaneEvent(event: DataPlaneEvent, worker?: number): void {
    const logger = worker === undefined ? this.logger : this.logger.child({ worker });
    switch (event.type) {
      case "listener-bound":
        logger.info({ listener: event.id, port: event.port }, "listener listening");
        break;
      case "listener-failed":
        logger.warn({ listener: event.id, port: event.port, error: event.error }, "listener cannot listen; retrying");
        break;
      case "listener-closed":
        logger.info({ listener: event.id, port: event.port, openConnections: event.openConnections }, "listener closed");
        break;
      case "listener-error":
        logger.error({ listener: event.id, error: event.error }, "listener error");
        break;
      case "table-built":
        logger.debug({ service: event.serviceId, members: event.members, tableSize: event.tableSize }, "table built");
        break;
    }
  }
}
