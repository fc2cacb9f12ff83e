import * as path from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { Kind, SpecOf } from "../../model";
import type { ConfigSnapshot, Stored } from "./snapshot";
import { ApiError } from "../errors";
import { loadConfig, saveConfig, STATE_FILE } from "./file";
import { KIND_LABEL, objectsOf, withObject, withoutObject } from "./objects";
import { checkPreconditions, type Preconditions } from "./preconditions";
import { checkDelete, checkPut } from "./rules";

/**
 * The node's configuration: the snapshot the runtime runs and the state file that holds it.
 *
 * A write is planned (validated against the rules and preconditions, giving the candidate
 * snapshot), prepared by the caller's runtime, then committed (persisted, then swapped in), then
 * applied. The store does not serialize writes itself: the admin API's writer (writer.ts) runs one
 * write at a time.
 */

export interface PutPlan<K extends Kind> {
  readonly kind: K;
  readonly id: string;
  /** The object as it is after the write. */
  readonly stored: Stored<SpecOf[K]>;
  readonly created: boolean;
  /** False for a PUT of the spec already stored: nothing to apply, persist or count. */
  readonly changed: boolean;
  readonly candidate: ConfigSnapshot;
}

export interface DeletePlan {
  readonly kind: Kind;
  readonly id: string;
  readonly candidate: ConfigSnapshot;
}

export interface StoreOptions {
  /** Persists a snapshot; default: the atomic state file in `stateDir`. Injected by tests to fail. */
  readonly save?: (stateDir: string, config: ConfigSnapshot) => Promise<void>;
}

export class ConfigStore {
  private current: ConfigSnapshot;

  private constructor(
    readonly stateDir: string,
    initial: ConfigSnapshot,
    private readonly save: (stateDir: string, config: ConfigSnapshot) => Promise<void>,
  ) {
    this.current = initial;
  }

  /** Opens `stateDir` (created when missing) and restores its configuration. Throws StateFileError. */
  static async open(stateDir: string, options: StoreOptions = {}): Promise<ConfigStore> {
    return new ConfigStore(stateDir, await loadConfig(stateDir), options.save ?? saveConfig);
  }

  get stateFile(): string {
    return path.join(this.stateDir, STATE_FILE);
  }

  snapshot(): ConfigSnapshot {
    return this.current;
  }

  get<K extends Kind>(kind: K, id: string): Stored<SpecOf[K]> | undefined {
    return objectsOf(this.current, kind).get(id);
  }

  /** One kind's objects, sorted by id so that listings are stable. */
  list<K extends Kind>(kind: K): Stored<SpecOf[K]>[] {
    return [...objectsOf(this.current, kind).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Plans a PUT. A spec equal to the stored one changes nothing and passes whatever its
   * preconditions say: a retried write must not fail because its first attempt succeeded.
   */
  planPut<K extends Kind>(kind: K, id: string, spec: SpecOf[K], pre: Preconditions = {}): PutPlan<K> {
    const previous = this.get(kind, id);
    if (previous !== undefined && isDeepStrictEqual(previous.spec, spec)) {
      return { kind, id, stored: previous, created: false, changed: false, candidate: this.current };
    }
    checkPreconditions(`${KIND_LABEL[kind].one} ${id}`, previous?.revision, pre);
    checkPut(this.current, kind, id, spec);
    const stored: Stored<SpecOf[K]> = { id, revision: (this.current.lastRevision ?? 0) + 1, spec };
    return { kind, id, stored, created: previous === undefined, changed: true, candidate: withObject(this.current, kind, stored) };
  }

  /** Plans a DELETE. Throws 404 when absent, 409 when another object uses it. */
  planDelete(kind: Kind, id: string): DeletePlan {
    checkDelete(this.current, kind, id);
    return { kind, id, candidate: withoutObject(this.current, kind, id) };
  }

  /**
   * Persists `candidate` and makes it current. On failure nothing changes (the state file still
   * holds the previous configuration: the write is atomic) and the error says so.
   */
  async commit(candidate: ConfigSnapshot): Promise<void> {
    try {
      await this.save(this.stateDir, candidate);
    } catch (error) {
      throw new ApiError(
        "persist_failed",
        `the configuration could not be saved to ${this.stateFile} (${(error as Error).message}); nothing changed`,
      );
    }
    this.current = candidate;
  }
}
