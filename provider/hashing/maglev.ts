/**
 * Weighted Maglev lookup table: Eisenbud et al., "Maglev", NSDI 2016, section 3.4 (Pseudocode 1),
 * weighted by turn frequency as in Envoy (PR 2982), each member capped at its exact quota.
 * Derivations: docs/hashing.md.
 *
 * Members are sorted by their frozen key (memberKey) first: the table depends on member order, and
 * every node must build the same table from the same set, so that a client lands on the same
 * member whichever node it reaches. Pure: an instance holds its table, nothing else is kept.
 */

import { canonicalMembers, type HashMember } from "./member";
import { sipHash24, sipKeyFromBytes, type SipKey } from "./siphash";
import { checkTableSize, chooseTableSize } from "./table-size";

/**
 * The fixed SipHash keys of the permutation (not the seed: one table per member set). FROZEN, like
 * the member key format: changing either moves traffic between nodes of two versions during an upgrade.
 */
const OFFSET_KEY_TEXT = "dnlb maglev offs";
const SKIP_KEY_TEXT = "dnlb maglev skip";

function fixedKey(text: string): SipKey {
  return sipKeyFromBytes(Buffer.from(text, "latin1"));
}

/** (hi x 2^32 + lo) mod m for a 64-bit SipHash result, exactly for m < 2^21. */
function mod64(out: Uint32Array, m: number): number {
  return ((out[1] % m) * 0x100000000 + out[0]) % m;
}

export interface MaglevOptions<M extends HashMember = HashMember> {
  /** A prime, 2..1048573 and >= the member count. Default: chooseTableSize(members.length). */
  readonly tableSize?: number;
  /**
   * Which members may take traffic now (default: all). `members` is then the configured set:
   * eligible members keep their slots of the configured table and only the ineligible members'
   * slots are dealt again, so a health change moves the minimum and never resizes the table
   * (docs/hashing.md).
   */
  readonly eligible?: (member: M) => boolean;
}

/** Each member's start slot and stride through the table (Maglev's offset and skip). */
export function permutationOf(key: string, size: number): { offset: number; skip: number } {
  const bytes = Buffer.from(key, "utf8");
  const out = new Uint32Array(2);
  sipHash24(fixedKey(OFFSET_KEY_TEXT), bytes, bytes.length, out);
  const offset = mod64(out, size);
  sipHash24(fixedKey(SKIP_KEY_TEXT), bytes, bytes.length, out);
  const skip = size > 1 ? mod64(out, size - 1) + 1 : 1;
  return { offset, skip };
}

/**
 * Shares `items` in proportion to `amounts` by largest remainder (ties to the earlier member), in
 * exact integer arithmetic so that every node gets the same shares (docs/hashing.md).
 */
export function apportion(amounts: readonly number[], items: number): Uint32Array {
  const n = amounts.length;
  let sum = 0;
  for (const a of amounts) sum += a;
  const share = new Uint32Array(n);
  if (items === 0 || sum === 0) return share;
  const remainder = new Float64Array(n);
  const order: number[] = [];
  let assigned = 0;
  for (let i = 0; i < n; i++) {
    const scaled = items * amounts[i];
    remainder[i] = scaled % sum;
    share[i] = (scaled - remainder[i]) / sum;
    assigned += share[i];
    order.push(i);
  }
  order.sort((a, b) => remainder[b] - remainder[a] || a - b);
  for (let k = 0; k < items - assigned; k++) share[order[k]]++;
  return share;
}

/**
 * Maglev's fill with weighted turns: claims the free slots (-1) of `table` until member i has
 * `quota[i]` more (the quotas add up to the free slots). Returns the slots claimed per member.
 * Positions advance by `skip` instead of a stored N x M permutation.
 */
