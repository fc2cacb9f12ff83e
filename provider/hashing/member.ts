/**
 * Hash members, their frozen key, and the canonical order every node builds its table in.
 */
import { formatHostPort } from "./host-port";

/** A member as the hashing core sees it: its address (already canonical), port and weight 1-100. */
export interface HashMember {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
}

export const MIN_WEIGHT = 1;
export const MAX_WEIGHT = 100;

/**
 * The member's identity for hashing: `address:port`, or `[address]:port` for IPv6.
 *
 * FROZEN FORMAT. The key orders the members and seeds each member's permutation, so it decides
 * which slots a member owns. Changing it (even adding a space or changing IPv6 case) reassigns
 * almost every slot, and during a rolling upgrade nodes on the old and new version would send the
 * same client to different members. Addresses must arrive canonical (the model normalizes them).
 */
export function memberKey(m: { address: string; port: number }): string {
  return formatHostPort(m.address, m.port);
}

/** Orders keys by UTF-16 code units: plain `<`, never locale-aware, so every node agrees. */
function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface CanonicalMembers<M extends HashMember> {
  readonly members: readonly M[];
  readonly keys: readonly string[];
}

/**
 * Validates members and sorts them by key. Sorting is what lets every node build the same table
 * from the same set, whatever order the configuration listed the members in.
 * Throws a RangeError naming the member for a weight outside 1-100, a bad port, or a duplicate key.
 */
export function canonicalMembers<M extends HashMember>(members: readonly M[]): CanonicalMembers<M> {
  const keyed = members.map((m) => {
    if (typeof m.address !== "string" || m.address.length === 0) {
      throw new RangeError(`maglev: member address must be a non-empty string, got ${JSON.stringify(m.address)}`);
    }
    const key = memberKey(m);
    if (!Number.isInteger(m.port) || m.port < 1 || m.port > 65535) {
      throw new RangeError(`maglev: member ${key}: port must be an integer 1-65535, got ${m.port}`);
    }
    if (!Number.isInteger(m.weight) || m.weight < MIN_WEIGHT || m.weight > MAX_WEIGHT) {
      throw new RangeError(
        `maglev: member ${key}: weight must be an integer ${MIN_WEIGHT}-${MAX_WEIGHT}, got ${m.weight} ` +
          `(leave a member out rather than give it weight 0)`,
      );
    }
    return { key, member: m };
  });
  keyed.sort((a, b) => compareKeys(a.key, b.key));
  for (let i = 1; i < keyed.length; i++) {
    if (keyed[i].key === keyed[i - 1].key) {
      throw new RangeError(`maglev: duplicate member ${keyed[i].key}`);
    }
  }
  return {
    members: Object.freeze(keyed.map((k) => k.member)),
    keys: Object.freeze(keyed.map((k) => k.key)),
  };
}
