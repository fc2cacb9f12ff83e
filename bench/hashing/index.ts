/**
 * Benchmark of the hashing core against the `hashring` package (ketama ring) and the theoretical
 * optimum, all measured in one run:
 *   1. the keyed flow-hash PRF: our SipHash-2-4 vs the `siphash` package vs HMAC-SHA256;
 *   2. table build time for 10, 100 and 1000 members (M = 65537 and 655373) vs hashring;
 *   3. lookups per second including the keyed hash (IpHash, QuintupleHash) vs hashring.get;
 *   4. balance: most loaded member's share over its weighted fair share (optimum 1);
 *   5. disruption: flows moved when one member of N is removed or added, over the minimum
 *      (the member's own weighted share; optimum 1).
 * Run: npm run bench:hashing. Prints Markdown tables (docs/BENCHMARKS.md, section Hashing).
 */

import { createHmac } from "node:crypto";
import { cpus } from "node:os";
import { FlowHasher, Maglev, chooseTableSize, memberKey, movedFraction, type HashMember } from "../../provider/hashing";
import { sipHash24, sipKeyFromBytes } from "../../provider/hashing/siphash";
import { buildRing, ringMovedFraction, ringShares, type HashRing } from "./ketama";

interface SipHashPackage {
  hash(key: number[], message: Uint8Array): { h: number; l: number };
}
const sipPackage = require("siphash") as SipHashPackage;

const SEED = "6b1e0c3a9f2d4e5b8c7a6f5e4d3c2b1a";

// ---- deterministic inputs -------------------------------------------------------------------

