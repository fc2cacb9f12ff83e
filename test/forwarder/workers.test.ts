/**
 * The data plane in worker processes (`--workers N`): WorkerPool on real loopback sockets, the
 * workers sharing the one socket the primary binds for each listener port.
 *
 * Addresses: forwarder 127.0.11.1, backends 127.0.11.2-3, clients 127.11.x.y.
 */
import { strict as assert } from "node:assert";
import type * as net from "node:net";
import { freePort } from "../support/net";
import { waitFor } from "../support/wait";
import type { DataPlanePlan, PlanMember, ServicePlan } from "../../provider/forwarder/dataplane/plan";
import type { DataPlaneStats } from "../../provider/forwarder/dataplane/stats";
import { WorkerPool } from "../../provider/forwarder/workers/pool";
import { memberKey } from "../../provider/hashing";
import { closeAll, TestBackend } from "./helpers/backends";
import { connect, identify, readLine, runConcurrently, sourceAddress, tally, tryIdentify } from "./helpers/clients";
import { ConfigBuilder } from "./helpers/config";
import { acceptedPerWorker, servedPerWorker, sum } from "./helpers/worker-shares";
import { metricValue, startRuntime, TEST_HASH_SEED } from "./helpers/runtime";

const FORWARDER = "127.0.11.1";

function member(b: TestBackend): PlanMember {
  return { key: memberKey({ address: b.host, port: b.port }), address: b.host, port: b.port, weight: 10 };
}

function service(id: string, members: readonly PlanMember[]): ServicePlan {
  return {
    id,
    algorithm: "QuintupleHash",
    proxyProtocol: "off",
    idleTimeoutMs: 900_000,
    drainingTimeoutMs: 300_000,
    table: members,
    retained: members.map((m) => m.key),
  };
}

function plan(svc: ServicePlan, listeners: readonly { id: string; port: number }[]): DataPlanePlan {
  return { services: [svc], listeners: listeners.map((l) => ({ ...l, serviceId: svc.id })) };
}

function activePerWorker(pool: WorkerPool, listenerId: string): Map<number, number> {
  return new Map(pool.workerStats().map((w) => [w.pid as number, listenerOf(w.stats, listenerId)?.active ?? 0]));
}

function listenerOf(stats: DataPlaneStats, id: string): DataPlaneStats["listeners"][number] | undefined {
  return stats.listeners.find((l) => l.id === id);
}

