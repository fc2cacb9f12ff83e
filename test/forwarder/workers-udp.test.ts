/**
 * UDP listeners with data-plane workers: each UDP listener is read by one worker, its owner
 * (workers/udp-owners.ts), so a client's datagrams reach one session; listeners are spread over
 * the workers; an owner that dies hands its listeners to a live worker at once, and its
 * replacement does not take them back. On each engine, WorkerPool on real loopback sockets.
 *
 * Addresses: forwarder 127.0.23.1, UDP members 127.0.23.2-3, TCP backend 127.0.23.4, clients
 * 127.0.23.5-6.
 */
import { strict as assert } from "node:assert";
import type * as net from "node:net";
import type { DataPlaneEngine } from "../../provider/forwarder/dataplane/dataplane";
import type { DataPlanePlan, ListenerPlan, PlanMember, ServicePlan } from "../../provider/forwarder/dataplane/plan";
import type { DataPlaneStats } from "../../provider/forwarder/dataplane/stats";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import { WorkerPool } from "../../provider/forwarder/workers/pool";
import { UdpListenerOwners } from "../../provider/forwarder/workers/udp-owners";
import { memberKey } from "../../provider/hashing";
import { freePort } from "../support/net";
import { waitFor } from "../support/wait";
import { TestBackend } from "./helpers/backends";
import { connect, identify, readLine } from "./helpers/clients";
import { TEST_HASH_SEED } from "./helpers/runtime";
import { UdpClient, UdpMember } from "./helpers/udp-peers";

const FORWARDER = "127.0.23.1";
const ENGINES: DataPlaneEngine[] = nativeRelayUnavailable() === undefined ? ["native", "streams"] : ["streams"];

function service(id: string, protocol: "TCP" | "UDP", peers: readonly { host: string; port: number }[]): ServicePlan {
  const members: PlanMember[] = peers.map((p) => ({ key: memberKey({ address: p.host, port: p.port }), address: p.host, port: p.port, weight: 10 }));
  return {
    id,
    protocol,
    algorithm: "QuintupleHash",
    proxyProtocol: "off",
    idleTimeoutMs: 900_000,
    ...(protocol === "UDP" ? { udpSessionTimeoutMs: 120_000 } : {}),
    drainingTimeoutMs: 0,
    table: members,
    retained: members.map((m) => m.key),
  };
}

function udpListener(id: string, port: number, serviceId: string): ListenerPlan {
  return { id, protocol: "UDP", port, serviceId };
}

/** The UDP listeners each live worker reports, by pid: a worker reports only the listeners it opened. */
function udpListenersPerWorker(pool: WorkerPool): Map<number, string[]> {
  return new Map(pool.workerStats().map((w) => [w.pid as number, udpListenerIds(w.stats)]));
}

function udpListenerIds(stats: DataPlaneStats): string[] {
  return stats.listeners.filter((l) => l.udp !== undefined).map((l) => l.id);
}

/** The pid of the worker that reports listener `id`; fails unless exactly one does. */
function ownerOf(pool: WorkerPool, id: string): number {
  const owners = [...udpListenersPerWorker(pool)].filter(([, ids]) => ids.includes(id)).map(([pid]) => pid);
  assert.equal(owners.length, 1, `one worker reports UDP listener ${id}: ${JSON.stringify([...udpListenersPerWorker(pool)])}`);
  return owners[0];
}

