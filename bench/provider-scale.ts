/**
 * Provider scale: 50 backend services, each with a virtual server group of 100 members, on three
 * real forwarder nodes, driven through Pulumi's own dynamic-provider host over gRPC in the
 * engine's order (test/engine/helpers). Prints one line per phase: wall time, per-resource time,
 * gRPC answer sizes, and the memory of the host and the nodes.
 *
 *   npm run bench:provider            (defaults: 50 services x 100 members, parallelism 16)
 *   node dist/bench/provider-scale.js --services 50 --members 100 --parallel 16
 */
import { readFileSync } from "node:fs";
import * as os from "node:os";
import { parseArgs } from "node:util";
import { AdminClient, closeSharedAdminClient } from "../provider/client";
import { backendServiceProvider, virtualServerGroupProvider } from "../provider/resources";
import { unwrapProps } from "../provider/resources/secrets";
import { MiniEngine, type Goal } from "../test/engine/helpers/engine";
import { ProviderHost } from "../test/engine/helpers/host";
import { Cluster, TEST_TOKEN } from "../test/engine/helpers/nodes";
import { serializeProvider } from "../test/engine/helpers/serialize";

interface Options {
  readonly services: number;
  readonly members: number;
  readonly parallel: number;
}

function options(): Options {
  const { values } = parseArgs({
    options: {
      services: { type: "string", default: "50" },
      members: { type: "string", default: "100" },
      parallel: { type: "string", default: "16" },
    },
  });
  return { services: Number(values.services), members: Number(values.members), parallel: Number(values.parallel) };
}

/** Runs `work` over `items` with at most `limit` at once, as the engine's step executor does. */
async function inParallel<T>(items: readonly T[], limit: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++];
      await work(item);
    }
  });
  await Promise.all(workers);
}

/** Peak resident memory of a process, from /proc (Linux). */
function peakRssMiB(pid: number | undefined): string {
  if (pid === undefined) return "?";
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    return (kib / 1024).toFixed(0);
  } catch {
    return "?";
  }
}

function members(group: number, count: number, weightBump = 0): Record<string, unknown>[] {
  return Array.from({ length: count }, (_, i) => ({
    address: `10.${100 + Math.floor(group / 200)}.${group % 200}.${i + 1}`,
    port: 8080,
    weight: 10 + (i === 0 ? weightBump : 0),
  }));
}

/** Median time of `run` over `count` calls, in ms. */
async function medianMs(count: number, run: () => Promise<unknown>): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(count / 2)];
}

/** The provider's own cost for one group, called in this process: no gRPC, no host, no nodes. */
async function providerAlone(memberCount: number): Promise<string> {
  const lb = { endpoints: ["http://127.0.6.21:1", "http://127.0.6.22:1", "http://127.0.6.23:1"], token: TEST_TOKEN };
  const provider = virtualServerGroupProvider;
  const news = (bump: number) => ({ __resourceName: "pool", loadBalancer: lb, members: members(0, memberCount, bump) });
  const olds = (await provider.check!({}, news(0))).inputs as Record<string, unknown>;
  const created = unwrapProps(olds);
  const parts = [
    `check (create) ${(await medianMs(30, () => provider.check!({}, news(0)))).toFixed(1)} ms`,
    `check (no change) ${(await medianMs(30, () => provider.check!(olds, news(0)))).toFixed(1)} ms`,
    `check (one weight changed: flows moved) ${(await medianMs(30, () => provider.check!(olds, news(20)))).toFixed(1)} ms`,
    `diff ${(await medianMs(30, () => provider.diff!("pool", created, created))).toFixed(1)} ms`,
  ];
  return parts.join(", ");
}

async function main(): Promise<void> {
  const opts = options();
  const alone = await providerAlone(opts.members);
  const [cluster, host] = await Promise.all([Cluster.start(3, 21), ProviderHost.start()]);
  const admin = new AdminClient();
  try {
    await measure(opts, alone, cluster, host, admin);
  } finally {
    // Child processes outlive a crashed benchmark unless stopped here.
    await admin.close();
    await host.close();
    await closeSharedAdminClient();
    await cluster.destroy();
  }
}

