import { strict as assert } from "node:assert";
import { createHash } from "node:crypto";
import { isIP } from "node:net";
import fc from "fast-check";
import { FlowHasher, Maglev, memberKey, seedKeyBytes, type HashMember } from "../../provider/hashing";
import { writeAddressBytes } from "../../provider/hashing/ip";

/** The `siphash` npm package (independent SipHash-2-4), to pin the message layouts. */
interface SipHashPackage {
  hash_uint(key: number[], message: Uint8Array): number;
}
const sipPackage = require("siphash") as SipHashPackage;

const SEED = "000102030405060708090a0b0c0d0e0f";

function packageKey(seed: string): number[] {
  const b = Buffer.from(seedKeyBytes(seed));
  return [b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)];
}

/** Bytes writeAddressBytes produces, or undefined when it refuses the text. */
function addressBytes(text: string): number[] | undefined {
  const out = new Uint8Array(16);
  const n = writeAddressBytes(text, out, 0, new Uint16Array(8));
  return n === 0 ? undefined : Array.from(out.subarray(0, n));
}

/** A deterministic spread of IPv4 client addresses. */
function clients(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `100.${(i * 7919) % 256}.${(i >> 8) & 255}.${i & 255}`);
}

describe("hashing/flow", () => {
  describe("address parsing", () => {
    it("reads IPv4, IPv6 and IPv4-mapped IPv6 into canonical bytes", () => {
      const cases: Array<[string, number[] | undefined]> = [
        ["127.0.0.1", [127, 0, 0, 1]],
        ["::ffff:127.0.0.1", [127, 0, 0, 1]],
        ["::FFFF:7f00:1", [127, 0, 0, 1]],
        ["0:0:0:0:0:ffff:7f00:0001", [127, 0, 0, 1]],
        ["255.255.255.255", [255, 255, 255, 255]],
        ["::1", [...new Array<number>(15).fill(0), 1]],
        ["::", new Array<number>(16).fill(0)],
        ["2001:db8::1", [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1]],
        ["2001:0DB8:0:0:0:0:0:1", [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 1]],
        ["fe80::1%eth0", [0xfe, 0x80, ...new Array<number>(13).fill(0), 1]],
        ["::1.2.3.4", [...new Array<number>(12).fill(0), 1, 2, 3, 4]], // IPv4-compatible, not mapped: 16 bytes
        ["1::", [0, 1, ...new Array<number>(14).fill(0)]],
        ["", undefined],
        ["1.2.3", undefined],
        ["1.2.3.4.5", undefined],
        ["256.1.1.1", undefined],
        ["01.2.3.4", undefined],
        ["1.2.3.4%eth0", undefined],
        [":::", undefined],
        ["1::2::3", undefined],
        ["12345::", undefined],
        ["1:2:3:4:5:6:7:8:9", undefined],
        ["1:2:3:4:5:6:7::8", undefined],
        ["::ffff:1.2.3", undefined],
        ["1:", undefined],
        [":1", undefined],
        ["localhost", undefined],
      ];
      for (const [text, bytes] of cases) assert.deepEqual(addressBytes(text), bytes, text);
    });

    it("accepts exactly what node:net isIP accepts", () => {
      const alphabet = fc.constantFrom(..."0123456789abcdefABCDEF:.".split(""));
      const text = fc.oneof(
        fc.string({ unit: alphabet, maxLength: 24 }),
        fc.ipV4(),
        fc.ipV6(),
        fc.ipV4Extended(),
      );
      fc.assert(
        fc.property(text, (s) => {
          assert.equal(addressBytes(s) !== undefined, isIP(s) !== 0, s);
        }),
        { numRuns: 20_000 },
      );
    });

    it("reads every spelling of an address to the same bytes", () => {
      fc.assert(
        fc.property(fc.ipV6(), (s) => {
          const canonical = new URL(`http://[${s}]/`).hostname.slice(1, -1); // WHATWG form: compressed, lower case
          assert.deepEqual(addressBytes(s), addressBytes(canonical), `${s} vs ${canonical}`);
          assert.deepEqual(addressBytes(s.toUpperCase()), addressBytes(s));
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe("FlowHasher", () => {
    const hasher = new FlowHasher(SEED);

    it("is SipHash-2-4 keyed by the seed over the documented message layouts", () => {
      const key = packageKey(SEED);
      assert.equal(hasher.ipHash("192.0.2.7"), sipPackage.hash_uint(key, Uint8Array.from([192, 0, 2, 7])));
      const v6 = [0x20, 0x01, 0x0d, 0xb8, ...new Array<number>(11).fill(0), 9];
      assert.equal(hasher.ipHash("2001:db8::9"), sipPackage.hash_uint(key, Uint8Array.from(v6)));
      // [6 TCP][flags][client port BE][local port BE][client][local]
      assert.equal(
        hasher.quintupleHash("192.0.2.7", 40000, "2001:db8::9", 443),
        sipPackage.hash_uint(key, Uint8Array.from([6, 2, 40000 >> 8, 40000 & 255, 1, 187, 192, 0, 2, 7, ...v6])),
      );
      // [17 UDP]: a UDP flow of the same client to the same port hashes apart from the TCP one
      assert.equal(
        hasher.quintupleHash("192.0.2.7", 40000, "2001:db8::9", 53, "UDP"),
        sipPackage.hash_uint(key, Uint8Array.from([17, 2, 40000 >> 8, 40000 & 255, 0, 53, 192, 0, 2, 7, ...v6])),
      );
    });

    it("takes a 32-hex-digit seed as its 16 bytes, any other string through SHA-256", () => {
      assert.deepEqual(Array.from(seedKeyBytes(SEED)), Array.from({ length: 16 }, (_, i) => i));
      assert.equal(new FlowHasher(SEED.toUpperCase()).ipHash("10.0.0.1"), hasher.ipHash("10.0.0.1"));
      for (const seed of ["short", "", "not hex but thirty-two chars!!!!", `${SEED}00`]) {
        const expected = createHash("sha256").update(seed, "utf8").digest().subarray(0, 16);
        assert.deepEqual(Array.from(seedKeyBytes(seed)), Array.from(expected), seed);
      }
    });

    it("hashes an IPv4 client and its IPv4-mapped IPv6 spelling the same", () => {
      for (const ip of clients(200)) {
        assert.equal(hasher.ipHash(`::ffff:${ip}`), hasher.ipHash(ip));
        assert.equal(hasher.quintupleHash(`::ffff:${ip}`, 5000, "::ffff:10.9.9.9", 80), hasher.quintupleHash(ip, 5000, "10.9.9.9", 80));
      }
    });

    it("is deterministic and returns non-negative safe integers", () => {
      const again = new FlowHasher(SEED);
      for (const ip of [...clients(50), "::1", "2001:db8::1"]) {
        const h = hasher.ipHash(ip);
        assert.equal(again.ipHash(ip), h);
        assert.ok(Number.isSafeInteger(h) && h >= 0);
        const q = hasher.quintupleHash(ip, 1234, "10.0.0.1", 80);
        assert.equal(again.quintupleHash(ip, 1234, "10.0.0.1", 80), q);
        assert.ok(Number.isSafeInteger(q) && q >= 0);
      }
    });

    it("QuintupleHash depends on every field; IpHash ignores ports", () => {
      const base = hasher.quintupleHash("10.0.0.1", 40000, "10.0.0.2", 80);
      assert.notEqual(hasher.quintupleHash("10.0.0.3", 40000, "10.0.0.2", 80), base);
      assert.notEqual(hasher.quintupleHash("10.0.0.1", 40001, "10.0.0.2", 80), base);
      assert.notEqual(hasher.quintupleHash("10.0.0.1", 40000, "10.0.0.3", 80), base);
      assert.notEqual(hasher.quintupleHash("10.0.0.1", 40000, "10.0.0.2", 81), base);
      assert.notEqual(hasher.quintupleHash("10.0.0.2", 40000, "10.0.0.1", 80), base); // client and local swapped
    });

    it("spreads clients over members by weight, and another seed maps them differently", () => {
      const members: HashMember[] = [
        { address: "10.6.0.1", port: 80, weight: 10 },
        { address: "10.6.0.2", port: 80, weight: 10 },
        { address: "10.6.0.3", port: 80, weight: 20 },
        { address: "fd00::4", port: 80, weight: 40 },
      ];
      const table = Maglev.build(members);
      const ips = clients(20_000);
      const counts = new Map<string, number>();
      for (const ip of ips) {
        const k = memberKey(table.lookup(hasher.ipHash(ip)) as HashMember);
        counts.set(k, (counts.get(k) ?? 0) + 1);
      }
      for (const x of members) {
        const share = (counts.get(memberKey(x)) ?? 0) / ips.length;
        assert.ok(Math.abs(share - x.weight / 80) < 0.015, `${memberKey(x)}: ${share}`);
      }
      const other = new FlowHasher("another load balancer's seed");
      let differ = 0;
      for (const ip of ips) if (table.lookup(other.ipHash(ip)) !== table.lookup(hasher.ipHash(ip))) differ++;
      // Independent mappings differ for 1 - sum(share^2) = 1 - (1+1+4+16)/64 = 65.6% of clients.
      assert.ok(Math.abs(differ / ips.length - 0.656) < 0.02, `${differ / ips.length}`);
    });

    it("never throws, whatever it is given (fuzz)", () => {
      const table = Maglev.build([{ address: "10.7.0.1", port: 80, weight: 1 }, { address: "10.7.0.2", port: 80, weight: 2 }]);
      const anyText = fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.ipV4(), fc.ipV6(), fc.string({ unit: fc.constantFrom(..."0123456789abcdef:.%[]".split("")) }));
      const anyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 2 ** 60));
      fc.assert(
        fc.property(fc.string(), anyText, anyNumber, anyText, anyNumber, (seed, a, p, b, q) => {
          const h = new FlowHasher(seed);
          const ip = h.ipHash(a);
          const five = h.quintupleHash(a, p, b, q);
          for (const x of [ip, five]) assert.ok(Number.isSafeInteger(x) && x >= 0);
          assert.notEqual(table.lookup(ip), undefined);
          assert.notEqual(table.lookup(p), undefined);
          assert.equal(table.candidates(five, q).length <= 2, true);
          assert.equal(h.ipHash(a), ip); // and stays deterministic for non-addresses too
        }),
        { numRuns: 2000 },
      );
    });
  });
});