describe("UDP listener owners (which worker reads each UDP listener)", () => {
  it("spreads listeners over the workers owning the fewest, keeps an owner while it lives, and moves only a dead owner's", () => {
    const owners = new UdpListenerOwners<string>();
    assert.deepEqual([...owners.assign(["UDP/53", "UDP/54", "UDP/55"], ["w0", "w1"])], ["w0", "w1"]);
    assert.deepEqual(["UDP/53", "UDP/54", "UDP/55"].map((k) => owners.ownerOf(k)), ["w0", "w1", "w0"]);
    assert.deepEqual([...owners.assign(["UDP/53", "UDP/54", "UDP/55", "UDP/56"], ["w0", "w1"])], ["w1"], "known listeners keep their owners");
    assert.equal(owners.ownerOf("UDP/56"), "w1");

    assert.deepEqual(owners.forget("w0"), ["UDP/53", "UDP/55"]);
    assert.deepEqual([...owners.assign(["UDP/53", "UDP/54", "UDP/55", "UDP/56"], ["w1"])], ["w1"]);
    assert.equal(owners.count("w1"), 4, "the live worker takes the dead one's");
    assert.equal(owners.assign(["UDP/53", "UDP/54", "UDP/55", "UDP/56"], ["w0-replacement", "w1"]).size, 0, "the replacement takes nothing back");
    assert.equal(owners.assign(["UDP/57"], ["w0-replacement", "w1"]).has("w0-replacement"), true, "it takes the next new listener");

    owners.keepOnly(new Set(["UDP/54"]));
    assert.equal(owners.ownerOf("UDP/53"), undefined, "a listener removed from the configuration has no owner");
    assert.equal(owners.ownerOf("UDP/54"), "w1");
    assert.equal(owners.forget("w9").length, 0);
    assert.equal(new UdpListenerOwners<string>().assign(["UDP/53"], []).size, 0, "no worker, no owner");
  });
});

