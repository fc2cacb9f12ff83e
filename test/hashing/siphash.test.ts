import { strict as assert } from "node:assert";
import fc from "fast-check";
import { low53, sipHash24, sipKeyFromBytes } from "../../provider/hashing/siphash";

/** The `siphash` npm package (jedisct1/siphash-js), an independent implementation; it ships no types. */
interface SipHashPackage {
  hash(key: Uint32Array | number[], message: Uint8Array): { h: number; l: number };
  hash_uint(key: Uint32Array | number[], message: Uint8Array): number;
}
const sipPackage = require("siphash") as SipHashPackage;

function hex64(out: Uint32Array): string {
  return out[1].toString(16).padStart(8, "0") + out[0].toString(16).padStart(8, "0");
}

function ours(keyBytes: Uint8Array, message: Uint8Array): string {
  const out = new Uint32Array(2);
  sipHash24(sipKeyFromBytes(keyBytes), message, message.length, out);
  return hex64(out);
}

const REFERENCE_KEY = Uint8Array.from({ length: 16 }, (_, i) => i); // 00 01 .. 0f
const counting = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i);

describe("hashing/siphash", () => {
  it("matches the published SipHash-2-4 test vectors", () => {
    // Key 00..0f, message 00..(len-1). The 15-byte one is the paper's Appendix A example; the
    // others are entries of the reference implementation's vectors.h (read as little-endian u64).
    const vectors: Array<[number, string]> = [
      [0, "726fdb47dd0e0e31"],
      [1, "74f839c593dc67fd"],
      [2, "0d6c8009d9a94f5a"],
      [3, "85676696d7fb7e2d"],
      [7, "ab0200f58b01d137"],
      [8, "93f5f5799a932462"],
      [15, "a129ca6149be45e5"],
      [63, "958a324ceb064572"],
    ];
    for (const [len, expected] of vectors) {
      assert.equal(ours(REFERENCE_KEY, counting(len)), expected, `message of ${len} bytes`);
    }
  });

  it("agrees with the siphash npm package on every length 0-63 and on random keys and messages", () => {
    const toHex = (r: { h: number; l: number }): string =>
      (r.h >>> 0).toString(16).padStart(8, "0") + (r.l >>> 0).toString(16).padStart(8, "0");
    const referenceKey = sipKeyFromBytes(REFERENCE_KEY);
    for (let len = 0; len < 64; len++) {
      assert.equal(ours(REFERENCE_KEY, counting(len)), toHex(sipPackage.hash(referenceKey, counting(len))), `length ${len}`);
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 80 }), (key, message) => {
        assert.equal(ours(key, message), toHex(sipPackage.hash(sipKeyFromBytes(key), message)));
      }),
      { numRuns: 500 },
    );
  });

  it("hashes only the first len bytes of the buffer", () => {
    const out = new Uint32Array(2);
    const key = sipKeyFromBytes(REFERENCE_KEY);
    const buffer = counting(40);
    sipHash24(key, buffer, 15, out);
    assert.equal(hex64(out), "a129ca6149be45e5");
  });

  it("low53 keeps the low 53 bits, as the package's hash_uint does", () => {
    const out = new Uint32Array(2);
    const key = sipKeyFromBytes(REFERENCE_KEY);
    sipHash24(key, counting(15), 15, out);
    assert.equal(low53(out), sipPackage.hash_uint(key, counting(15)));
    assert.ok(Number.isSafeInteger(low53(out)));
  });

  it("refuses a key that is not 16 bytes", () => {
    assert.throws(() => sipKeyFromBytes(new Uint8Array(15)), /SipHash key must be 16 bytes, got 15/);
  });
});