describe("data plane in worker processes", function () {
  this.timeout(60_000);
  let a: TestBackend;
  let b: TestBackend;
  let pool: WorkerPool | undefined;

  before(async () => {
    [a, b] = await Promise.all([
      TestBackend.start({ host: "127.0.11.2", name: "a" }),
      TestBackend.start({ host: "127.0.11.3", name: "b" }),
    ]);
  });

  afterEach(async () => {
    await pool?.close();
    pool = undefined;
  });

  after(async () => {
    await closeAll([a, b]);
  });

  function startPool(): WorkerPool {
    pool = new WorkerPool({ workers: 2, listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, statsIntervalMs: 100 });
    return pool;
  }

  it("serves one port from 2 workers: both accept clients and every client reaches a member", async () => {
    const p = startPool();
    const port = await freePort(FORWARDER);
    const failed = await p.apply(plan(service("s", [member(a)]), [{ id: "l1", port }]));
    assert.deepEqual([...failed], []);
    assert.equal(p.pids().length, 2);
    const { counts, sent } = await servedPerWorker(p, { host: FORWARDER, port, listenerId: "l1", expected: "a", sourceOctet: 11, firstSource: 0 });
    console.log(`      clients accepted per worker: ${counts.join(", ")}`);
    assert.ok(counts.length === 2 && counts.every((n) => n > 0), `each worker accepted clients: ${counts.join(", ")}`);
    const merged = p.stats().listeners.find((l) => l.id === "l1");
    assert.equal(merged?.connections, sent, "status and metrics see the sum over the workers");
    assert.equal(merged?.state, "Listening");
  });

  it("keeps the other worker's connections when one worker is killed, and starts a new worker", async () => {
    const p = startPool();
    const port = await freePort(FORWARDER);
    await p.apply(plan(service("s", [member(a)]), [{ id: "l1", port }]));
    const sockets: net.Socket[] = [];
    try {
      // The scheduler picks the worker for each client (one shared accept queue): open them 10 at a
      // time until both workers hold some, at most 100.
      let active: Map<number, number>;
      do {
        for (let i = 0; i < 10; i++) {
          const socket = await connect({ host: FORWARDER, port, localAddress: sourceAddress(100 + sockets.length, 11) });
          sockets.push(socket);
          assert.equal(await readLine(socket), "a");
        }
        await waitFor(() => sum([...activePerWorker(p, "l1").values()]) === sockets.length, 5000, `the workers to report ${sockets.length} open connections`);
        active = activePerWorker(p, "l1");
      } while ([...active.values()].some((n) => n === 0) && sockets.length < 100);
      const [victim, survivor] = [...active.keys()];
      assert.ok((active.get(victim) ?? 0) > 0 && (active.get(survivor) ?? 0) > 0, `both workers hold connections: ${[...active.values()].join(", ")}`);

      process.kill(victim, "SIGKILL");
      // Every connection: still answering (its worker lives) or closed (its worker was killed).
      const outcomes = await Promise.all(
        sockets.map(async (socket, i) => {
          socket.write(`ping ${i}\n`);
          try {
            return (await readLine(socket, 3000)) === `ping ${i}` ? "alive" : "garbled";
          } catch {
            return "closed";
          }
        }),
      );
      const counts = tally(outcomes);
      assert.equal(counts.get("garbled"), undefined);
      assert.equal(counts.get("alive"), active.get(survivor), "every connection of the surviving worker still works");
      assert.equal(counts.get("closed"), active.get(victim), "only the killed worker's connections are gone");

      await waitFor(() => p.pids().length === 2 && !p.pids().includes(victim), 10_000, "a replacement worker");
      // The replacement has the current plan: new clients are served, by both workers again.
      await waitFor(() => p.workerStats().length === 2, 10_000, "the replacement's first stats");
      const names = await runConcurrently(40, 10, (i) => identify({ host: FORWARDER, port, localAddress: sourceAddress(200 + i, 11) }));
      assert.deepEqual(tally(names), new Map([["a", 40]]));
      await waitFor(
        () => (p.stats().listeners.find((l) => l.id === "l1")?.connections ?? 0) === sockets.length + 40,
        5000,
        `the counter to include the first ${sockets.length} (the killed worker's share too) plus 40: nothing counted twice or lost`,
      );
      const survivorAlive = sockets.filter((_, i) => outcomes[i] === "alive");
      for (const socket of survivorAlive) {
        socket.write("still\n");
        assert.equal(await readLine(socket), "still");
      }
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it("sends every configuration change to every worker: member changes, a new listener, a removed one", async () => {
    const p = startPool();
    const [port1, port2] = [await freePort(FORWARDER), await freePort(FORWARDER)];
    await p.apply(plan(service("s", [member(a)]), [{ id: "l1", port: port1 }]));
    await p.apply(plan(service("s", [member(b)]), [{ id: "l1", port: port1 }]));
    const before = acceptedPerWorker(p, "l1");
    // Every client reaches b ("no worker kept the old member"), and each worker takes some.
    const served = (await servedPerWorker(p, { host: FORWARDER, port: port1, listenerId: "l1", expected: "b", sourceOctet: 11, firstSource: 300, before })).counts;
    assert.ok(served.every((n, i) => n > (before[i] ?? 0)), "both workers served the new member");

    const failed = await p.apply(plan(service("s", [member(b)]), [{ id: "l1", port: port1 }, { id: "l2", port: port2 }]));
    assert.deepEqual([...failed], []);
    const served2 = (await servedPerWorker(p, { host: FORWARDER, port: port2, listenerId: "l2", expected: "b", sourceOctet: 11, firstSource: 1000 })).counts;
    assert.ok(served2.length === 2 && served2.every((n) => n > 0), "both workers listen on the new port");

    await p.apply(plan(service("s", [member(b)]), [{ id: "l1", port: port1 }]));
    const after = await runConcurrently(20, 10, (i) => tryIdentify({ host: FORWARDER, port: port2, localAddress: sourceAddress(500 + i, 11) }));
    assert.deepEqual(tally(after.map((o) => o.error ?? o.name ?? "")), new Map([["ECONNREFUSED", 20]]), "no worker listens on the removed port");
  });

  it("reports a port another process holds as failed, from every worker", async () => {
    const p = startPool();
    const port = await freePort(FORWARDER);
    const holder = await TestBackend.start({ host: FORWARDER, port, name: "holder" });
    try {
      const failed = await p.apply(plan(service("s", [member(a)]), [{ id: "l1", port }]));
      assert.match(failed.get("l1") ?? "", /in use/);
      assert.equal(p.stats().listeners.find((l) => l.id === "l1")?.state, "Failed");
    } finally {
      await holder.close();
    }
  });
});

describe("the runtime with 2 workers", function () {
  this.timeout(60_000);

  it("probes in the primary, steers the workers by health, and sums their traffic in status and metrics", async () => {
    const [x, y] = await Promise.all([
      TestBackend.start({ host: "127.0.11.4", name: "x" }),
      TestBackend.start({ host: "127.0.11.5", name: "y" }),
    ]);
    const { runtime, registry } = startRuntime({ dataPlane: { listenAddress: FORWARDER, workers: 2 }, health: { timeScale: 0.1 } });
    try {
      const port = await freePort(FORWARDER);
      const config = (members: TestBackend[]) =>
        new ConfigBuilder()
          .healthCheck("hc", { unhealthyThreshold: 1, healthyThreshold: 1 })
          .virtualGroup("g", { members: members.map((m) => ({ address: m.host, port: m.port })) })
          .service("s", { port: 9, serverGroup: "g", healthCheck: "hc", algorithm: "QuintupleHash" })
          .listener("l", { port, backendService: "s" })
          .build();
      const { listenerErrors } = await runtime.apply(config([x, y]));
      assert.deepEqual([...listenerErrors], []);
      const health = (name: string) => runtime.status().backendServices[0]?.members.find((m) => m.address === name)?.health;
      await waitFor(() => health("127.0.11.4") === "Healthy" && health("127.0.11.5") === "Healthy", 5000, "both members healthy");
      const first = await identify({ host: FORWARDER, port, localAddress: sourceAddress(600, 11) });

      // The primary's probe sees y go down; the workers, which never probe, stop sending clients to it.
      await y.kill();
      await waitFor(() => health("127.0.11.5") === "Unhealthy", 5000, "y unhealthy");
      await new Promise((resolve) => setTimeout(resolve, 100));
      const names = await runConcurrently(40, 10, (i) => identify({ host: FORWARDER, port, localAddress: sourceAddress(700 + i, 11) }));
      assert.deepEqual(tally(names), new Map([["x", 40]]));

      await waitFor(
        async () => (await metricValue(registry, "dnlb_listener_connections_total", { listener: "l" })) === 41,
        5000,
        "the metric to count the 41 clients of both workers",
      );
      assert.equal(runtime.status().listeners[0]?.state, "Listening");
      assert.equal(
        await metricValue(registry, "dnlb_member_connections_total", { service: "s", member: `127.0.11.4:${x.port}` }),
        first === "x" ? 41 : 40,
      );
      const rss = await metricValue(registry, "dnlb_dataplane_worker_resident_memory_bytes", { worker: "1" });
      assert.ok(rss !== undefined && rss > 10 * 2 ** 20, `worker 1 reports its memory (${rss})`);
    } finally {
      await runtime.close();
      await closeAll([x, y]);
    }
  });
});

describe("merging the workers' stats", () => {
  const totals = (n: number) => ({ connections: n, connectFailures: n, bytesIn: 10 * n, bytesOut: 100 * n });
  const rejected = (n: number) => ({ no_backend: n, limit: 0, connect_failed: n });
  const snapshot = (n: number, state: "Listening" | "Failed" | "NoBackend" = "Listening"): DataPlaneStats => ({
    listeners: [{ id: "l1", port: 80, serviceId: "s", state, ...(state === "Failed" ? { error: "port 80 is in use" } : {}), active: n, ...totals(n), rejected: rejected(n) }],
    members: [{ serviceId: "s", key: "10.0.0.1:80", active: n, draining: n === 2, ...totals(n) }],
    services: [{ id: "s", tablesBuilt: n, tableSize: 65537 }],
  });

  it("adds counters and open connections, takes the worst listener state, and keeps exited workers' counters", async () => {
    const { mergeStats, retire, EMPTY_STATS } = await import("../../provider/forwarder/workers/merge-stats");
    const merged = mergeStats([snapshot(1), snapshot(2, "Failed"), snapshot(4, "NoBackend")]);
    assert.deepEqual(merged.listeners, [
      { id: "l1", port: 80, serviceId: "s", state: "Failed", error: "port 80 is in use", active: 7, ...totals(7), rejected: rejected(7) },
    ]);
    assert.deepEqual(merged.members, [{ serviceId: "s", key: "10.0.0.1:80", active: 7, draining: true, ...totals(7) }]);
    assert.deepEqual(merged.services, [{ id: "s", tablesBuilt: 4, tableSize: 65537 }], "tables: the most any worker built, not a sum");

    const retired = retire(EMPTY_STATS, snapshot(8));
    const withRetired = mergeStats([snapshot(1)], retired);
    assert.equal(withRetired.listeners[0].connections, 9, "an exited worker's counters stay");
    assert.equal(withRetired.listeners[0].active, 1, "its connections are gone");
    assert.equal(withRetired.members[0].bytesOut, 900);
    assert.equal(withRetired.members[0].active, 1);
    assert.deepEqual(mergeStats([], retired), EMPTY_STATS, "nothing is reported for listeners no live worker has");
  });
});

describe("--workers", () => {
  it("defaults to one data-plane worker per CPU, takes 0 (in process) to 64, and refuses anything else", async () => {
    const { parseCli, MAX_WORKERS } = await import("../../provider/forwarder/cli/arguments");
    const { availableParallelism } = await import("node:os");
    const base = ["--admin-listen", "127.0.0.1:9180", "--state-dir", "/tmp/x"];
    const parsed = (extra: string[]) => {
      const cli = parseCli([...base, ...extra]);
      return cli === "help" ? undefined : cli.dataPlane.workers;
    };
    assert.equal(parsed([]), Math.min(MAX_WORKERS, availableParallelism()));
    assert.equal(parsed(["--workers", "0"]), 0);
    assert.equal(parsed(["--workers", "1"]), 1);
    assert.equal(parsed(["--workers", "64"]), 64);
    for (const bad of ["-1", "65", "1.5", "two", ""]) {
      assert.throws(() => parsed([`--workers=${bad}`]), /--workers must be an integer from 0 to 64/, bad);
    }
  });
});