for (const engine of ENGINES) {
  describe(`UDP listeners on 2 data-plane workers (engine ${engine})`, function () {
    this.timeout(60_000);
    let members: UdpMember[];
    let backend: TestBackend;
    let pool: WorkerPool | undefined;
    let client: UdpClient | undefined;

    before(async () => {
      members = await Promise.all(["127.0.23.2", "127.0.23.3"].map((host, i) => UdpMember.start(host, `member-${i + 1}`)));
      backend = await TestBackend.start({ host: "127.0.23.4", name: "tcp" });
    });

    afterEach(async () => {
      client?.close();
      client = undefined;
      await pool?.close();
      pool = undefined;
    });

    after(async () => {
      for (const m of members) m.close();
      await backend.close();
    });

    function startPool(): WorkerPool {
      pool = new WorkerPool({ workers: 2, engine, listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, statsIntervalMs: 100 });
      return pool;
    }

    it("gives two UDP listeners to different workers, each listener's datagrams read by its owner alone", async () => {
      const p = startPool();
      const [port1, port2] = [await freePort(FORWARDER), await freePort(FORWARDER)];
      const udp = service("dns", "UDP", [members[0]]);
      const failed = await p.apply({ services: [udp], listeners: [udpListener("u1", port1, "dns"), udpListener("u2", port2, "dns")] });
      assert.deepEqual([...failed], []);
      client = await UdpClient.open("127.0.23.5");
      assert.deepEqual(await client.askMany(FORWARDER, port1, 10), new Array<string>(10).fill("member-1"));
      assert.deepEqual(await client.askMany(FORWARDER, port2, 10), new Array<string>(10).fill("member-1"));
      await waitFor(() => p.workerStats().length === 2, 5000, "both workers' stats");
      const perWorker = udpListenersPerWorker(p);
      console.log(`      UDP listeners per worker: ${JSON.stringify([...perWorker.values()])}`);
      assert.deepEqual([...perWorker.values()].map((ids) => ids.length), [1, 1], "each worker owns one");
      assert.notEqual(ownerOf(p, "u1"), ownerOf(p, "u2"));
      // The status reads as from one process: each listener Listening, with all its datagrams.
      const merged = await waitFor(
        () => {
          const ls = p.stats().listeners;
          return ls.every((l) => l.udp?.datagramsIn !== undefined && l.udp.datagramsIn >= 11) ? ls : undefined;
        },
        5000,
        "the owners' stats to count the datagrams",
      );
      assert.deepEqual(merged.map((l) => l.state), ["Listening", "Listening"]);
    });

    it("moves a killed owner's UDP listener to the other worker within 1 s, before the replacement starts, and not back", async () => {
      const p = startPool();
      const port = await freePort(FORWARDER);
      assert.deepEqual([...(await p.apply({ services: [service("dns", "UDP", [members[0]])], listeners: [udpListener("u", port, "dns")] }))], []);
      client = await UdpClient.open("127.0.23.6");
      assert.deepEqual(await client.askMany(FORWARDER, port, 20), new Array<string>(20).fill("member-1"));
      await waitFor(() => p.workerStats().length === 2 && (p.stats().listeners[0]?.udp?.datagramsIn ?? 0) >= 21, 5000, "the owner to report the 21 datagrams");
      const victim = ownerOf(p, "u");
      const survivor = p.pids().find((pid) => pid !== victim) as number;
      members[0].sourcePorts.clear();

      const killedAt = Date.now();
      process.kill(victim, "SIGKILL");
      let answer = "lost";
      while (answer === "lost" && Date.now() - killedAt < 5000) answer = await client.ask(FORWARDER, port, 25);
      const gapMs = Date.now() - killedAt;
      // Only the survivor has applied a plan since the kill: the replacement has not run one yet.
      const workersRunning = p.workerStats().map((w) => w.pid);
      const replacementStarted = p.pids().some((pid) => pid !== victim && pid !== survivor);
      console.log(`      UDP answered again ${gapMs} ms after kill -9 of its owner; replacement process forked by then: ${replacementStarted}`);
      assert.equal(answer, "member-1");
      assert.ok(gapMs < 1000, `answered again within 1 s: ${gapMs} ms`);
      assert.deepEqual(workersRunning, [survivor], "answered by the surviving worker, before the replacement was running");

      await waitFor(() => p.pids().length === 2 && p.workerStats().length === 2, 10_000, "the replacement worker to run");
      assert.deepEqual(await client.askMany(FORWARDER, port, 20), new Array<string>(20).fill("member-1"));
      await waitFor(() => p.workerStats().every((w) => w.pid === survivor || w.stats.services.length > 0), 5000, "the replacement's stats");
      assert.equal(ownerOf(p, "u"), survivor, "the replacement does not take the listener back");
      assert.equal(members[0].sourcePorts.size, 1, `one session since the kill: source ports ${[...members[0].sourcePorts].join(", ")}`);
      // The killed owner's counters are kept: the node's count is the survivor's plus its 21 or more.
      await waitFor(() => (p.stats().listeners[0]?.udp?.datagramsIn ?? 0) >= 42, 5000, "the datagram counter to count both workers'");
      const survivorOwn = p.workerStats().find((w) => w.pid === survivor)?.stats.listeners[0]?.udp?.datagramsIn ?? 0;
      const node = p.stats().listeners[0]?.udp?.datagramsIn ?? 0;
      assert.ok(node - survivorOwn >= 21, `datagrams counted: ${node}, ${survivorOwn} of them by the survivor`);
    });

    it("removes a UDP listener and adds it back, the TCP listener on the same port number serving throughout", async () => {
      const p = startPool();
      const port = await freePort(FORWARDER);
      const services = [service("dns", "UDP", [members[1]]), service("web", "TCP", [backend])];
      const tcp: ListenerPlan = { id: "t", port, serviceId: "web" };
      const withUdp: DataPlanePlan = { services, listeners: [tcp, udpListener("u", port, "dns")] };
      const withoutUdp: DataPlanePlan = { services, listeners: [tcp] };
      assert.deepEqual([...(await p.apply(withUdp))], []);
      let held: net.Socket | undefined;
      try {
        held = await connect({ host: FORWARDER, port, localAddress: "127.0.23.5" });
        assert.equal(await readLine(held), "tcp");
        const tcpServes = async (step: string): Promise<void> => {
          held?.write(`${step}\n`);
          assert.equal(await readLine(held as net.Socket), step, `the open TCP connection ${step}`);
          assert.equal(await identify({ host: FORWARDER, port, localAddress: "127.0.23.6" }), "tcp", `a new TCP client ${step}`);
        };
        client = await UdpClient.open("127.0.23.5");
        assert.deepEqual(await client.askMany(FORWARDER, port, 5), new Array<string>(5).fill("member-2"));
        await tcpServes("with-udp");

        assert.deepEqual([...(await p.apply(withoutUdp))], []);
        assert.equal(await client.ask(FORWARDER, port, 300), "lost", "no worker reads the removed UDP listener");
        await tcpServes("without-udp");

        assert.deepEqual([...(await p.apply(withUdp))], []);
        assert.deepEqual(await client.askMany(FORWARDER, port, 5), new Array<string>(5).fill("member-2"));
        await tcpServes("udp-back");
        await waitFor(() => p.workerStats().length === 2, 5000, "both workers' stats");
        ownerOf(p, "u");
        assert.equal(p.stats().listeners.find((l) => l.id === "u")?.state, "Listening");
      } finally {
        held?.destroy();
      }
    });
  });
}
