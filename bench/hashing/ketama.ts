/**
 * The `hashring` npm package (ketama consistent hashing, 160 points per server by default) as the
 * peer, and exact measures on it: instead of sampling keys, the continuum is cut at every point of
 * the ring(s), and hashring's own find() names the owner of each arc. Shares and moved fractions
 * are then exact over the 2^32 hash space, with no sampling noise (which at N = 1000 would be
 * larger than the effects measured).
 */

interface RingNode {
  readonly value: number;
  readonly server: string;
}

/** The parts of hashring 3.x used here (it ships no types). */
export interface HashRing {
  readonly ring: readonly RingNode[];
  get(key: string): string | undefined;
  find(hashValue: number): number;
}

type HashRingConstructor = new (servers: Record<string, number>, algorithm?: string, options?: Record<string, unknown>) => HashRing;
const HashRingClass = require("hashring") as HashRingConstructor;

const SPACE = 2 ** 32;

export function buildRing(servers: ReadonlyArray<{ key: string; weight: number }>): HashRing {
  const weights: Record<string, number> = {};
  for (const s of servers) weights[s.key] = s.weight;
  return new HashRingClass(weights);
}

function ownerAt(r: HashRing, hashValue: number): string {
  return r.ring[r.find(hashValue)].server;
}

/** Sorted distinct point values of the given rings: the only places where an owner can change. */
function breakpoints(...rings: HashRing[]): number[] {
  const values = new Set<number>();
  for (const r of rings) for (const node of r.ring) values.add(node.value);
  return [...values].sort((a, b) => a - b);
}

/**
 * Calls `visit(owner arcs)` for every arc between consecutive breakpoints: (v[k-1], v[k]] and the
 * wrapping arc (v[last], 2^32) + [0, v[0]], with its length as a fraction of the hash space.
 */
function forEachArc(points: readonly number[], visit: (representative: number, fraction: number) => void): void {
  visit(points[0], (SPACE - points[points.length - 1] + points[0]) / SPACE);
  for (let k = 1; k < points.length; k++) visit(points[k], (points[k] - points[k - 1]) / SPACE);
}

/** Each server's exact share of the hash space. */
export function ringShares(r: HashRing): Map<string, number> {
  const shares = new Map<string, number>();
  forEachArc(breakpoints(r), (h, f) => {
    const owner = ownerAt(r, h);
    shares.set(owner, (shares.get(owner) ?? 0) + f);
  });
  return shares;
}

/** Exact fraction of the hash space whose owner differs between two rings. */
export function ringMovedFraction(a: HashRing, b: HashRing): number {
  let moved = 0;
  forEachArc(breakpoints(a, b), (h, f) => {
    if (ownerAt(a, h) !== ownerAt(b, h)) moved += f;
  });
  return moved;
}