async function measure(opts: Options, alone: string, cluster: Cluster, host: ProviderHost, admin: AdminClient): Promise<void> {
  const lb = cluster.connection();
  const started = process.hrtime.bigint();
  const serialized = {
    VirtualServerGroup: await serializeProvider(virtualServerGroupProvider),
    BackendService: await serializeProvider(backendServiceProvider),
  };
  const serializeMs = Number(process.hrtime.bigint() - started) / 1e6;
  const engine = new MiniEngine(host);
  const indexes = Array.from({ length: opts.services }, (_, i) => i);
  const groupIds: string[] = [];
  const serviceIds: string[] = [];

  const group = (i: number, bump = 0): Goal => ({
    type: "VirtualServerGroup",
    name: `pool-${i}`,
    provider: serialized.VirtualServerGroup,
    props: { loadBalancer: lb, members: members(i, opts.members, bump) },
  });
  const service = (i: number): Goal => ({
    type: "BackendService",
    name: `svc-${i}`,
    provider: serialized.BackendService,
    // Health checks off: the benchmark measures the control path, not 15,000 probes of unroutable members.
    props: { loadBalancer: lb, port: 8080, healthCheckEnabled: false, serverGroup: groupIds[i] },
  });

  /**
   * Median latency of 15 sequential PUTs of one 100-member group to one node: the node-side cost of
   * a write (validate, persist, apply). `id` is rewritten from the spec it has (or created, then
   * deleted, when absent); this runs after the refresh phase, which it would otherwise disturb.
   */
  async function putLatencyMs(id: string): Promise<number> {
    const existing = await admin.get(cluster.endpoints[0], TEST_TOKEN, "server-groups", id);
    const spec = existing?.spec ?? { type: "virtual", name: "probe", members: members(9999, opts.members) };
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const t0 = process.hrtime.bigint();
      // A new description each time: a PUT of an unchanged spec is answered without writing.
      await admin.put(cluster.endpoints[0], TEST_TOKEN, "server-groups", id, { ...spec, description: `write ${i}` });
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    if (existing === undefined) await admin.remove(cluster.endpoints[0], TEST_TOKEN, "server-groups", id);
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  }
  const putEmptyMs = await putLatencyMs("bench-latency-probe");

  const rows: string[] = [];
  async function phase(name: string, resources: number, run: () => Promise<void>): Promise<void> {
    const answersBefore = engine.answers.length;
    const t0 = process.hrtime.bigint();
    await run();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const bytes = engine.answers.slice(answersBefore).reduce((sum: number, a) => sum + JSON.stringify(a).length, 0);
    rows.push(
      `| ${name} | ${resources} | ${(ms / 1000).toFixed(2)} | ${(ms / resources).toFixed(1)} | ${(bytes / 1024 / 1024).toFixed(1)} |`,
    );
  }

  await phase("preview (check) of all groups and services", 2 * opts.services, async () => {
    await inParallel(indexes, opts.parallel, (i) => engine.preview(group(i)));
    await inParallel(indexes, opts.parallel, (i) => engine.preview({ ...service(i), props: { ...service(i).props, serverGroup: "pending" } }));
  });
  await phase("up: create groups, then services", 2 * opts.services, async () => {
    await inParallel(indexes, opts.parallel, async (i) => {
      groupIds[i] = (await engine.up(group(i))).state.id;
    });
    await inParallel(indexes, opts.parallel, async (i) => {
      serviceIds[i] = (await engine.up(service(i))).state.id;
    });
  });
  await phase("up with no change (check + diff)", 2 * opts.services, async () => {
    await inParallel(indexes, opts.parallel, async (i) => {
      const [g, s] = await Promise.all([engine.up(group(i)), engine.up(service(i))]);
      if (g.step !== "same" || s.step !== "same") throw new Error(`unexpected ${g.step}/${s.step} for ${i}`);
    });
  });
  await phase("up: one weight changed in every group (update)", opts.services, async () => {
    await inParallel(indexes, opts.parallel, async (i) => {
      const result = await engine.up(group(i, 20));
      if (result.step !== "update") throw new Error(`unexpected ${result.step} for pool-${i}`);
    });
  });
  await phase("refresh (read from 3 nodes)", 2 * opts.services, async () => {
    await inParallel(indexes, opts.parallel, async (i) => {
      const [g, s] = await Promise.all([engine.refresh("VirtualServerGroup", `pool-${i}`), engine.refresh("BackendService", `svc-${i}`)]);
      if ((g?.outputs.divergentNodes as unknown[]).length !== 0 || (s?.outputs.divergentNodes as unknown[]).length !== 0) {
        throw new Error(`divergence after refresh of ${i}`);
      }
    });
  });
  const putFullMs = await putLatencyMs(groupIds[0]);
  const hostPeak = peakRssMiB(host.pid);
  const nodePeaks = cluster.nodes.map((n) => peakRssMiB(n.pid)).join(" / ");
  await phase("destroy: services, then groups", 2 * opts.services, async () => {
    await inParallel(indexes, opts.parallel, (i) => engine.destroy("BackendService", `svc-${i}`));
    await inParallel(indexes, opts.parallel, (i) => engine.destroy("VirtualServerGroup", `pool-${i}`));
  });

  const sizes = Object.entries(serialized).map(([k, v]) => `${k} ${(v.length / 1024).toFixed(0)} KiB`).join(", ");
  console.log(`provider scale: ${opts.services} backend services x ${opts.members} members, 3 nodes, parallelism ${opts.parallel}`);
  console.log(`node ${process.version}, ${os.cpus().length} cores, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);
  console.log(`serialized providers: ${sizes} (serializing both took ${serializeMs.toFixed(0)} ms)`);
  console.log("");
  console.log("| phase | resources | wall s | ms per resource | gRPC answers MiB |");
  console.log("|---|---|---|---|---|");
  for (const row of rows) console.log(row);
  console.log("");
  console.log(`provider alone, one ${opts.members}-member group, in process (median of 30): ${alone}`);
  console.log(`peak RSS: dynamic-provider host ${hostPeak} MiB; nodes ${nodePeaks} MiB`);
  console.log(
    `one node, sequential PUT of a ${opts.members}-member group (median of 15): ${putEmptyMs.toFixed(1)} ms with an empty configuration, ` +
      `${putFullMs.toFixed(1)} ms with ${opts.services} groups and services stored`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