function fill(keys: readonly string[], weights: readonly number[], quota: Uint32Array, table: Int32Array): Uint32Array {
  const n = keys.length;
  const size = table.length;
  const next = new Int32Array(n); // the member's next preferred slot
  const skip = new Int32Array(n);
  const target = new Float64Array(n); // round x weight a member must reach before its next turn
  const weight = new Float64Array(n);
  let maxWeight = 0;
  let free = 0;
  for (let i = 0; i < n; i++) {
    const p = permutationOf(keys[i], size);
    next[i] = p.offset;
    skip[i] = p.skip;
    weight[i] = weights[i];
    if (weights[i] > maxWeight) maxWeight = weights[i];
    free += quota[i];
  }
  const counts = new Uint32Array(n);
  let filled = 0;
  // Terminates: a member below quota gets a turn at least every maxWeight rounds.
  for (let round = 1; filled < free; round++) {
    for (let i = 0; i < n; i++) {
      if (counts[i] === quota[i] || round * weight[i] < target[i]) continue;
      target[i] += maxWeight;
      const s = skip[i];
      let c = next[i];
      while (table[c] !== -1) {
        c += s;
        if (c >= size) c -= size;
      }
      table[c] = i;
      counts[i]++;
      c += s;
      if (c >= size) c -= size;
      next[i] = c;
      if (++filled === free) break;
    }
  }
  return counts;
}

/** The weighted Maglev table over `keys` (canonical order): member index per slot, and slots per member. */
function populate(keys: readonly string[], weights: readonly number[], size: number): { table: Int32Array; counts: Uint32Array } {
  const table = new Int32Array(size).fill(-1);
  const counts = fill(keys, weights, apportion(weights, size), table);
  return { table, counts };
}

export class Maglev<M extends HashMember = HashMember> {
  /** Table size M (prime). */
  readonly size: number;
  /** Members the table serves, in canonical order (sorted by memberKey); only eligible ones with `eligible`. */
  readonly members: readonly M[];
  /** memberKey of each member, same order as `members`. */
  private readonly keys: readonly string[];
  /** Index into `members` for each slot; empty for an empty member list. */
  private readonly table: Int32Array;
  /** Slots owned by each member. */
  private readonly counts: Uint32Array;

  private constructor(size: number, members: readonly M[], keys: readonly string[], table: Int32Array, counts: Uint32Array) {
    this.size = size;
    this.members = members;
    this.keys = keys;
    this.table = table;
    this.counts = counts;
  }

  /**
   * Builds the table over `members` (any order; validated, then sorted canonically); see
   * MaglevOptions for `eligible`. Throws a RangeError for a weight outside 1-100, a bad port, a
   * duplicate member, a table size that is not an allowed prime, or too many members.
   */
  static build<M extends HashMember>(members: readonly M[], opts: MaglevOptions<M> = {}): Maglev<M> {
    const size = opts.tableSize === undefined ? chooseTableSize(members.length) : checkTableSize(opts.tableSize, members.length);
    const all = canonicalMembers(members);
    const isEligible = opts.eligible;
    const mask = isEligible === undefined ? undefined : all.members.map((m) => isEligible(m));
    if (mask === undefined || mask.every((e) => e)) {
      return Maglev.fromCanonical(all.members, all.keys, size);
    }
    const eligibleMembers = Object.freeze(all.members.filter((_, i) => mask[i]));
    const eligibleKeys = Object.freeze(all.keys.filter((_, i) => mask[i]));
    if (eligibleMembers.length === 0) return Maglev.fromCanonical(eligibleMembers, eligibleKeys, size);

    // Keep every slot an eligible member owns in the configured table; free the others.
    const configured = populate(all.keys, all.members.map((m) => m.weight), size).table;
    const eligibleIndex = new Int32Array(all.members.length).fill(-1);
    for (let i = 0, e = 0; i < mask.length; i++) if (mask[i]) eligibleIndex[i] = e++;
    const table = new Int32Array(size);
    const owned = new Uint32Array(eligibleMembers.length);
    let free = 0;
    for (let s = 0; s < size; s++) {
      const owner = eligibleIndex[configured[s]];
      table[s] = owner;
      if (owner >= 0) owned[owner]++;
      else free++;
    }
    // Deal the free slots in proportion to what each member lacks of its fair share M x w / We.
    const weights = eligibleMembers.map((m) => m.weight);
    const eligibleWeight = weights.reduce((a, b) => a + b, 0);
    const lacking = weights.map((w, i) => Math.max(0, size * w - owned[i] * eligibleWeight));
    const dealt = fill(eligibleKeys, weights, apportion(lacking, free), table);
    const counts = owned.map((c, i) => c + dealt[i]);
    return new Maglev<M>(size, eligibleMembers, eligibleKeys, table, counts);
  }