/** A small LCG, so that every run measures the same members and weights. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

function makeMembers(n: number, weighted: boolean, seed = 7): HashMember[] {
  const rnd = lcg(seed);
  return Array.from({ length: n }, (_, i) => ({
    address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    port: 8080,
    weight: weighted ? 1 + Math.floor(rnd() * 100) : 10,
  }));
}

function clientIps(n: number): string[] {
  const rnd = lcg(99);
  return Array.from({ length: n }, () => `${1 + Math.floor(rnd() * 223)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}.${Math.floor(rnd() * 256)}`);
}

// ---- timing ---------------------------------------------------------------------------------

function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Median wall time of `runs` calls, after one warm-up call. */
function medianMs(runs: number, f: () => unknown): number {
  f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = nowMs();
    f();
    times.push(nowMs() - t);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

/** Operations per second of `op(i)`, best of 3 timed passes of `count` calls (after a warm-up pass). */
function opsPerSecond(count: number, op: (i: number) => number): number {
  let sink = 0;
  for (let i = 0; i < count; i++) sink ^= op(i);
  let best = 0;
  for (let pass = 0; pass < 3; pass++) {
    const t = nowMs();
    for (let i = 0; i < count; i++) sink ^= op(i);
    best = Math.max(best, count / ((nowMs() - t) / 1000));
  }
  if (sink === 0.5) console.log(""); // keep `sink` alive
  return best;
}

// ---- output ---------------------------------------------------------------------------------

function table(header: string[], rows: Array<Array<string | number>>): void {
  console.log(`| ${header.join(" | ")} |`);
  console.log(`|${header.map(() => "---").join("|")}|`);
  for (const r of rows) console.log(`| ${r.join(" | ")} |`);
  console.log("");
}
const f2 = (x: number): string => x.toFixed(2);
const f3 = (x: number): string => x.toFixed(3);
const mops = (x: number): string => `${(x / 1e6).toFixed(2)} M/s`;

// ---- 1. PRF ---------------------------------------------------------------------------------

function benchPrf(): void {
  console.log("### Keyed flow-hash PRF (message = IPv4 client, 4 bytes; IPv6 client, 16 bytes; IPv4 5-tuple, 14 bytes)\n");
  const keyBytes = Buffer.from(SEED, "hex");
  const key = sipKeyFromBytes(keyBytes);
  const packageKey = Array.from(key);
  const out = new Uint32Array(2);
  const rows: Array<Array<string | number>> = [];
  for (const len of [4, 16, 14]) {
    const messages = Array.from({ length: 1024 }, (_, i) => Uint8Array.from({ length: len }, (_, j) => (i * 31 + j * 7) & 255));
    const ours = opsPerSecond(1_000_000, (i) => {
      const m = messages[i & 1023];
      sipHash24(key, m, m.length, out);
      return out[0];
    });
    const pkg = opsPerSecond(200_000, (i) => sipPackage.hash(packageKey, messages[i & 1023]).l);
    const hmac = opsPerSecond(100_000, (i) => createHmac("sha256", keyBytes).update(messages[i & 1023]).digest().readUInt32LE(0));
    rows.push([`${len} B`, mops(ours), mops(pkg), mops(hmac), `${f2(ours / pkg)}x`, `${f2(ours / hmac)}x`]);
  }
  table(["message", "own SipHash-2-4", "`siphash` package", "HMAC-SHA256 (node:crypto)", "own / package", "own / HMAC"], rows);
}

// ---- 2. build -------------------------------------------------------------------------------

function benchBuild(): void {
  console.log("### Table build time (median; members sorted and validated included)\n");
  const rows: Array<Array<string | number>> = [];
  for (const n of [10, 100, 1000]) {
    for (const weighted of [false, true]) {
      const members = makeMembers(n, weighted);
      const runs = n === 1000 ? 7 : 11;
      const m65 = medianMs(runs, () => Maglev.build(members, { tableSize: 65537 }));
      const m655 = medianMs(Math.max(3, runs >> 1), () => Maglev.build(members, { tableSize: 655373 }));
      const servers = members.map((m) => ({ key: memberKey(m), weight: m.weight }));
      const ring = medianMs(runs, () => buildRing(servers));
      rows.push([n, weighted ? "1-100" : "equal", f2(m65), f2(m655), f2(ring), `${f2(m65 / ring)}x`]);
    }
  }
  table(["members", "weights", "Maglev M=65537 (ms)", "Maglev M=655373 (ms)", "hashring (ms)", "Maglev 65537 / hashring"], rows);
  const members = makeMembers(1000, true);
  const up = (m: HashMember): boolean => m.weight % 10 !== 0; // about one member in ten down
  const degraded = medianMs(7, () => Maglev.build(members, { tableSize: 65537, eligible: up }));
  const downCount = members.filter((m) => !up(m)).length;
  console.log(`With \`eligible\` (1000 members, weights 1-100, ${downCount} down, M = 65537): ${f2(degraded)} ms.\n`);
}

// ---- 3. lookups -----------------------------------------------------------------------------

function benchLookup(): void {
  console.log("### Lookups per second, keyed hash included (65536 distinct client IPs as strings, 100 members)\n");
  const members = makeMembers(100, true);
  const maglev = Maglev.build(members);
  const hasher = new FlowHasher(SEED);
  const ips = clientIps(65536);
  const ring = buildRing(members.map((m) => ({ key: memberKey(m), weight: m.weight })));
  const ipHash = opsPerSecond(500_000, (i) => maglev.lookup(hasher.ipHash(ips[i & 65535]))?.port ?? 0);
  const five = opsPerSecond(500_000, (i) => maglev.lookup(hasher.quintupleHash(ips[i & 65535], i & 0xffff, "10.255.0.1", 443))?.port ?? 0);
  const mapped = opsPerSecond(500_000, (i) => maglev.lookup(hasher.ipHash(`::ffff:${ips[i & 65535]}`))?.port ?? 0);
  const v6 = ips.map((_, i) => `2001:db8:${((i * 13) & 0xffff).toString(16)}::${((i * 7919) & 0xffff).toString(16)}`);
  const ipv6 = opsPerSecond(500_000, (i) => maglev.lookup(hasher.ipHash(v6[i & 65535]))?.port ?? 0);
  const ketama = opsPerSecond(100_000, (i) => (ring.get(ips[i & 65535]) as string).length);
  table(
    ["lookup", "rate", "vs hashring.get"],
    [
      ["Maglev + IpHash (IPv4)", mops(ipHash), `${f2(ipHash / ketama)}x`],
      ["Maglev + IpHash (IPv6)", mops(ipv6), `${f2(ipv6 / ketama)}x`],
      ["Maglev + IpHash (`::ffff:` IPv4, string built per call)", mops(mapped), `${f2(mapped / ketama)}x`],
      ["Maglev + QuintupleHash (IPv4)", mops(five), `${f2(five / ketama)}x`],
      ["hashring.get(ip) (md5, unkeyed; LRU of 5000 misses)", mops(ketama), "1.00x"],
    ],
  );
}

// ---- 4. balance -----------------------------------------------------------------------------

/** Max over `members` of share / (weight / total), `total` being the whole table's weight. */
function maglevOverload(t: Maglev, members: readonly HashMember[], total: number): number {
  const shares = t.slotShares();
  return Math.max(...members.map((m) => (shares.get(memberKey(m)) ?? 0) / (m.weight / total)));
}

function ringOverload(r: HashRing, members: readonly HashMember[]): number {
  const total = members.reduce((s, m) => s + m.weight, 0);
  const shares = ringShares(r);
  return Math.max(...members.map((m) => (shares.get(memberKey(m)) ?? 0) / (m.weight / total)));
}

function benchBalance(): void {
  console.log("### Balance: most loaded member's share / its weighted fair share (optimum 1.000)\n");
  const rows: Array<Array<string | number>> = [];
  for (const n of [10, 100, 1000]) {
    for (const weighted of [false, true]) {
      const members = makeMembers(n, weighted);
      const auto = Maglev.build(members);
      const big = Maglev.build(members, { tableSize: 655373 });
      const ring = buildRing(members.map((m) => ({ key: memberKey(m), weight: m.weight })));
      const total = members.reduce((s, m) => s + m.weight, 0);
      // Among members whose fair share is at least 100 slots (all of them with equal weights).
      const large = members.filter((m) => (auto.size * m.weight) / total >= 100);
      rows.push([
        n,
        weighted ? "1-100" : "equal",
        `${f3(maglevOverload(auto, members, total))} (M=${auto.size})`,
        large.length === members.length ? "same" : f3(maglevOverload(auto, large, total)),
        f3(maglevOverload(big, members, total)),
        f3(ringOverload(ring, members)),
        "1.000",
      ]);
    }
  }
  table(["members", "weights", "Maglev, auto size", "Maglev, members with >= 100 slots", "Maglev M=655373", "hashring (exact arcs)", "optimum"], rows);
}

// ---- 5. disruption --------------------------------------------------------------------------

function benchDisruption(): void {
  console.log("### Disruption: flows moved / minimum, mean and worst of 5 removals and 5 additions (optimum 1.000)\n");
  const rows: Array<Array<string | number>> = [];
  const cases: Array<[number, number | undefined]> = [
    [10, undefined],
    [20, undefined],
    [50, undefined],
    [100, undefined],
    [50, 655373],
    [1000, undefined],
  ];
  for (const [n, size] of cases) {
    for (const weighted of [false, true]) {
      const members = makeMembers(n + 5, weighted, 11);
      const base = members.slice(0, n);
      const extras = members.slice(n);
      const total = base.reduce((s, m) => s + m.weight, 0);
      const opts = size === undefined ? {} : { tableSize: size };
      const before = Maglev.build(base, opts);
      const ringBefore = buildRing(base.map((m) => ({ key: memberKey(m), weight: m.weight })));
      const maglevRatios: number[] = [];
      const ringRatios: number[] = [];
      const healthRatios: number[] = [];
      for (let k = 0; k < 5; k++) {
        const r = Math.floor((k * n) / 5);
        const without = base.filter((_, i) => i !== r);
        const minimal = base[r].weight / total;
        const sizeOpts = size === undefined ? { tableSize: before.size } : opts; // same M, as the forwarder would keep it
        maglevRatios.push(movedFraction(before, Maglev.build(without, sizeOpts)) / minimal);
        const down = base[r];
        healthRatios.push(movedFraction(before, Maglev.build(base, { ...opts, eligible: (x) => x !== down })) / minimal);
        ringRatios.push(ringMovedFraction(ringBefore, buildRing(without.map((m) => ({ key: memberKey(m), weight: m.weight })))) / minimal);
        const withExtra = [...base, extras[k]];
        const minimalAdd = extras[k].weight / (total + extras[k].weight);
        maglevRatios.push(movedFraction(before, Maglev.build(withExtra, sizeOpts)) / minimalAdd);
        ringRatios.push(ringMovedFraction(ringBefore, buildRing(withExtra.map((m) => ({ key: memberKey(m), weight: m.weight })))) / minimalAdd);
      }
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
      rows.push([
        n,
        weighted ? "1-100" : "equal",
        before.size,
        `${f3(mean(maglevRatios))} / ${f3(Math.max(...maglevRatios))}`,
        `${f3(mean(ringRatios))} / ${f3(Math.max(...ringRatios))}`,
        `${f3(mean(healthRatios))} / ${f3(Math.max(...healthRatios))}`,
        "1.000",
      ]);
    }
  }
  table(
    ["members", "weights", "M", "Maglev rebuilt: mean / worst", "hashring: mean / worst", "Maglev `eligible`, health flip: mean / worst", "optimum"],
    rows,
  );
  console.log(`Resizing the table moves almost every flow: N = 656 at M = 65537 vs ${chooseTableSize(656)}: ${f3(
    movedFraction(Maglev.build(makeMembers(656, false), { tableSize: 65537 }), Maglev.build(makeMembers(656, false))),
  )} of flows.\n`);
}

// ---- main -----------------------------------------------------------------------------------

function main(): void {
  const started = nowMs();
  console.log(`## Hashing benchmark: node ${process.version}, ${cpus()[0]?.model ?? "unknown CPU"} x ${cpus().length}\n`);
  const sections: Array<[string, () => void]> = [
    ["PRF", benchPrf],
    ["build", benchBuild],
    ["lookup", benchLookup],
    ["balance", benchBalance],
    ["disruption", benchDisruption],
  ];
  const times: string[] = [];
  for (const [name, run] of sections) {
    const t = nowMs();
    run();
    times.push(`${name} ${((nowMs() - t) / 1000).toFixed(1)} s`);
  }
  console.log(`Total ${((nowMs() - started) / 1000).toFixed(1)} s (${times.join(", ")}).`);
}

main();
