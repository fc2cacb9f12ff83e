import type { Logger } from "pino";
import { formatHostPort, type Kind, type SpecOf } from "../../model";
import type { ConfigSnapshot, Stored } from "./snapshot";
import { ApiError, isApiError } from "../errors";
import type { ConfigStore } from "./store";
import type { Preconditions } from "./preconditions";
import { KIND_LABEL } from "./objects";
import { SerialQueue } from "../serial-queue";

/** What the writer needs from the runtime (ForwarderRuntime has it; tests may pass a fake). */
export interface ConfigApplier {
  /** Refuses (throws) or reports unbindable listeners for `config`, changing nothing that runs. */
  prepare(config: ConfigSnapshot): Promise<{ readonly listenerErrors: ReadonlyMap<string, string> }>;
  apply(config: ConfigSnapshot): Promise<{ readonly listenerErrors: ReadonlyMap<string, string> }>;
  /** Closes what `prepare` opened and `apply` did not take. */
  release(): Promise<void>;
}

/** What the writer reports of each write (the admin API's metrics have it). */
export interface WriteObserver {
  observeWrite(kind: Kind, action: "put" | "delete", result: "changed" | "unchanged" | "refused" | "failed"): void;
  observeConfig(config: ConfigSnapshot): void;
}

export interface PutOutcome<K extends Kind> {
  readonly stored: Stored<SpecOf[K]>;
  readonly created: boolean;
  readonly changed: boolean;
}

/**
 * The write path, one write at a time:
 *   plan (rules, preconditions) -> runtime.prepare(candidate) -> persist -> runtime.apply -> answer,
 * and runtime.release whatever happened. A write answered as failed changed nothing anywhere: a
 * listener that cannot bind or a runtime that refuses stops it before anything is stored, a disk
 * that refuses stops it before the runtime changes, and no open connection is drained or closed
 * before the write is stored.
 */
export class ConfigWriter {
  private readonly queue = new SerialQueue();
  private closed = false;

  constructor(
    private readonly store: ConfigStore,
    private readonly runtime: ConfigApplier,
    private readonly logger: Logger,
    private readonly metrics: WriteObserver,
    /** Where listeners bind, to name `address:port` when one cannot. */
    private readonly listenAddress: string,
  ) {}

  put<K extends Kind>(kind: K, id: string, spec: SpecOf[K], pre: Preconditions): Promise<PutOutcome<K>> {
    return this.enqueue(kind, "put", async () => {
      const plan = this.store.planPut(kind, id, spec, pre);
      if (!plan.changed) return { outcome: plan, result: "unchanged" as const };
      await this.write(plan.candidate, kind === "listeners" ? id : undefined, spec);
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
      await this.write(plan.candidate);
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

  private async write(candidate: ConfigSnapshot, listenerId?: string, spec?: unknown): Promise<void> {
    try {
      await this.prepare(candidate, listenerId, spec);
      await this.store.commit(candidate).catch((error: unknown) => {
        this.logger.error({ err: error }, "the configuration could not be persisted; the previous one stays");
        throw error;
      });
      this.metrics.observeConfig(candidate);
      await this.run(candidate);
    } finally {
      await this.runtime.release().catch((error: unknown) => this.logger.error({ err: error }, "closing the listeners a write had prepared failed"));
    }
  }

  /** Everything that can refuse `candidate` before it is stored; changes nothing that runs. */
  private async prepare(candidate: ConfigSnapshot, listenerId?: string, spec?: unknown): Promise<void> {
    let listenerErrors: ReadonlyMap<string, string>;
    try {
      ({ listenerErrors } = await this.runtime.prepare(candidate));
    } catch (error) {
      this.logger.error({ err: error }, "the runtime refused a configuration");
      throw new ApiError("apply_failed", `the node could not apply the configuration (${(error as Error).message}); nothing changed`);
    }
    const bindError = listenerId === undefined ? undefined : listenerErrors.get(listenerId);
    if (bindError !== undefined) {
      const port = (spec as SpecOf["listeners"]).port;
      const where = formatHostPort(this.listenAddress, port);
      const message = `${KIND_LABEL.listeners.one} ${listenerId} cannot listen on ${where}: ${bindError}`;
      throw new ApiError("port_in_use", message, [{ path: "port", message: `${where}: ${bindError}` }]);
    }
  }

  /**
   * Runs the stored `candidate`. The write is durable now, so the answer is success whatever
   * happens here: what prepare checked cannot fail, and a listener that fails to bind after all
   * shows Failed in status and is retried.
   */
  private async run(candidate: ConfigSnapshot): Promise<void> {
    try {
      await this.runtime.apply(candidate);
    } catch (error) {
      this.logger.error({ err: error }, "the runtime could not run a stored configuration; it runs it after a restart");
    }
  }
}