  private static fromCanonical<M extends HashMember>(members: readonly M[], keys: readonly string[], size: number): Maglev<M> {
    if (members.length === 0) return new Maglev<M>(size, members, keys, new Int32Array(0), new Uint32Array(0));
    const { table, counts } = populate(keys, members.map((m) => m.weight), size);
    return new Maglev<M>(size, members, keys, table, counts);
  }

  /**
   * The slot a flow hash maps to: flowHash mod M. Any number is accepted: negative and
   * fractional hashes are reduced into 0..M-1, NaN and infinities map to slot 0.
   */
  slotOf(flowHash: number): number {
    const r = flowHash % this.size; // NaN for NaN and +-Infinity
    if (r >= 0) return Math.floor(r);
    if (r < 0) return Math.floor(r) + this.size;
    return 0;
  }

  /** The member for a flow: table[flowHash mod M]. Undefined only when there are no members. */
  lookup(flowHash: number): M | undefined {
    if (this.table.length === 0) return undefined;
    return this.members[this.table[this.slotOf(flowHash)]];
  }

  /**
   * Up to `max` distinct members for a flow, for connect-failure fallback: lookup(flowHash), then
   * the owners of the following slots (wrapping), so fallback load spreads by weight and every
   * node gives a flow the same order.
   */
  candidates(flowHash: number, max: number): M[] {
    const n = this.members.length;
    const want = Math.min(n, Math.floor(max));
    if (this.table.length === 0 || !(want >= 1)) return [];
    const found: number[] = [];
    // A bitmap only pays off when many members are wanted; small lists scan `found` instead.
    const seen = want > 8 ? new Uint8Array(n) : undefined;
    let slot = this.slotOf(flowHash);
    for (let step = 0; step < this.size && found.length < want; step++) {
      const index = this.table[slot];
      const isNew = seen !== undefined ? seen[index] === 0 : !found.includes(index);
      if (isNew) {
        found.push(index);
        if (seen !== undefined) seen[index] = 1;
      }
      slot = slot + 1 === this.size ? 0 : slot + 1;
    }
    // Members with no slot (only in an explicit table under 100 N) follow, so all can be reached.
    for (let i = 0; i < n && found.length < want; i++) {
      if (this.counts[i] === 0) found.push(i);
    }
    return found.map((i) => this.members[i]);
  }

  /** Slots owned per member (memberKey -> count), canonical order. */
  slotCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    this.keys.forEach((key, i) => counts.set(key, this.counts[i]));
    return counts;
  }

  /** Fraction of slots owned per member (memberKey -> share; the shares sum to 1), canonical order. */
  slotShares(): Map<string, number> {
    const shares = new Map<string, number>();
    this.keys.forEach((key, i) => shares.set(key, this.counts[i] / this.size));
    return shares;
  }

  /** memberKey of the owner of `slot` (0..M-1), or undefined for an empty table or a slot out of range. */
  slotKey(slot: number): string | undefined {
    const index = this.table[slot];
    return index === undefined ? undefined : this.keys[index];
  }

  /** See movedFraction. */
  static movedFraction(a: Maglev, b: Maglev): number {
    const aEmpty = a.table.length === 0;
    const bEmpty = b.table.length === 0;
    if (aEmpty || bEmpty) return aEmpty && bEmpty ? 0 : 1;
    if (a.size === b.size) {
      let moved = 0;
      for (let s = 0; s < a.size; s++) {
        if (a.keys[a.table[s]] !== b.keys[b.table[s]]) moved++;
      }
      return moved / a.size;
    }
    // Different prime sizes: the two slots of a flow are independent (docs/hashing.md), so
    // P(stay) = sum over members of shareA x shareB.
    const sharesB = b.slotShares();
    let stay = 0;
    a.keys.forEach((key, i) => {
      stay += (a.counts[i] / a.size) * (sharesB.get(key) ?? 0);
    });
    return 1 - stay;
  }
}

/**
 * The fraction of flows (uniform flow hashes) that map to a different member in `b` than in `a`,
 * exactly, also across sizes (docs/hashing.md). Empty against non-empty: 1; two empty tables: 0.
 */
export function movedFraction(a: Maglev, b: Maglev): number {
  return Maglev.movedFraction(a, b);
}

