import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  DEFAULT_TABLE_SIZE,
  Maglev,
  MAX_TABLE_SIZE,
  formatHostPort,
  TABLE_SIZES,
  chooseTableSize,
  isPrime,
  memberKey,
  movedFraction,
  type HashMember,
} from "../../provider/hashing";

/** The `siphash` npm package, used by the reference below as an independent SipHash. */
interface SipHashPackage {
  hash(key: number[], message: Uint8Array): { h: number; l: number };
}
const sipPackage = require("siphash") as SipHashPackage;

// ---------------------------------------------------------------------------------------------
// Naive reference: the textbook algorithm written as plainly as possible, sharing no code with
// provider/hashing. Full permutation matrix and `next` indices as in the paper's Pseudocode 1,
// BigInt for the 64-bit modulo, the siphash package for the fixed-key hash, Envoy's turn rule,
// and the per-member quota (largest remainder) described in docs/hashing.md.
// ---------------------------------------------------------------------------------------------

function referenceFixedHash(keyText: string, member: string): bigint {
  const k = Buffer.from(keyText, "latin1");
  const key = [k.readUInt32LE(0), k.readUInt32LE(4), k.readUInt32LE(8), k.readUInt32LE(12)];
  const r = sipPackage.hash(key, new Uint8Array(Buffer.from(member, "utf8")));
  return (BigInt(r.h >>> 0) << 32n) | BigInt(r.l >>> 0);
}

function referenceTable(members: readonly HashMember[], M: number): string[] {
  const keys = members.map((m) => formatHostPort(m.address, m.port));
  const byKey = new Map(keys.map((k, i) => [k, members[i].weight]));
  keys.sort(); // default sort: UTF-16 code units
  const weights = keys.map((k) => byKey.get(k) as number);
  const N = keys.length;

  const permutation: number[][] = [];
  for (const key of keys) {
    const offset = Number(referenceFixedHash("dnlb maglev offs", key) % BigInt(M));
    const skip = Number(referenceFixedHash("dnlb maglev skip", key) % BigInt(M - 1)) + 1;
    const row: number[] = [];
    for (let j = 0; j < M; j++) row.push((offset + j * skip) % M);
    permutation.push(row);
  }

  const W = weights.reduce((a, b) => a + b, 0);
  const quota = weights.map((w) => Math.floor((M * w) / W));
  const byRemainder = weights.map((w, i) => ({ i, rem: (M * w) % W })).sort((a, b) => b.rem - a.rem || a.i - b.i);
  let left = M - quota.reduce((a, b) => a + b, 0);
  for (const { i } of byRemainder) if (left-- > 0) quota[i]++;

  const maxW = Math.max(...weights);
  const target = new Array<number>(N).fill(0);
  const count = new Array<number>(N).fill(0);
  const next = new Array<number>(N).fill(0);
  const entry = new Array<number>(M).fill(-1);
  let n = 0;
  for (let round = 1; n < M; round++) {
    for (let i = 0; i < N && n < M; i++) {
      if (count[i] === quota[i]) continue;
      if (round * weights[i] < target[i]) continue;
      target[i] += maxW;
      let c = permutation[i][next[i]];
      while (entry[c] >= 0) {
        next[i] = next[i] + 1;
        c = permutation[i][next[i]];
      }
      entry[c] = i;
      next[i] = next[i] + 1;
      count[i]++;
      n++;
    }
  }
  return entry.map((i) => keys[i]);
}

// ---------------------------------------------------------------------------------------------

function tableKeys(t: Maglev): string[] {
  return Array.from({ length: t.size }, (_, s) => t.slotKey(s) as string);
}

