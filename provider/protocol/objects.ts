import type { Kind } from "../model";

/**
 * Objects on the wire. A node stores `{ id, revision, spec }` and shows it flat, as
 * `{ id, revision, ...spec }`; a list answers `{ items: [...] }` (docs/admin-api.md).
 */

export interface StoredObject<T = Record<string, unknown>> {
  readonly id: string;
  /**
   * The node's write sequence number when this object was last written (If-Match compares it).
   * Node-wide and never reused, so an object deleted and created again cannot match an If-Match
   * that named its earlier life.
   */
  readonly revision: number;
  readonly spec: T;
}

export function listPath(kind: Kind): string {
  return `/v1/${kind}`;
}

export function objectPath(kind: Kind, id: string): string {
  return `${listPath(kind)}/${encodeURIComponent(id)}`;
}

/** The object as the API shows it. */
export function presentObject<T extends object>(stored: StoredObject<T>): Record<string, unknown> {
  return { id: stored.id, revision: stored.revision, ...stored.spec };
}

/** Reads what `presentObject` showed; `id` names the object in the error and stands in for a missing one. */
export function readObject(body: unknown, id: string): StoredObject {
  if (body === null || typeof body !== "object" || typeof (body as { revision?: unknown }).revision !== "number") {
    throw new Error(`unexpected admin API answer for ${id}: ${JSON.stringify(body)?.slice(0, 200)}`);
  }
  const { id: storedId, revision, ...spec } = body as Record<string, unknown>;
  return { id: typeof storedId === "string" ? storedId : id, revision: revision as number, spec };
}

export interface ListBody {
  readonly items: readonly Record<string, unknown>[];
}

/** Reads a list answer; a bare array is accepted too. */
export function readObjectList(body: unknown): StoredObject[] {
  const items = Array.isArray(body) ? body : Array.isArray((body as { items?: unknown } | undefined)?.items) ? (body as { items: unknown[] }).items : [];
  return items.map((item) => readObject(item, ""));
}
