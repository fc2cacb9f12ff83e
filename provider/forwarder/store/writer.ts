import type { Logger } from "pino";
import { formatHostPort, type Kind, type SpecOf } from "../../model";
import type { ConfigSnapshot, Stored } from "./snapshot";
import { ApiError, isApiError } from "../errors";
import type { AdminMetrics } from "../admin/metrics";
import type { ConfigStore } from "./store";
import type { Preconditions } from "./preconditions";
import { KIND_LABEL } from "./objects";
import { SerialQueue } from "../serial-queue";

/** What the writer needs from the runtime (ForwarderRuntime has it; tests may pass a fake). */
export interface ConfigApplier {
  apply(config: ConfigSnapshot): Promise<{ readonly listenerErrors: ReadonlyMap<string, string> }>;
}

export interface PutOutcome<K extends Kind> {
  readonly stored: Stored<SpecOf[K]>;
  readonly created: boolean;
  readonly changed: boolean;
}

/**
 * The write path, one write at a time:
 *   plan (rules, preconditions) -> runtime.apply(candidate) -> persist -> swap -> answer.
 * A listener that cannot bind, a runtime that throws or a disk that refuses puts the runtime back
 * on the previous snapshot, and the client gets the reason; the stored configuration only changes
 * when the whole write succeeds.
 */
export class ConfigWriter {
  private readonly queue = new SerialQueue();
  private closed = false;

  constructor(
    private readonly store: ConfigStore,
    private readonly runtime: ConfigApplier,
    private readonly logger: Logger,
    private readonly metrics: AdminMetrics,
    /** Where listeners bind, to name `address:port` when one cannot. */
    private readonly listenAddress: string,
  ) {}

  put<K extends Kind>(kind: K, id: string, spec: SpecOf[K], pre: Preconditions): Promise<PutOutcome<K>> {
    return this.enqueue(kind, "put", async () => {
      const plan = this.store.planPut(kind, id, spec, pre);
      if (!plan.changed) return { outcome: plan, result: "unchanged" as const };
      await this.apply(plan.candidate, kind === "listeners" ? id : undefined, spec);
      await this.persist(plan.candidate);
      this.logger.info(
        { kind, id, revision: plan.stored.revision, action: plan.created ? "create" : "replace" },
        "configuration changed",
      );
      return { outcome: plan, result: "changed" as const };
    });
  }

  delete(kind: Kind, id: string): Promise<void> {
    return this.enqueue(kind, "delete", async () => {
      const plan = this.store.planDelete(kind, id);
      await this.apply(plan.candidate);
      await this.persist(plan.candidate);
      this.logger.info({ kind, id, action: "delete" }, "configuration changed");
      return { outcome: undefined, result: "changed" as const };
    });
  }

  /** Refuses new writes (503) and waits for the one in progress. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await this.queue.idle();
  }

  private enqueue<T>(
    kind: Kind,
    action: "put" | "delete",
    write: () => Promise<{ outcome: T; result: "changed" | "unchanged" }>,
  ): Promise<T> {
    if (this.closed) return Promise.reject(new ApiError("unavailable", "the node is shutting down and takes no more writes"));
    return this.queue.run(async () => {
      try {
        const { outcome, result } = await write();
        this.metrics.observeWrite(kind, action, result);
        return outcome;
      } catch (error) {
        const failed = !isApiError(error) || error.status >= 500;
        this.metrics.observeWrite(kind, action, failed ? "failed" : "refused");
        throw error;
      }
    });
  }

  /** Applies `candidate`; on any failure the runtime goes back to the current snapshot. */
  private async apply(candidate: ConfigSnapshot, listenerId?: string, spec?: unknown): Promise<void> {
    let listenerErrors: ReadonlyMap<string, string>;
    try {
      ({ listenerErrors } = await this.runtime.apply(candidate));
    } catch (error) {
      await this.revert();
      this.logger.error({ err: error }, "the runtime refused a configuration");
      throw new ApiError("apply_failed", `the node could not apply the configuration (${(error as Error).message}); nothing changed`);
    }
    const bindError = listenerId === undefined ? undefined : listenerErrors.get(listenerId);
    if (bindError !== undefined) {
      await this.revert();
      const port = (spec as SpecOf["listeners"]).port;
      const where = formatHostPort(this.listenAddress, port);
      const message = `${KIND_LABEL.listeners.one} ${listenerId} cannot listen on ${where}: ${bindError}`;
      throw new ApiError("port_in_use", message, [{ path: "port", message: `${where}: ${bindError}` }]);
    }
  }

  private async persist(candidate: ConfigSnapshot): Promise<void> {
    try {
      await this.store.commit(candidate);
    } catch (error) {
      await this.revert();
      this.logger.error({ err: error }, "the configuration could not be persisted; the previous one stays");
      throw error;
    }
    this.metrics.observeConfig(candidate);
  }

  private async revert(): Promise<void> {
    try {
      await this.runtime.apply(this.store.snapshot());
    } catch (error) {
      // The runtime now runs neither configuration; the next accepted write or a restart heals it.
      this.logger.error({ err: error }, "the runtime could not go back to the stored configuration");
    }
  }
}