const octet = fc.integer({ min: 0, max: 255 });
const ipv4 = fc.tuple(fc.integer({ min: 1, max: 223 }), octet, octet, octet).map((p) => p.join("."));
const ipv6 = fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }).map((g) => g.map((x) => x.toString(16)).join(":"));
function memberArb(weight: fc.Arbitrary<number>): fc.Arbitrary<HashMember> {
  return fc.record({ address: fc.oneof(ipv4, ipv6), port: fc.integer({ min: 1, max: 65535 }), weight });
}
function membersArb(min: number, max: number, weight: fc.Arbitrary<number> = fc.integer({ min: 1, max: 100 })): fc.Arbitrary<HashMember[]> {
  return fc.uniqueArray(memberArb(weight), { minLength: min, maxLength: max, selector: memberKey });
}

const m = (address: string, port: number, weight: number): HashMember => ({ address, port, weight });

/** Slots that changed owner between two same-size tables although both owners were in both sets. */
function movedBetweenSurvivors(a: Maglev, b: Maglev, survivors: ReadonlySet<string>): number {
  let moved = 0;
  for (let s = 0; s < a.size; s++) {
    const ka = a.slotKey(s) as string;
    const kb = b.slotKey(s) as string;
    if (ka !== kb && survivors.has(ka) && survivors.has(kb)) moved++;
  }
  return moved / a.size;
}

