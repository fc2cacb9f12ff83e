import type { Logger } from "pino";
import { collectDefaultMetrics, Registry } from "prom-client";
import { AdminApi } from "./admin/routes";
import { AdminMetrics } from "./admin/metrics";
import { AdminServer, type AdminAddress } from "./admin/server";
import { KeyPairReloader, readKeyPair } from "./admin/tls";
import { formatHostPort } from "../model";
import { ConfigWriter, type ConfigApplier } from "./store/writer";
import { ForwarderRuntime, type RuntimeOptions } from "./runtime/runtime";
import { DEFAULTS, type AdminOptions, type HealthOptions, type NodeDataPlaneOptions, type VipOptions } from "./options";
import { ConfigStore, type StoreOptions } from "./store/store";
import { countObjects } from "./store/objects";
import type { StatusReport } from "./runtime/status";
import type { VipAnnouncer } from "./vip/announcer";
import { startVip } from "./vip/vip";

/**
 * One forwarder node: the configuration store, the runtime (listeners, health checks, proxying),
 * the admin API and the metrics registry they share, started in that order and closed in reverse.
 */

/** What the node needs from its runtime: ForwarderRuntime, or a stand-in in tests. */
export interface NodeRuntime extends ConfigApplier {
  status(): unknown;
  close(options?: { graceMs?: number }): Promise<void>;
}

export interface NodeOptions {
  readonly admin: AdminOptions;
  readonly stateDir: string;
  readonly dataPlane: NodeDataPlaneOptions;
  readonly health?: HealthOptions;
  /** One VIP served by every node: put on `lo`, bound by the listeners, announced over BGP while the node can serve. */
  readonly vip?: VipOptions;
  readonly logger: Logger;
  /** Shown in logs and status; default the host name. */
  readonly nodeName?: string;
  /** Register prom-client's process metrics (`dnlb_process_...`, `dnlb_nodejs_...`). */
  readonly defaultMetrics?: boolean;
  /** For tests: how the store persists. */
  readonly store?: StoreOptions;
  /** For tests: builds the runtime (default: a ForwarderRuntime). */
  readonly createRuntime?: (options: RuntimeOptions) => NodeRuntime;
}

export interface CloseOptions {
  /** How long open connections (proxied and admin) may take to finish. Default DEFAULTS.shutdownGraceMs. */
  readonly graceMs?: number;
}

export class ForwarderNode {
  private closing: Promise<void> | undefined;
  private serving = true;

  private constructor(
    readonly adminAddress: AdminAddress,
    readonly store: ConfigStore,
    readonly runtime: NodeRuntime,
    readonly registry: Registry,
    private readonly writer: ConfigWriter,
    private readonly server: AdminServer,
    private readonly logger: Logger,
    private readonly reloader: KeyPairReloader | undefined,
    private readonly vip: { readonly announcer: VipAnnouncer; readonly withdrawGraceMs: number } | undefined,
  ) {}

  /**
   * Restores the configuration from the state directory, applies it, and opens the admin API.
   * Throws StateFileError for a state file it will not use, and the bind error when the admin
   * address is taken; in both cases nothing is left running.
   */
  static async start(options: NodeOptions): Promise<ForwarderNode> {
    const { logger } = options;
    // Read first: a pair that does not load is a startup error, before anything runs.
    const keyPair = options.admin.tls === undefined ? undefined : await readKeyPair(options.admin.tls);
    const store = await ConfigStore.open(options.stateDir, options.store);
    const registry = new Registry();
    if (options.defaultMetrics ?? DEFAULTS.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: "dnlb_" });
    const metrics = new AdminMetrics(registry);
    const createRuntime = options.createRuntime ?? ((o: RuntimeOptions) => new ForwarderRuntime(o));
    const runtime = createRuntime({ dataPlane: options.dataPlane, health: options.health, nodeName: options.nodeName, registry, logger });
    let server: AdminServer | undefined;
    let vip: VipAnnouncer | undefined;
    try {
      if (options.vip !== undefined) {
        // Listeners read only what status shows of them; a stand-in runtime without them has none.
        const listeners = () => (runtime.status() as Partial<StatusReport>).listeners ?? [];
        vip = await startVip(options.vip, { stateDir: options.stateDir, logger, registry, listeners });
      }
      const restored = store.snapshot();
      const { listenerErrors } = await runtime.apply(restored);
      for (const [id, message] of listenerErrors) {
        // The node still serves the other listeners; status shows this one as failed and the
        // next write of it retries the bind.
        logger.warn({ listener: id, error: message }, "a restored listener cannot listen");
      }
      metrics.observeConfig(restored);
      const writer = new ConfigWriter(store, runtime, logger, metrics, options.dataPlane.listenAddress);
      let node: ForwarderNode | undefined;
      const api = new AdminApi({
        store,
        writer,
        status: () => (vip === undefined ? runtime.status() : { ...(runtime.status() as object), vip: vip.status() }),
        registry,
        metrics,
        token: options.admin.token,
        metricsRequireToken: options.admin.metricsRequireToken ?? false,
        logger,
        isServing: () => node?.serving ?? true,
      });
      const listening = new AdminServer(api.handle, undefined, keyPair);
      server = listening;
      const address = await listening.listen(options.admin.host, options.admin.port);
      const tls = options.admin.tls;
      const reloader =
        tls === undefined || keyPair === undefined ? undefined : new KeyPairReloader(tls, keyPair, (pair) => listening.setKeyPair(pair), logger);
      const withdrawGraceMs = options.vip?.withdrawGraceMs ?? DEFAULTS.vip.withdrawGraceMs;
      node = new ForwarderNode(address, store, runtime, registry, writer, listening, logger, reloader, vip && { announcer: vip, withdrawGraceMs });
      vip?.start();
      return node;
    } catch (error) {
      await vip?.close();
      await server?.close(0);
      await runtime.close({ graceMs: 0 });
      throw error;
    }
  }

  /** The admin API's base URL, e.g. `http://127.0.5.1:23001` (`https://` when it serves TLS). */
  get url(): string {
    return `${this.reloader === undefined ? "http" : "https"}://${formatHostPort(this.adminAddress.host, this.adminAddress.port)}`;
  }

  /** Object counts per kind (for the ready log line). */
  counts(): Record<string, number> {
    return countObjects(this.store.snapshot());
  }

  /** On close, how long the node waits between withdrawing its VIP and closing its listeners (0 without a VIP). */
  get withdrawGraceMs(): number {
    return this.vip?.withdrawGraceMs ?? 0;
  }

  /**
   * Withdraws the VIP and waits `withdrawGraceMs` for the routers to send new flows elsewhere
   * (the listeners still accept meanwhile), then stops taking writes, closes the listeners and
   * lets proxied connections finish for up to `graceMs`, then closes the admin API and BIRD. Every accepted write was persisted before it was
   * answered, so nothing is left to save. Idempotent: every call returns the same promise.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.graceMs ?? DEFAULTS.shutdownGraceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.serving = false;
    this.reloader?.close();
    if (this.vip !== undefined) {
      await this.vip.announcer.withdraw();
      await new Promise((resolve) => setTimeout(resolve, this.vip?.withdrawGraceMs));
      this.logger.info({ withdrawGraceMs: this.vip.withdrawGraceMs }, "VIP withdrawn and the grace period over: closing the listeners");
    }
    await this.writer.close();
    try {
      await this.runtime.close({ graceMs });
    } finally {
      await this.vip?.announcer.close();
      await this.server.close(Math.min(graceMs, 2_000));
      this.logger.info({ admin: formatHostPort(this.adminAddress.host, this.adminAddress.port) }, "closed");
    }
  }
}
