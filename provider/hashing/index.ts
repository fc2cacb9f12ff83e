/**
 * The hashing core: weighted Maglev tables and keyed flow hashes. Pure computation, no I/O.
 * See maglev.ts (and docs/hashing.md) for the table, flow.ts for the flow keys.
 */

export { formatHostPort } from "./host-port";
export { memberKey, MIN_WEIGHT, MAX_WEIGHT, type HashMember } from "./member";
export { DEFAULT_TABLE_SIZE, MAX_TABLE_SIZE, TABLE_SIZES, SLOTS_PER_MEMBER, chooseTableSize, isPrime } from "./table-size";
export { Maglev, movedFraction, type MaglevOptions } from "./maglev";
export { FlowHasher, seedKeyBytes } from "./flow";
