/**
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", INDOCRYPT 2012),
 * written for the flow-hash hot path: no allocation per call and no BigInt.
 *
 * JavaScript has no 64-bit integer arithmetic short of BigInt, which allocates and is slow, so each
 * 64-bit lane is kept as two uint32 locals (hi, lo). The `siphash` npm package does the same but
 * builds small objects on every call; docs/BENCHMARKS.md (section Hashing) has the measured gap
 * that justified keeping this copy. It is checked against the paper's published test vector and,
 * byte for byte, against that package in test/hashing/siphash.test.ts.
 */

/** A 128-bit SipHash key as four little-endian uint32 words: k0 low, k0 high, k1 low, k1 high. */
export type SipKey = Uint32Array;

/** Turns 16 key bytes into the word layout `sipHash24` reads (bytes 0-7 are k0, 8-15 are k1, little-endian). */
export function sipKeyFromBytes(bytes: Uint8Array): SipKey {
  if (bytes.length !== 16) {
    throw new RangeError(`SipHash key must be 16 bytes, got ${bytes.length}`);
  }
  const key = new Uint32Array(4);
  for (let w = 0; w < 4; w++) {
    const o = w * 4;
    key[w] = (bytes[o] | (bytes[o + 1] << 8) | (bytes[o + 2] << 16) | (bytes[o + 3] << 24)) >>> 0;
  }
  return key;
}

/**
 * SipHash-2-4 of `msg[0..len)` under `key`. Writes the 64-bit result to `out` as [low word, high word]
 * (the little-endian u64 the reference code returns). The caller owns `out` so that nothing is allocated.
 */
export function sipHash24(key: SipKey, msg: Uint8Array, len: number, out: Uint32Array): void {
  const k0l = key[0];
  const k0h = key[1];
  const k1l = key[2];
  const k1h = key[3];
  // Initial state: k XOR "somepseudorandomlygeneratedbytes", as in the reference implementation.
  let v0h = (k0h ^ 0x736f6d65) >>> 0;
  let v0l = (k0l ^ 0x70736575) >>> 0;
  let v1h = (k1h ^ 0x646f7261) >>> 0;
  let v1l = (k1l ^ 0x6e646f6d) >>> 0;
  let v2h = (k0h ^ 0x6c796765) >>> 0;
  let v2l = (k0l ^ 0x6e657261) >>> 0;
  let v3h = (k1h ^ 0x74656462) >>> 0;
  let v3l = (k1l ^ 0x79746573) >>> 0;

  // Every 8-byte block, then the final block (the tail bytes and len mod 256 in the top byte),
  // each goes through c = 2 SipRounds.
  const fullBlocks = len >>> 3;
  for (let block = 0; block <= fullBlocks; block++) {
    let ml: number;
    let mh: number;
    const o = block << 3;
    if (block < fullBlocks) {
      ml = (msg[o] | (msg[o + 1] << 8) | (msg[o + 2] << 16) | (msg[o + 3] << 24)) >>> 0;
      mh = (msg[o + 4] | (msg[o + 5] << 8) | (msg[o + 6] << 16) | (msg[o + 7] << 24)) >>> 0;
    } else {
      const tail = len & 7;
      ml = 0;
      mh = (len & 0xff) << 24;
      for (let i = 0; i < tail; i++) {
        if (i < 4) ml |= msg[o + i] << (8 * i);
        else mh |= msg[o + i] << (8 * (i - 4));
      }
      ml >>>= 0;
      mh >>>= 0;
    }
    v3l = (v3l ^ ml) >>> 0;
    v3h = (v3h ^ mh) >>> 0;
    for (let r = 0; r < 2; r++) {
      // SipRound, lane by lane: add with carry, rotate, xor.
      let t: number;
      t = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
      t = v1h; v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0; v1l = ((v1l << 13) | (t >>> 19)) >>> 0;
      v1h = (v1h ^ v0h) >>> 0; v1l = (v1l ^ v0l) >>> 0;
      t = v0h; v0h = v0l; v0l = t;
      t = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
      t = v3h; v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0; v3l = ((v3l << 16) | (t >>> 16)) >>> 0;
      v3h = (v3h ^ v2h) >>> 0; v3l = (v3l ^ v2l) >>> 0;
      t = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
      t = v3h; v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0; v3l = ((v3l << 21) | (t >>> 11)) >>> 0;
      v3h = (v3h ^ v0h) >>> 0; v3l = (v3l ^ v0l) >>> 0;
      t = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
      t = v1h; v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0; v1l = ((v1l << 17) | (t >>> 15)) >>> 0;
      v1h = (v1h ^ v2h) >>> 0; v1l = (v1l ^ v2l) >>> 0;
      t = v2h; v2h = v2l; v2l = t;
    }
    v0l = (v0l ^ ml) >>> 0;
    v0h = (v0h ^ mh) >>> 0;
  }

  // Finalization: v2 ^= 0xff, then d = 4 SipRounds (same round as above).
  v2l = (v2l ^ 0xff) >>> 0;
  for (let r = 0; r < 4; r++) {
    let t: number;
    t = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
    t = v1h; v1h = ((v1h << 13) | (v1l >>> 19)) >>> 0; v1l = ((v1l << 13) | (t >>> 19)) >>> 0;
    v1h = (v1h ^ v0h) >>> 0; v1l = (v1l ^ v0l) >>> 0;
    t = v0h; v0h = v0l; v0l = t;
    t = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
    t = v3h; v3h = ((v3h << 16) | (v3l >>> 16)) >>> 0; v3l = ((v3l << 16) | (t >>> 16)) >>> 0;
    v3h = (v3h ^ v2h) >>> 0; v3l = (v3l ^ v2l) >>> 0;
    t = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (t < v0l ? 1 : 0)) >>> 0; v0l = t;
    t = v3h; v3h = ((v3h << 21) | (v3l >>> 11)) >>> 0; v3l = ((v3l << 21) | (t >>> 11)) >>> 0;
    v3h = (v3h ^ v0h) >>> 0; v3l = (v3l ^ v0l) >>> 0;
    t = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (t < v2l ? 1 : 0)) >>> 0; v2l = t;
    t = v1h; v1h = ((v1h << 17) | (v1l >>> 15)) >>> 0; v1l = ((v1l << 17) | (t >>> 15)) >>> 0;
    v1h = (v1h ^ v2h) >>> 0; v1l = (v1l ^ v2l) >>> 0;
    t = v2h; v2h = v2l; v2l = t;
  }

  out[0] = (v0l ^ v1l ^ v2l ^ v3l) >>> 0;
  out[1] = (v0h ^ v1h ^ v2h ^ v3h) >>> 0;
}

/** The 53 low bits of a SipHash result in `out` (see `sipHash24`) as a safe non-negative integer. */
export function low53(out: Uint32Array): number {
  return (out[1] & 0x1fffff) * 0x100000000 + out[0];
}
