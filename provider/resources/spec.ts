/**
 * Comparing specs the way a user means "changed": key order and member order do not matter
 * (every node sorts members canonically before hashing), and an absent optional field equals
 * an undefined one.
 */

/** JSON with object keys sorted, so equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/** Members ordered by (address, port): the list order is not part of a group's meaning. */
function orderedMembers(members: unknown): unknown {
  if (!Array.isArray(members)) return members;
  const keyed = members.map((m) => ({ key: memberSortKey(m), m }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return keyed.map((k) => k.m);
}

function memberSortKey(member: unknown): string {
  if (member === null || typeof member !== "object") return canonicalJson(member);
  const m = member as { address?: unknown; port?: unknown };
  return `${String(m.address)}|${m.port === undefined ? "" : String(m.port)}`;
}

/** The comparable text of one field's value. */
export function fieldText(field: string, value: unknown): string {
  return canonicalJson(field === "members" ? orderedMembers(value) : value);
}

/** The spec fields (of `fields`) whose values differ between `a` and `b`. */
export function changedFields(a: Record<string, unknown>, b: Record<string, unknown>, fields: readonly string[]): string[] {
  return fields.filter((field) => fieldText(field, a[field]) !== fieldText(field, b[field]));
}

export function sameSpec(a: Record<string, unknown>, b: Record<string, unknown>, fields: readonly string[]): boolean {
  return changedFields(a, b, fields).length === 0;
}

/** `{ a, b, c }` restricted to `fields`, leaving out undefined values. */
export function pick(source: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of fields) if (source[field] !== undefined) out[field] = source[field];
  return out;
}

/** The spec's identity for grouping nodes that agree: the canonical text over `fields`. */
export function specKey(spec: Record<string, unknown>, fields: readonly string[]): string {
  return fields.map((f) => `${f}=${fieldText(f, spec[f])}`).join("\n");
}
