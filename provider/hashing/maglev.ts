/**
 * Weighted Maglev lookup table.
 *
 * Sources:
 * - D. E. Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
 *   section 3.4 (consistent hashing, Pseudocode 1): every member has a permutation of the M slots
 *   given by an offset and a skip; members take turns claiming their next free preferred slot
 *   until the table is full.
 * - Weighting by turn frequency, as in Envoy's weighted Maglev (envoyproxy/envoy PR 2982,
 *   source/common/upstream/maglev_lb.cc) and Cilium (pkg/maglev/maglev.go): a member of weight w
 *   takes a turn in round k only when k x w has caught up with its next target, which then moves
 *   on by the largest weight. The heaviest member claims a slot every round, one of a third of
 *   that weight every third round, and so on. Weights are integers here, so the test is exact.
 * - One addition of ours: each member stops at its exact quota, M x w / W rounded by largest
 *   remainder. Envoy's rule alone gives every member a free turn in round 1, which over-serves light
 *   members by up to 2 slots and under-serves heavy ones by about N/M of their share (1% at
 *   M = 100 N); with the cap every member owns its fair share of slots to within one slot.
 *   (A member whose quota is 0 owns no slot; that needs M < 100 N, i.e. an explicit small table.)
 *
 * Why members are sorted: the turn order and so the table depend on member order, and every
 * forwarder node must build the same table from the same set, so that a client lands on the same
 * member whichever node it reaches. Members are sorted by their frozen key (see memberKey).
 *
 * Why the permutation hash has a fixed key: offset and skip come from SipHash-2-4 of the member key
 * under two constant keys, never the load balancer's seed, so a given member set has one table,
 * independent of the seed, and the golden tables in the tests stay put. The seed keys the flow hash
 * instead (FlowHasher), which is what keeps outsiders from steering flows.
 *
 * Pure: no I/O, clock, randomness or module-level state; an instance holds its table.
 */

import { canonicalMembers, type HashMember } from "./member";
import { sipHash24, sipKeyFromBytes, type SipKey } from "./siphash";
import { checkTableSize, chooseTableSize } from "./table-size";

/**
 * The fixed SipHash keys of the permutation. FROZEN, like the member key format: changing either
 * reassigns almost every slot, and nodes of two versions would disagree during an upgrade.
 */
const OFFSET_KEY_TEXT = "dnlb maglev offs";
const SKIP_KEY_TEXT = "dnlb maglev skip";

function fixedKey(text: string): SipKey {
  return sipKeyFromBytes(Buffer.from(text, "latin1"));
}

/** (hi x 2^32 + lo) mod m for a 64-bit SipHash result, exactly (m < 2^21 keeps it in doubles' range). */
function mod64(out: Uint32Array, m: number): number {
  return ((out[1] % m) * 0x100000000 + out[0]) % m;
}

export interface MaglevOptions<M extends HashMember = HashMember> {
  /** A prime, 2..1048573 and >= the member count. Default: chooseTableSize(members.length). */
  readonly tableSize?: number;
  /**
   * Which members may take traffic now (default: all). With it, `members` passed to build is the
   * configured set: the table is built over all of them, eligible members keep every slot they
   * own there, and only the slots of ineligible members are dealt again, among the eligible
   * members in proportion to what each lacks of its fair share (M x w / eligible weight), by the
   * same Maglev fill restricted to the free slots. So:
   * - a member that goes down or comes back moves exactly its own slots, the minimum, where a
   *   table rebuilt over the eligible members also moves slots between the others (see
   *   docs/BENCHMARKS.md, Hashing);
   * - the size follows the configured count, so health changes never resize the table (a resize
   *   moves almost every flow);
   * - every eligible member still owns its fair share of slots to within one slot.
   * The result depends only on the configured set and the eligible subset, so nodes that agree
   * on health build the same table.
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
 * Shares `items` among members in proportion to `amounts` (non-negative integers, not all 0):
 * floor(items x a / sum), plus one for the largest remainders (ties to the earlier member) until
 * the shares add up to `items`. Exact integer arithmetic: items x a stays below 2^53 (at most
 * 1048573 x 1048573 x 100 here), and the floor is taken by subtracting the remainder, not by
 * rounding a quotient, so every node gets the same shares.
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
 * Maglev's fill (Pseudocode 1) with Envoy's weighted turns and a per-member cap: claims the free
 * slots (-1) of `table` for members 0..n-1 until every member has `quota[i]` more slots; the
 * quotas must add up to the number of free slots. Returns the slots claimed per member.
 * No per-member permutation array is stored (N x M would be 65 M entries for 1000 members); each
 * member's position in its own permutation advances by `skip` instead.
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
  // Terminates: the quotas add up to the free slots, and a member below quota gets a turn at
  // least every maxWeight rounds.
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
    // Deal the free slots so that each member ends near its fair share M x w / We: in proportion
    // to what it lacks, (M x w - owned x We) / We, computed in integers.
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
   * Up to `max` distinct members for a flow, for connect-failure fallback: lookup(flowHash) first,
   * then the owners of the following slots (wrapping) in the order they are met. Slots are dealt
   * pseudo-randomly in proportion to weight, so the fallback load of a failed member spreads by
   * weight too, and each flow's fallback order is the same on every node.
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
    // Only a member with no slot (possible only in an explicit table smaller than 100 N) escapes
    // the walk; such members follow, in canonical order, so that every member can be reached.
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
    // Different prime sizes: for a uniform flow hash h, (h mod Ma, h mod Mb) is uniform over all
    // pairs of slots (Chinese remainder theorem; the 2^53 range adds an error below 1e-4), so a flow
    // stays only when both slots name the same member: P(stay) = sum over members of shareA x shareB.
    const sharesB = b.slotShares();
    let stay = 0;
    a.keys.forEach((key, i) => {
      stay += (a.counts[i] / a.size) * (sharesB.get(key) ?? 0);
    });
    return 1 - stay;
  }
}

/**
 * The fraction of flows (uniform flow hashes) that map to a different member in `b` than in `a`.
 * Same size: exactly the fraction of slots whose owner's memberKey differs. Different sizes
 * (the member count crossed a size step): computed exactly, without sampling, as
 * 1 - sum(shareA x shareB) over members, since the two slot indices of a flow are independent;
 * it is close to 1 - 1/N, i.e. resizing the table moves almost every flow.
 * An empty table against a non-empty one counts as every flow moving (1); two empty tables give 0.
 */
export function movedFraction(a: Maglev, b: Maglev): number {
  return Maglev.movedFraction(a, b);
}

