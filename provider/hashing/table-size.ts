/**
 * Maglev table sizes. The size M must be prime: a member's skip is in 1..M-1, and only for prime M
 * is every such skip coprime with M, so that every member's preference list visits every slot
 * (Eisenbud et al., NSDI 2016, section 3.4). M should also be well above the member count: the
 * paper and Envoy suggest M >= 100 N, which keeps every member's share within about 1% of its
 * weighted fair share.
 */

/** The paper's small table size, also Envoy's default. */
export const DEFAULT_TABLE_SIZE = 65537;

/**
 * Sizes picked automatically, ascending. Each is prime (test/hashing/maglev.test.ts checks it).
 * Growing the table re-deals almost every slot, so sizes are few and far apart.
 */
export const TABLE_SIZES: readonly number[] = Object.freeze([65537, 131071, 262147, 524309, 655373, 1048573]);

/** The largest table built: 1048573 slots of 4 bytes, about 4 MiB. */
export const MAX_TABLE_SIZE = TABLE_SIZES[TABLE_SIZES.length - 1];

/** How many slots per member the automatic size aims for at least. */
export const SLOTS_PER_MEMBER = 100;

export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) {
    if (n % d === 0) return false;
  }
  return true;
}

/**
 * The smallest size in TABLE_SIZES that is >= max(DEFAULT_TABLE_SIZE, 100 x memberCount).
 * Throws a RangeError past MAX_TABLE_SIZE (more than 10485 members).
 */
export function chooseTableSize(memberCount: number): number {
  if (!Number.isInteger(memberCount) || memberCount < 0) {
    throw new RangeError(`maglev: member count must be a non-negative integer, got ${memberCount}`);
  }
  const wanted = Math.max(DEFAULT_TABLE_SIZE, SLOTS_PER_MEMBER * memberCount);
  for (const size of TABLE_SIZES) {
    if (size >= wanted) return size;
  }
  throw new RangeError(
    `maglev: ${memberCount} members need a table of at least ${wanted} slots (${SLOTS_PER_MEMBER} per member), ` +
      `above the largest supported size ${MAX_TABLE_SIZE}; at most ${Math.floor(MAX_TABLE_SIZE / SLOTS_PER_MEMBER)} members are supported`,
  );
}

/** Validates an explicitly requested table size; returns it or throws one RangeError saying why. */
export function checkTableSize(size: number, memberCount: number): number {
  if (!Number.isInteger(size) || size < 2 || size > MAX_TABLE_SIZE || !isPrime(size)) {
    throw new RangeError(`maglev: table size must be a prime between 2 and ${MAX_TABLE_SIZE}, got ${size}`);
  }
  if (size < memberCount) {
    throw new RangeError(`maglev: table size ${size} is smaller than the ${memberCount} members; every member needs a slot`);
  }
  return size;
}