describe("hashing/maglev", () => {
  describe("table size", () => {
    it("lists only primes, ascending, starting at the default 65537", () => {
      assert.equal(DEFAULT_TABLE_SIZE, 65537);
      assert.equal(TABLE_SIZES[0], DEFAULT_TABLE_SIZE);
      TABLE_SIZES.forEach((size, i) => {
        assert.ok(isPrime(size), `${size} is prime`);
        if (i > 0) assert.ok(size > TABLE_SIZES[i - 1]);
      });
      assert.equal(MAX_TABLE_SIZE, 1048573);
    });

    it("grows the table so that it has at least 100 slots per member", () => {
      assert.equal(chooseTableSize(0), 65537);
      assert.equal(chooseTableSize(655), 65537);
      assert.equal(chooseTableSize(656), 131071);
      assert.equal(chooseTableSize(1000), 131071);
      assert.equal(chooseTableSize(10485), 1048573);
      for (let n = 0; n <= 10485; n += 97) assert.ok(chooseTableSize(n) >= Math.max(65537, 100 * n));
      assert.equal(Maglev.build([m("10.0.0.1", 80, 1)]).size, 65537);
    });

    it("refuses more members than the largest table supports, with one clear error", () => {
      assert.throws(() => chooseTableSize(10486), /10486 members need a table of at least 1048600 slots.*at most 10485 members/);
      assert.throws(() => chooseTableSize(-1), /member count must be a non-negative integer, got -1/);
    });

    it("validates an explicit table size at the boundary", () => {
      const one = [m("10.0.0.1", 80, 1)];
      for (const bad of [100, 65536, 1, 0, -7, 7.5, Number.NaN, 1048583]) {
        assert.throws(() => Maglev.build(one, { tableSize: bad }), /table size must be a prime between 2 and 1048573, got/, String(bad));
      }
      const eight = Array.from({ length: 8 }, (_, i) => m(`10.0.0.${i + 1}`, 80, 1));
      assert.throws(() => Maglev.build(eight, { tableSize: 7 }), /table size 7 is smaller than the 8 members/);
      assert.equal(Maglev.build(one, { tableSize: 7 }).size, 7);
    });
  });

  describe("members", () => {
    it("freezes the member key format: address:port, [IPv6]:port", () => {
      assert.equal(memberKey({ address: "10.0.0.1", port: 80 }), "10.0.0.1:80");
      assert.equal(memberKey({ address: "2001:db8::1", port: 443 }), "[2001:db8::1]:443");
    });

    it("refuses weights outside 1-100, bad ports and duplicates, naming the member", () => {
      for (const w of [0, 101, 1.5, -1, Number.NaN]) {
        assert.throws(() => Maglev.build([m("10.0.0.1", 80, w)]), /member 10\.0\.0\.1:80: weight must be an integer 1-100, got/, String(w));
      }
      assert.throws(() => Maglev.build([m("10.0.0.1", 0, 1)]), /member 10\.0\.0\.1:0: port must be an integer 1-65535, got 0/);
      assert.throws(() => Maglev.build([m("", 80, 1)]), /address must be a non-empty string/);
      assert.throws(() => Maglev.build([m("10.0.0.1", 80, 1), m("10.0.0.2", 80, 1), m("10.0.0.1", 80, 5)]), /duplicate member 10\.0\.0\.1:80/);
      // Same address, other port: a different member.
      assert.equal(Maglev.build([m("10.0.0.1", 80, 1), m("10.0.0.1", 81, 1)]).members.length, 2);
    });

    it("keeps members in canonical (key) order and carries the caller's objects through", () => {
      type Tagged = HashMember & { readonly tag: string };
      const members: Tagged[] = [
        { address: "10.0.0.2", port: 80, weight: 1, tag: "b" },
        { address: "2001:db8::1", port: 80, weight: 1, tag: "v6" },
        { address: "10.0.0.10", port: 80, weight: 1, tag: "j" },
      ];
      const t = Maglev.build(members);
      assert.deepEqual(t.members.map((x) => x.tag), ["j", "b", "v6"]); // "10.0.0.10:80" < "10.0.0.2:80" < "[2001..."
      assert.ok(["j", "b", "v6"].includes(t.lookup(12345)?.tag as string));
    });
  });

  describe("golden tables", () => {
    it("M = 7, three members of equal weight", () => {
      // Canonical order, with offset and skip (SipHash-2-4 of the key under the fixed keys):
      //   A 10.0.0.1:80 offset 6 skip 4  -> preferences 6 3 0 4 1 5 2
      //   B 10.0.0.2:80 offset 2 skip 2  -> preferences 2 4 6 1 3 5 0
      //   C 10.0.0.3:80 offset 4 skip 1  -> preferences 4 5 6 0 1 2 3
      // Round 1: A 6, B 2, C 4. Round 2: A 3, B 1 (4 and 6 taken), C 5. Round 3: A 0 (table full).
      // slot:  0 1 2 3 4 5 6
      // owner: A B B A C C A
      const t = Maglev.build([m("10.0.0.3", 80, 1), m("10.0.0.1", 80, 1), m("10.0.0.2", 80, 1)], { tableSize: 7 });
      const letter = (k: string | undefined): string => ({ "10.0.0.1:80": "A", "10.0.0.2:80": "B", "10.0.0.3:80": "C" })[k as string] ?? "?";
      assert.equal(tableKeys(t).map(letter).join(" "), "A B B A C C A");
      assert.deepEqual([...t.slotCounts().values()], [3, 2, 2]);
    });

    it("M = 17, weights 3, 1 and 2 (IPv4 and IPv6)", () => {
      //   A 10.0.0.1:80          w 3 offset 10 skip 14  quota 8 (17 x 3/6 = 8.5)
      //   B 10.0.0.2:8080        w 1 offset 8  skip 11  quota 3 (2.83)
      //   C [2001:db8::1]:443    w 2 offset 7  skip 12  quota 6 (5.67)
      // A takes a turn every round, C in rounds 1 2 3 5 6 8 ..., B in rounds 1 3 6 ...
      // slot:  0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16
      // owner: B A C A A C A C B C A  A  A  B  C  A  C
      const t = Maglev.build([m("2001:db8::1", 443, 2), m("10.0.0.2", 8080, 1), m("10.0.0.1", 80, 3)], { tableSize: 17 });
      const letter = (k: string | undefined): string =>
        ({ "10.0.0.1:80": "A", "10.0.0.2:8080": "B", "[2001:db8::1]:443": "C" })[k as string] ?? "?";
      assert.equal(tableKeys(t).map(letter).join(" "), "B A C A A C A C B C A A A B C A C");
      assert.deepEqual([...t.slotCounts().values()], [8, 3, 6]);
    });
  });

  describe("against the naive reference", () => {
    it("builds the same table for random members, weights and small prime sizes", () => {
      const primes = [7, 17, 31, 61, 101, 257, 509, 1009, 2053, 4099];
      fc.assert(
        fc.property(
          membersArb(1, 30).chain((ms) => fc.tuple(fc.constant(ms), fc.constantFrom(...primes.filter((p) => p >= ms.length)))),
          ([ms, size]) => {
            assert.deepEqual(tableKeys(Maglev.build(ms, { tableSize: size })), referenceTable(ms, size));
          },
        ),
        { numRuns: 150 },
      );
    });

    it("builds the same table at the default size", () => {
      const ms = [m("10.1.0.1", 80, 10), m("10.1.0.2", 80, 20), m("fd00::5", 80, 35), m("10.1.0.3", 443, 1)];
      assert.deepEqual(tableKeys(Maglev.build(ms)), referenceTable(ms, DEFAULT_TABLE_SIZE));
    });
  });

  describe("properties", () => {
    it("does not depend on the order members are given in", () => {
      fc.assert(
        fc.property(
          membersArb(1, 40).chain((ms) => fc.tuple(fc.constant(ms), fc.shuffledSubarray(ms, { minLength: ms.length, maxLength: ms.length }))),
          ([ms, shuffled]) => {
            const a = Maglev.build(ms);
            const b = Maglev.build(shuffled);
            assert.equal(movedFraction(a, b), 0);
            assert.deepEqual(a.members.map(memberKey), b.members.map(memberKey));
          },
        ),
        { numRuns: 15 },
      );
    });

    it("equal weights: every member owns floor or ceil of M/N slots (within 1% when M >= 100 N)", () => {
      fc.assert(
        fc.property(membersArb(1, 200, fc.constant(10)), (ms) => {
          const t = Maglev.build(ms);
          const counts = [...t.slotCounts().values()];
          const fair = t.size / ms.length;
          for (const c of counts) assert.ok(c === Math.floor(fair) || c === Math.ceil(fair), `${c} vs ${fair}`);
          assert.ok(Math.max(...counts) / fair <= 1.01);
        }),
        { numRuns: 10 },
      );
    });

    it("weights 1-100: every member owns its weighted fair share of slots to within one slot", () => {
      fc.assert(
        fc.property(membersArb(1, 200), (ms) => {
          const t = Maglev.build(ms);
          const total = ms.reduce((s, x) => s + x.weight, 0);
          const counts = t.slotCounts();
          for (const x of ms) {
            const fair = (t.size * x.weight) / total;
            const c = counts.get(memberKey(x)) as number;
            assert.ok(Math.abs(c - fair) < 1, `${memberKey(x)} owns ${c}, fair ${fair}`);
            assert.ok(c >= 1, "with M >= 100 N every member owns a slot");
          }
          const shares = [...t.slotShares().values()];
          assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-9);
        }),
        { numRuns: 10 },
      );
    });

    it("removing one of N equal members moves close to the minimal 1/N of slots (M = 65537)", () => {
      // Random sets stay under 1.10x (300 sets: worst 1.068x for N <= 10, 1.098x for N <= 20); fast-check's
      // shrinking finds harder ones (1.115x at N 6: seed 412727308), the same before and after the restructure.
      fc.assert(
        fc.property(
          membersArb(2, 20, fc.constant(10)).chain((ms) => fc.tuple(fc.constant(ms), fc.integer({ min: 0, max: ms.length - 1 }))),
          ([ms, r]) => {
            const before = Maglev.build(ms);
            const after = Maglev.build(ms.filter((_, i) => i !== r));
            const moved = movedFraction(before, after);
            const minimal = 1 / ms.length;
            assert.ok(moved >= minimal - 1 / before.size, `every slot of the removed member moves (${moved})`);
            const limit = 1.15;
            assert.ok(moved <= limit * minimal, `N ${ms.length}: moved ${moved}, minimal ${minimal}, ratio ${moved / minimal}`);
          },
        ),
        { numRuns: 20 },
      );
    });

    it("N = 50: Maglev's extra disruption shrinks with the table (at most 1.3x at 65537, 1.1x at 655373)", () => {
      // Measured (docs/BENCHMARKS.md): about 1.23x at M = 65537 and 1.07x at M = 655373. The slots
      // that move between survivors are Maglev's known cost (see the paper's evaluation), not a defect.
      const ms = Array.from({ length: 50 }, (_, i) => m(`10.2.${i >> 4}.${(i * 7) % 256}`, 8000 + i, 10));
      const rest = ms.slice(1);
      for (const [size, limit] of [[65537, 1.3], [655373, 1.1]] as const) {
        const moved = movedFraction(Maglev.build(ms, { tableSize: size }), Maglev.build(rest, { tableSize: size }));
        assert.ok(moved <= limit / 50, `M ${size}: ratio ${moved * 50}`);
      }
    });

    it("removing a weighted member moves few slots between the other members", () => {
      fc.assert(
        fc.property(
          membersArb(3, 50).chain((ms) => fc.tuple(fc.constant(ms), fc.integer({ min: 0, max: ms.length - 1 }))),
          ([ms, r]) => {
            const all = Maglev.build(ms);
            const rest = Maglev.build(ms.filter((_, i) => i !== r));
            const removedKey = memberKey(ms[r]);
            const survivors = new Set(ms.map(memberKey).filter((k) => k !== removedKey));
            // All of the removed member's slots move; others move only through Maglev's turn
            // order shifting, measured below 0.6% of slots at M = 65537 for N <= 50.
            const share = all.slotShares().get(removedKey) as number;
            assert.ok(Math.abs(movedFraction(all, rest) - share - movedBetweenSurvivors(all, rest, survivors)) < 1e-9);
            assert.ok(movedBetweenSurvivors(all, rest, survivors) < 0.01);
          },
        ),
        { numRuns: 12 },
      );
    });

    it("a member left out of a small explicit table (quota 0) is still reachable as a candidate", () => {
      // M = 7, weights 100 and 1: quotas 7 x 100/101 = 6.93 and 0.07 -> 7 and 0.
      const t = Maglev.build([m("10.0.0.1", 80, 100), m("10.0.0.2", 80, 1)], { tableSize: 7 });
      assert.deepEqual([...t.slotCounts().values()], [7, 0]);
      for (let h = 0; h < 7; h++) {
        assert.equal(t.lookup(h)?.address, "10.0.0.1");
        assert.deepEqual(t.candidates(h, 5).map((x) => x.address), ["10.0.0.1", "10.0.0.2"]);
      }
    });
  });

  describe("lookup and candidates", () => {
    const ms = Array.from({ length: 12 }, (_, i) => m(`10.3.0.${i + 1}`, 80, 1 + ((i * 37) % 100)));
    const t = Maglev.build(ms);

    it("maps a flow hash to table[hash mod M], for any number", () => {
      assert.equal(t.lookup(5), t.lookup(5 + t.size));
      assert.equal(t.lookup(2 ** 53 - 1), t.lookup((2 ** 53 - 1) % t.size));
      assert.equal(t.lookup(-1), t.lookup(t.size - 1));
      assert.equal(t.lookup(7.9), t.lookup(7));
      assert.equal(t.lookup(Number.NaN), t.lookup(0));
      assert.equal(t.lookup(Number.POSITIVE_INFINITY), t.lookup(0));
    });

    it("gives distinct candidates, starting with lookup(), the same on every call", () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 1, max: 15 }), (h, max) => {
          const c = t.candidates(h, max);
          assert.equal(c.length, Math.min(max, ms.length));
          assert.equal(c[0], t.lookup(h));
          assert.equal(new Set(c.map(memberKey)).size, c.length);
          assert.deepEqual(t.candidates(h, max), c);
        }),
        { numRuns: 300 },
      );
      assert.equal(t.candidates(1, ms.length).length, ms.length);
      assert.deepEqual(t.candidates(1, 0), []);
      assert.deepEqual(t.candidates(1, -3), []);
      assert.deepEqual(t.candidates(1, Number.NaN), []);
    });

    it("spreads a failed member's fallback traffic over the others by weight", () => {
      const equal = Maglev.build(Array.from({ length: 5 }, (_, i) => m(`10.4.0.${i + 1}`, 80, 10)));
      const failed = equal.members[0];
      const second = new Map<string, number>();
      let flows = 0;
      for (let s = 0; s < equal.size; s++) {
        if (equal.lookup(s) !== failed) continue;
        flows++;
        const k = memberKey(equal.candidates(s, 2)[1]);
        second.set(k, (second.get(k) ?? 0) + 1);
      }
      assert.equal(second.size, 4);
      for (const n of second.values()) assert.ok(Math.abs(n / flows - 0.25) < 0.03, `${n / flows}`);
    });

    it("an empty member list looks up nothing", () => {
      const empty = Maglev.build([]);
      assert.equal(empty.size, DEFAULT_TABLE_SIZE);
      assert.equal(empty.lookup(42), undefined);
      assert.deepEqual(empty.candidates(42, 3), []);
      assert.equal(empty.slotShares().size, 0);
      assert.equal(movedFraction(empty, Maglev.build([])), 0);
      assert.equal(movedFraction(empty, t), 1);
    });

    it("slotShares reports each member's fraction of slots by member key", () => {
      const shares = t.slotShares();
      assert.deepEqual([...shares.keys()], t.members.map(memberKey));
      const counts = t.slotCounts();
      for (const [k, v] of shares) assert.equal(v, (counts.get(k) as number) / t.size);
    });
  });

  describe("eligible: health changes over a configured set", () => {
    const configured = Array.from({ length: 10 }, (_, i) => m(`10.8.0.${i + 1}`, 80, 10 + 9 * i));
    const full = Maglev.build(configured);
    const down = (...keys: string[]) => (x: HashMember): boolean => !keys.includes(memberKey(x));

    it("is the plain table while every member is eligible", () => {
      const all = Maglev.build(configured, { eligible: () => true });
      assert.equal(movedFraction(full, all), 0);
      assert.deepEqual(all.members, full.members);
    });

    it("moves exactly the slots of a member that goes down or comes back", () => {
      for (const x of configured) {
        const k = memberKey(x);
        const masked = Maglev.build(configured, { eligible: down(k) });
        assert.equal(movedFraction(full, masked), full.slotShares().get(k), k);
        assert.equal(movedFraction(masked, full), full.slotShares().get(k), k);
        assert.ok(!masked.members.includes(x));
        assert.equal(masked.slotShares().has(k), false);
        for (let s = 0; s < masked.size; s += 97) assert.notEqual(masked.lookup(s), x);
      }
    });

    it("moves only down members' slots and keeps every share within one slot of fair (random sets)", () => {
      fc.assert(
        fc.property(
          membersArb(2, 60).chain((ms) => fc.tuple(fc.constant(ms), fc.array(fc.boolean(), { minLength: ms.length, maxLength: ms.length }))),
          ([ms, up]) => {
            if (up.every((u) => u) || up.every((u) => !u)) up[0] = !up[0];
            const downKeys = new Set(ms.filter((_, i) => !up[i]).map(memberKey));
            const plain = Maglev.build(ms);
            const masked = Maglev.build(ms, { eligible: (x) => !downKeys.has(memberKey(x)) });
            const shares = plain.slotShares();
            let downShare = 0;
            for (const k of downKeys) downShare += shares.get(k) as number;
            assert.ok(Math.abs(movedFraction(plain, masked) - downShare) < 1e-9);
            const eligibleWeight = ms.filter((x) => !downKeys.has(memberKey(x))).reduce((t, x) => t + x.weight, 0);
            const counts = masked.slotCounts();
            assert.equal(counts.size, ms.length - downKeys.size);
            for (const x of masked.members) {
              const fair = (masked.size * x.weight) / eligibleWeight;
              assert.ok(Math.abs((counts.get(memberKey(x)) as number) - fair) < 1, `${memberKey(x)}: ${counts.get(memberKey(x))} vs ${fair}`);
            }
          },
        ),
        { numRuns: 25 },
      );
    });

    it("a second member going down moves its own slots and at most the first one's again", () => {
      const [a, b] = [memberKey(configured[2]), memberKey(configured[7])];
      const one = Maglev.build(configured, { eligible: down(a) });
      const two = Maglev.build(configured, { eligible: down(a, b) });
      const shares = full.slotShares();
      const moved = movedFraction(one, two);
      assert.ok(moved >= (shares.get(b) as number) - 1e-12);
      assert.ok(moved <= (shares.get(a) as number) + (shares.get(b) as number) + 1e-12);
    });

    it("sizes the table by the configured count, so health never resizes it", () => {
      const many = Array.from({ length: 700 }, (_, i) => m(`10.9.${i >> 8}.${i & 255}`, 80, 1));
      const t = Maglev.build(many, { eligible: (x) => x.address.startsWith("10.9.0.") });
      assert.equal(t.size, 131071);
      assert.equal(t.members.length, 256);
    });

    it("offers only eligible members as connect-failure candidates, every one of them reachable", () => {
      const downKeys = [memberKey(configured[1]), memberKey(configured[4]), memberKey(configured[8])];
      const masked = Maglev.build(configured, { eligible: down(...downKeys) });
      for (let h = 0; h < 5000; h += 7) {
        const c = masked.candidates(h, configured.length);
        assert.equal(c.length, configured.length - downKeys.length);
        assert.ok(c.every((x) => !downKeys.includes(memberKey(x))), `flow ${h}: ${c.map(memberKey).join(" ")}`);
      }
      // An explicit table smaller than the members' quotas need: some eligible members own no
      // slot (they follow the walk), and the ineligible ones still never appear.
      const crowd = Array.from({ length: 20 }, (_, i) => m(`10.8.1.${i + 1}`, 80, 1 + ((i * 37) % 100)));
      const up = (x: HashMember): boolean => Number(x.address.split(".")[3]) % 2 === 0;
      const small = Maglev.build(crowd, { tableSize: 23, eligible: up });
      assert.ok([...small.slotCounts().values()].includes(0), "some eligible member owns no slot");
      for (let h = 0; h < 23; h++) {
        const c = small.candidates(h, 20);
        assert.equal(c.length, 10);
        assert.ok(c.every(up), `flow ${h}: ${c.map(memberKey).join(" ")}`);
      }
    });

    it("serves nothing when no member is eligible", () => {
      const none = Maglev.build(configured, { eligible: () => false });
      assert.equal(none.lookup(1), undefined);
      assert.deepEqual(none.members, []);
      assert.equal(none.size, 65537);
    });
  });

  describe("movedFraction across table sizes", () => {
    it("matches a sampled estimate, and shows that resizing moves almost every flow", () => {
      const ms = Array.from({ length: 8 }, (_, i) => m(`10.5.0.${i + 1}`, 80, 10 + i));
      const small = Maglev.build(ms, { tableSize: 65537 });
      const big = Maglev.build(ms, { tableSize: 131071 });
      const exact = movedFraction(small, big);
      // Deterministic uniform 53-bit hashes (a 64-bit LCG's top bits).
      let x = 0x1234567n;
      let moved = 0;
      const samples = 200_000;
      for (let i = 0; i < samples; i++) {
        x = (x * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
        const h = Number(x >> 11n);
        if (small.lookup(h) !== big.lookup(h)) moved++;
      }
      assert.ok(Math.abs(moved / samples - exact) < 0.005, `sampled ${moved / samples}, exact ${exact}`);
      assert.ok(exact > 0.8, `${exact}`);
    });
  });
});
