import { isNodeHttpError, type AdminClient, type NodeCredentials } from "../client";
import type { Kind } from "../model";
import type { StoredObject } from "../protocol";

/**
 * One admin operation on every node at once, and what to tell the user when some nodes fail.
 * Errors always name the node (its endpoint), the HTTP status and the node's own message.
 */

export interface Target {
  readonly client: AdminClient;
  readonly endpoints: readonly string[];
  readonly credentials: NodeCredentials;
  readonly kind: Kind;
  readonly id: string;
  /** "health check web (web-1a2b3c4d)": how messages name the object. */
  readonly what: string;
}

type Settled<T> = { readonly endpoint: string; readonly ok: true; readonly value: T } | { readonly endpoint: string; readonly ok: false; readonly error: unknown };

type Succeeded<T> = Extract<Settled<T>, { ok: true }>;
type Failed<T> = Extract<Settled<T>, { ok: false }>;

/** Splits a fan-out's results into the nodes that succeeded and those that failed. */
function split<T>(results: readonly Settled<T>[]): { readonly done: Succeeded<T>[]; readonly failed: Failed<T>[] } {
  return {
    done: results.filter((r): r is Succeeded<T> => r.ok),
    failed: results.filter((r): r is Failed<T> => !r.ok),
  };
}

async function everyNode<T>(endpoints: readonly string[], action: (endpoint: string) => Promise<T>): Promise<Settled<T>[]> {
  return Promise.all(
    endpoints.map(async (endpoint): Promise<Settled<T>> => {
      try {
        return { endpoint, ok: true, value: await action(endpoint) };
      } catch (error) {
        return { endpoint, ok: false, error };
      }
    }),
  );
}

function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function listFailures(failed: readonly { endpoint: string; error: unknown }[]): string {
  return failed.map((f) => `  - ${reason(f.error).startsWith(f.endpoint) ? reason(f.error) : `${f.endpoint}: ${reason(f.error)}`}`).join("\n");
}

/**
 * A node already holds an object with this id, and it is not the one we are creating.
 * (A plain Error: Error subclasses do not survive Pulumi's closure serialization.)
 */
function foreignObjectError(endpoint: string, what: string, revision: number): Error {
  return new Error(
    `${endpoint}: HTTP 412 precondition_failed: the node already holds a different object with this id (revision ${revision}); ` +
      `${what} was not created over it`,
  );
}

/**
 * Creates the object on every node (`If-None-Match: *`). A node that already holds an equal spec
 * counts as created: that is a retry of a create that went through. If any node fails, the object
 * is deleted again from the nodes where it now exists, and the error lists every failure.
 */
export async function createEverywhere(
  target: Target,
  spec: Record<string, unknown>,
  sameAsSpec: (stored: StoredObject) => boolean,
): Promise<Map<string, number>> {
  const { client, credentials, kind, id } = target;
  const results = await everyNode(target.endpoints, async (endpoint) => {
    try {
      return (await client.put(endpoint, credentials, kind, id, spec, { create: true })).stored;
    } catch (error) {
      if (!isNodeHttpError(error) || error.status !== 412) throw error;
      const existing = await client.get(endpoint, credentials, kind, id);
      if (existing !== undefined && sameAsSpec(existing)) return existing;
      throw foreignObjectError(endpoint, target.what, existing?.revision ?? 0);
    }
  });
  const { done: created, failed } = split(results);
  if (failed.length === 0) return new Map(created.map((r) => [r.endpoint, r.value.revision]));

  const rollback = await everyNode(
    created.map((r) => r.endpoint),
    (endpoint) => client.remove(endpoint, credentials, kind, id),
  );
  const { done, failed: stuck } = split(rollback);
  const rolledBack = done.map((r) => r.endpoint);
  const lines = [
    `creating ${target.what} failed on ${failed.length} of ${target.endpoints.length} node${target.endpoints.length === 1 ? "" : "s"}:`,
    listFailures(failed),
  ];
  if (rolledBack.length > 0) lines.push(`rolled back (deleted again) on ${rolledBack.join(", ")}`);
  if (stuck.length > 0) {
    lines.push(`rollback FAILED on these nodes, where the object remains until the next delete or update:`, listFailures(stuck));
  }
  if (created.length === 0) lines.push("nothing was created on any node");
  throw new Error(lines.join("\n"));
}

/**
 * Writes the object to every node, creating it where it is missing (a new node, or one that
 * lost it). On partial failure the error says which node holds which revision, so the user
 * knows the next `pulumi up` (which pushes again) is what converges them.
 */
export async function putEverywhere(target: Target, spec: Record<string, unknown>): Promise<Map<string, number>> {
  const { client, credentials, kind, id } = target;
  const results = await everyNode(target.endpoints, async (endpoint) => (await client.put(endpoint, credentials, kind, id, spec)).stored);
  const { done: written, failed } = split(results);
  if (failed.length === 0) return new Map(written.map((r) => [r.endpoint, r.value.revision]));

  // What do the failed nodes hold now? Best effort: a node that refused the write usually answers a read.
  const held = await everyNode(
    failed.map((f) => f.endpoint),
    (endpoint) => client.get(endpoint, credentials, kind, id),
  );
  const holding = [
    ...written.map((w) => `${w.endpoint}: revision ${w.value.revision} (this update)`),
    ...held.map((h) =>
      h.ok
        ? `${h.endpoint}: ${h.value === undefined ? "no such object" : `revision ${h.value.revision} (not updated)`}`
        : `${h.endpoint}: unknown (${reason(h.error)})`,
    ),
  ];
  throw new Error(
    [
      `updating ${target.what} failed on ${failed.length} of ${target.endpoints.length} nodes:`,
      listFailures(failed),
      "the nodes now hold:",
      ...holding.map((line) => `  - ${line}`),
      "run `pulumi up` again once the nodes are healthy: it pushes the whole object to every node",
    ].join("\n"),
  );
}

/** Deletes the object from every node; a node that does not have it (404) counts as done. */
export async function deleteEverywhere(target: Target): Promise<void> {
  const { client, credentials, kind, id } = target;
  const results = await everyNode(target.endpoints, (endpoint) => client.remove(endpoint, credentials, kind, id));
  const { failed } = split(results);
  if (failed.length === 0) return;
  const deleted = results.filter((r) => r.ok).map((r) => r.endpoint);
  const lines = [`deleting ${target.what} failed on ${failed.length} of ${target.endpoints.length} nodes:`, listFailures(failed)];
  if (deleted.length > 0) lines.push(`it is gone from ${deleted.join(", ")}; the next delete finishes the others`);
  throw new Error(lines.join("\n"));
}

export type NodeView =
  | { readonly endpoint: string; readonly state: "present"; readonly stored: StoredObject }
  | { readonly endpoint: string; readonly state: "missing" }
  | { readonly endpoint: string; readonly state: "error"; readonly error: string };

/** What every node holds under this id. */
export async function readEverywhere(target: Target): Promise<NodeView[]> {
  const { client, credentials, kind, id } = target;
  const results = await everyNode(target.endpoints, (endpoint) => client.get(endpoint, credentials, kind, id));
  return results.map((r): NodeView => {
    if (!r.ok) return { endpoint: r.endpoint, state: "error", error: reason(r.error) };
    return r.value === undefined ? { endpoint: r.endpoint, state: "missing" } : { endpoint: r.endpoint, state: "present", stored: r.value };
  });
}
