/**
 * `npm run reliability`: the reliability scenarios at full size, one after the other, printed as
 * a Markdown report (the figures in docs/RELIABILITY.md come from it). Exits 1 when any invariant
 * was violated.
 *
 *   node dist/test/reliability/report.js [--only fuzz,crash,partial,faults,load,hostile,lockout,failed-writes,secrets]
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { blackholed, FaultBench, flapping, iptablesWorks, refusing, resetting, silent } from "./backend-faults";
import { runCrashConsistency } from "./crash";
import { runAdminFuzz, seedConfiguration } from "./fuzz";
import { slowloris, steeringModel, steeringThroughNode } from "./hostile";
import { adminLockout } from "./admin-lockout";
import { failedLastStep, privateMountsWork, refusedWritesKeepConnections, straceWorks } from "./failed-writes";
import { runConnectionLimit, runLoad } from "./load";
import { PartialBench, type Fault, type Operation } from "./partial";
import { nodeSecrets, pulumiStateSecrets } from "./secrets";
import { CliNode } from "./support";
import { TestBackend } from "../forwarder/helpers/backends";

interface Section {
  readonly title: string;
  readonly rows: Record<string, unknown>;
  readonly violations: string[];
}

const SECTIONS = ["fuzz", "crash", "partial", "faults", "load", "hostile", "lockout", "failed-writes", "secrets"] as const;
type SectionName = (typeof SECTIONS)[number];

function print(section: Section): void {
  console.log(`\n### ${section.title}\n`);
  console.log("| figure | value |\n|---|---|");
  for (const [k, v] of Object.entries(section.rows)) console.log(`| ${k} | ${typeof v === "string" ? v.replace(/\|/g, "\\|") : JSON.stringify(v)} |`);
  console.log(`\n${section.violations.length === 0 ? "PASS" : "FAIL"}`);
  for (const v of section.violations.slice(0, 20)) console.log(`- VIOLATION: ${v}`);
}

async function fuzz(): Promise<Section[]> {
  const node = await CliNode.start({ address: "127.0.10.1" });
  try {
    await seedConfiguration(node, 26000);
    const f = await runAdminFuzz(node, { requests: 3000, seed: 424242, portBase: 26000 });
    const { violations, ...rows } = f;
    return [{ title: "Admin API fuzzing (3,000 requests, fast-check seed 424242)", rows: { ...rows, statuses: JSON.stringify(f.statuses), unanswered: JSON.stringify(f.unanswered) }, violations }];
  } finally {
    await node.destroy();
  }
}

async function crash(): Promise<Section[]> {
  const node = await CliNode.start({ address: "127.0.10.2" });
  try {
    const { violations, ...rows } = await runCrashConsistency(node, { writes: 1000, seed: 1000, maxKillDelayMs: 150, minKills: 50 });
    return [{ title: "Crash consistency (kill -9 during 1,000 writes)", rows, violations }];
  } finally {
    await node.destroy();
  }
}

async function partial(): Promise<Section[]> {
  const bench = await PartialBench.start();
  const sections: Section[] = [];
  try {
    for (const operation of ["create", "update", "delete"] as Operation[]) {
      for (const fault of ["500", "down"] as Fault[]) {
        const r = await bench.run(operation, fault);
        sections.push({ title: `Partial failure: ${operation}, one of three nodes ${fault === "500" ? "answering 500" : "down"}`, rows: { error: r.error, nextRun: r.secondRun }, violations: r.violations });
      }
    }
    for (const fault of ["500", "down"] as Fault[]) {
      const r = await bench.stack(fault);
      sections.push({
        title: `Partial failure: a whole stack, one of three nodes ${fault === "500" ? "answering 500" : "down"} for listeners (up, next up, destroy, next destroy)`,
        rows: { error: r.error, nextRun: r.secondRun },
        violations: r.violations,
      });
    }
    return sections;
  } finally {
    await bench.close();
  }
}

async function faults(): Promise<Section[]> {
  const bench = await FaultBench.start();
  try {
    const results = [await flapping(bench, 15), await silent(bench, 100), await resetting(bench, 100), await refusing(bench, 100)];
    if (iptablesWorks()) results.push(await blackholed(bench, 100));
    else results.push({ scenario: "member blackholes SYNs", figures: { skipped: "iptables is not usable here" }, violations: [] });
    return results.map((r) => ({ title: `Backend fault: ${r.scenario}`, rows: r.figures, violations: r.violations }));
  } finally {
    await bench.close();
  }
}

async function load(): Promise<Section[]> {
  const sections: Section[] = [];
  const big = await runLoad({ idle: 10_000, burst: 10_000, burstConcurrency: 200, listenerPort: 26511, adminBound: "max" });
  sections.push({ title: "Load: 10,000 idle connections, then a burst of 10,000 new ones (200 at a time), default workers", rows: big.figures, violations: big.violations });
  // The data plane in the main process (--workers 0): two descriptors per connection against the
  // 20,000 hard limit here. Informational (not counted): the admin API then shares its event loop
  // with the data plane, so an accept storm delays it; the requirement is measured on the default.
  const single = await runLoad({ idle: 9_500, burst: 10_000, burstConcurrency: 200, listenerPort: 26514, adminBound: "max", nodeArgs: ["--workers", "0"] });
  sections.push({
    title: "Load: 9,500 idle connections, then a burst of 10,000, --workers 0 (informational, not counted)",
    rows: { ...single.figures, violations: single.violations.join("; ") || "none" },
    violations: [],
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), "dnlb-reliability-limit-"));
  try {
    const limit = await runConnectionLimit(1000, 500, 26512, dir);
    sections.push({ title: "Load: per-listener connection limit 1,000, 500 more attempts", rows: limit.figures, violations: limit.violations });
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir);
    const perWorker = await runConnectionLimit(1000, 500, 26513, dir, 2, 0.1);
    sections.push({ title: "Load: the same limit with 2 data-plane workers (within 10 %)", rows: perWorker.figures, violations: perWorker.violations });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return sections;
}

async function hostile(): Promise<Section[]> {
  const node = await CliNode.start({ address: "127.0.10.40" });
  const backends: TestBackend[] = [];
  try {
    for (let i = 0; i < 4; i++) backends.push(await TestBackend.start({ host: `127.0.10.${41 + i}`, mode: "identify" }));
    const results = [await slowloris(node, backends[0], 26411, 2000, 10), steeringModel(50, 5000), await steeringThroughNode(node, backends, 26412, 1000)];
    return results.map((r) => ({ title: `Hostile clients: ${r.scenario}`, rows: r.figures, violations: r.violations }));
  } finally {
    await node.destroy();
    await Promise.all(backends.map((b) => b.close()));
  }
}

async function lockout(): Promise<Section[]> {
  const node = await CliNode.start({ address: "127.0.10.70" });
  try {
    const many = Array.from({ length: 200 }, (_, i) => `127.0.14.${10 + i}`);
    const results = [
      await adminLockout(node, "1,000 slow clients from one address, 30 s", {
        connections: 1000,
        floodSources: ["127.0.10.71"],
        probeSources: ["127.0.10.71", "127.0.10.72"],
        timedSource: "127.0.10.73",
        durationMs: 30_000,
      }),
      await adminLockout(node, "1,000 slow clients from 40 addresses, 20 s", {
        connections: 1000,
        floodSources: many.slice(0, 40),
        probeSources: ["127.0.10.72", many[0]],
        durationMs: 20_000,
      }),
    ];
    const sections = results.map((r) => ({ title: `Slow clients against the admin API: ${r.scenario}`, rows: r.figures, violations: r.violations }));
    // Three times the requirement (1,000), to show where it bends (docs/RELIABILITY.md).
    const beyond = await adminLockout(node, "3,000 slow clients from 200 addresses, 20 s", {
      connections: 3000,
      floodSources: many,
      probeSources: ["127.0.10.72", many[0]],
      durationMs: 20_000,
    });
    sections.push({
      title: `Slow clients against the admin API: ${beyond.scenario} (informational, not counted)`,
      rows: { ...beyond.figures, violations: beyond.violations.join("; ") || "none" },
      violations: [],
    });
    return sections;
  } finally {
    await node.destroy();
  }
}

async function failedWrites(): Promise<Section[]> {
  const results = [];
  if (privateMountsWork()) {
    results.push(await refusedWritesKeepConnections("127.0.10.80", ["127.0.10.81", "127.0.10.82"], 26611, 0));
    results.push(await refusedWritesKeepConnections("127.0.10.83", ["127.0.10.84", "127.0.10.85"], 26612, 2));
  } else {
    results.push({ scenario: "refused writes leave live connections alone", figures: { skipped: "mounts in a private namespace need root and unshare" }, violations: [] });
  }
  if (straceWorks()) {
    results.push(await failedLastStep("127.0.10.86", "openat"));
    results.push(await failedLastStep("127.0.10.86", "fsync"));
  } else {
    results.push({ scenario: "EIO on the state directory", figures: { skipped: "strace is not usable here" }, violations: [] });
  }
  return results.map((r) => ({ title: `Failed writes: ${r.scenario}`, rows: r.figures, violations: r.violations }));
}

async function secrets(): Promise<Section[]> {
  const a = await nodeSecrets();
  const b = await pulumiStateSecrets();
  return [
    { title: "Secrets: node logs, /metrics, answers, start-up errors", rows: a.figures, violations: a.violations },
    { title: "Secrets: what the providers give the Pulumi engine", rows: b.figures, violations: b.violations },
  ];
}

const RUNNERS: Record<SectionName, () => Promise<Section[]>> = { fuzz, crash, partial, faults, load, hostile, lockout, "failed-writes": failedWrites, secrets };

function machine(): string {
  let hardNofile = "?";
  try {
    hardNofile = execFileSync("sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
  } catch {
    // not reported
  }
  return `${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}, open files hard limit ${hardNofile}`;
}

async function main(): Promise<void> {
  const onlyArg = process.argv.indexOf("--only");
  const only = onlyArg >= 0 ? (process.argv[onlyArg + 1] ?? "").split(",") : [...SECTIONS];
  const unknown = only.filter((o) => !(SECTIONS as readonly string[]).includes(o));
  if (unknown.length > 0) throw new Error(`unknown section ${unknown.join(", ")}; sections: ${SECTIONS.join(", ")}`);
  console.log(`## dnlb reliability report\n\n${machine()}`);
  let failed = 0;
  for (const name of only as SectionName[]) {
    const started = performance.now();
    let sections: Section[];
    try {
      sections = await RUNNERS[name]();
    } catch (error) {
      sections = [{ title: name, rows: {}, violations: [`the scenario threw: ${(error as Error).stack ?? String(error)}`] }];
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`\n## ${name} (${seconds.toFixed(1)} s)`);
    for (const s of sections) {
      print(s);
      if (s.violations.length > 0) failed++;
    }
  }
  console.log(`\n${failed === 0 ? "All invariants held." : `${failed} section(s) violated an invariant.`} (${machine()})`);
  process.exit(failed === 0 ? 0 : 1);
}

void main();
