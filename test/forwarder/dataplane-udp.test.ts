/**
 * UDP through the data plane, with real DNS: an NSD server per member answering with the
 * member's name, and DNS clients (our dgram client for thousands of client ports, `dig` for a
 * real one). Driven by plans directly, as dataplane.test.ts is.
 *
 * Addresses: forwarder 127.0.14.1, members 127.0.14.11-13, clients 127.14.x.y.
 */
import { strict as assert } from "node:assert";
import { DataPlane, type DataPlaneEngine } from "../../provider/forwarder/dataplane/dataplane";
import type { DataPlanePlan, ListenerPlan, PlanMember, ServicePlan } from "../../provider/forwarder/dataplane/plan";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import { WorkerPool } from "../../provider/forwarder/workers/pool";
import { memberKey } from "../../provider/hashing";
import { freePorts } from "../support/net";
import { skipUnlessPresent } from "../support/peers";
import { waitFor } from "../support/wait";
import { dig, DnsClient, dnsToolsMissing, NsdServer } from "./helpers/dns";
import { TEST_HASH_SEED } from "./helpers/runtime";

const FORWARDER = "127.0.14.1";
const ENGINES: DataPlaneEngine[] = nativeRelayUnavailable() === undefined ? ["native", "streams"] : ["streams"];

function member(server: NsdServer, weight: number): PlanMember {
  return { key: memberKey({ address: server.host, port: server.port }), address: server.host, port: server.port, weight };
}

function udpService(id: string, members: readonly PlanMember[], extra: Partial<ServicePlan> = {}): ServicePlan {
  return {
    id,
    protocol: "UDP",
    algorithm: "QuintupleHash",
    proxyProtocol: "off",
    idleTimeoutMs: 900_000,
    udpSessionTimeoutMs: 120_000,
    drainingTimeoutMs: 0,
    table: members,
    retained: members.map((m) => m.key),
    ...extra,
  };
}

function udpPlan(port: number, service: ServicePlan, more: Partial<DataPlanePlan> = {}): DataPlanePlan {
  const listener: ListenerPlan = { id: "dns", protocol: "UDP", port, serviceId: service.id };
  return { services: [service, ...(more.services ?? [])], listeners: [listener, ...(more.listeners ?? [])] };
}

/**
 * Opens `count` clients on `address` (each its own port), `batch` at a time, and asks each once;
 * the answers in order. A later batch may get a port an earlier one had: `ports` collects them.
 */
async function askFromPorts(address: string, count: number, port: number, batch = 250, ports = new Set<number>()): Promise<string[]> {
  const answers: string[] = [];
  for (let done = 0; done < count; done += batch) {
    const clients = await Promise.all(Array.from({ length: Math.min(batch, count - done) }, () => DnsClient.open(address)));
    for (const c of clients) ports.add(c.port);
    try {
      answers.push(...(await Promise.all(clients.map((c) => c.ask(FORWARDER, port, 5000)))));
    } finally {
      for (const c of clients) c.close();
    }
  }
  return answers;
}

function tally(answers: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  return counts;
}

describe("UDP data plane with real DNS (nsd, dig)", function () {
  this.timeout(60_000);
  let servers: NsdServer[] = [];
  let ports: number[];

  before(async function () {
    skipUnlessPresent(this, dnsToolsMissing());
    ports = await freePorts(FORWARDER, 4);
    const memberPorts = await freePorts("127.0.14.11", 3);
    servers = await Promise.all(["a", "b", "c"].map((name, i) => NsdServer.start(name, `127.0.14.${11 + i}`, memberPorts[i])));
  });

  after(async () => {
    await Promise.all(servers.map((s) => s.stop()));
  });

  it("serves a UDP listener with 2 worker processes, one of them reading its port, and reports its datagram counters", async () => {
    const pool = new WorkerPool({ workers: 2, listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, statsIntervalMs: 100 });
    try {
      const [a, b] = servers;
      assert.deepEqual([...(await pool.apply(udpPlan(ports[2], udpService("dns", [member(a, 10), member(b, 10)]))))], []);
      const answers = await askFromPorts("127.14.5.1", 400, ports[2], 100);
      assert.equal(answers.length, 400);
      const merged = await waitFor(
        () => {
          const l = pool.stats().listeners.find((x) => x.id === "dns");
          return l?.udp?.datagramsOut === 400 ? l : undefined;
        },
        5000,
        "the owner's stats to count the 400 answers",
      );
      assert.equal(merged.udp?.datagramsIn, 400);
      const perWorker = pool.workerStats().map((w) => w.stats.listeners.find((x) => x.id === "dns")?.udp?.datagramsIn ?? 0);
      assert.deepEqual(perWorker.filter((n) => n > 0), [400], `one worker, the listener's owner, received every datagram: ${perWorker.join(", ")}`);
    } finally {
      await pool.close();
    }
  });

  for (const engine of ENGINES) {
    describe(`engine ${engine}`, () => {
      let dp: DataPlane;
      afterEach(async () => dp?.close());

      it("spreads 3,000 client ports over the members by weight with QuintupleHash (within 3 points)", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
        const [a, b, c] = servers;
        const failed = await dp.apply(udpPlan(ports[0], udpService("dns", [member(a, 10), member(b, 20), member(c, 30)])));
        assert.equal(failed.size, 0);
        const clientPorts = new Set<number>();
        const answers = await askFromPorts("127.14.0.1", 3000, ports[0], 250, clientPorts);
        const counts = tally(answers);
        for (const [name, weight] of [["a", 10], ["b", 20], ["c", 30]] as const) {
          const share = (counts.get(name) ?? 0) / answers.length;
          assert.ok(Math.abs(share - weight / 60) <= 0.03, `member ${name}: ${(share * 100).toFixed(1)}% of queries, weight share ${((weight / 60) * 100).toFixed(1)}%`);
        }
        const stats = dp.stats();
        const listener = stats.listeners.find((l) => l.id === "dns");
        assert.equal(listener?.connections, clientPorts.size, "one session per client port");
        assert.equal(listener?.udp?.datagramsIn, 3000);
        assert.equal(listener?.udp?.datagramsOut, 3000);
        assert.equal(listener?.udp?.evictions, 0);
        const memberDatagrams = stats.members.reduce((sum, m) => sum + (m.udp?.datagramsOut ?? 0), 0);
        assert.equal(memberDatagrams, 3000);
      });

      it("sends every query of one client address to one member with IpHash, dig included", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
        const [a, b, c] = servers;
        await dp.apply(udpPlan(ports[1], udpService("dns", [member(a, 10), member(b, 10), member(c, 10)], { algorithm: "IpHash" })));
        const seen = new Set<string>();
        for (let i = 1; i <= 12; i++) {
          const address = `127.14.1.${i}`;
          const answers = await askFromPorts(address, 8, ports[1]);
          answers.push((await dig(FORWARDER, ports[1], { source: address })) ?? "(no answer)");
          assert.equal(new Set(answers).size, 1, `client ${address} got ${answers.join(", ")}`);
          seen.add(answers[0]);
        }
        assert.ok(seen.size >= 2, `12 client addresses all went to ${[...seen].join(", ")}`);
      });

      it("moves the sessions of a member that goes down at their next query, losing none sent after it is marked down", async () => {
        const [a, b, c] = servers;
        const down = await NsdServer.start("d", "127.0.14.14", (await freePorts("127.0.14.14", 1))[0]);
        try {
          dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
          const members = [member(a, 10), member(b, 10), member(c, 10), member(down, 10)];
          const service = udpService("dns", members);
          await dp.apply(udpPlan(ports[2], service));
          const clients = await Promise.all(Array.from({ length: 200 }, () => DnsClient.open("127.14.2.1")));
          try {
            const first = await Promise.all(clients.map((cl) => cl.ask(FORWARDER, ports[2])));
            const onDown = clients.filter((_, i) => first[i] === "d");
            assert.ok(onDown.length > 20, `${onDown.length} of 200 clients on the member to stop`);
            await down.stop();
            // What the health checker's Unhealthy does to the plan: the member stays in the table, not eligible.
            await dp.apply(udpPlan(ports[2], { ...service, eligible: members.slice(0, 3).map((m) => m.key) }));
            const again = await Promise.all(clients.map((cl) => cl.ask(FORWARDER, ports[2])));
            assert.equal(again.filter((name) => name === "d").length, 0);
            // Clients of the members that stayed keep them.
            for (let i = 0; i < clients.length; i++) if (first[i] !== "d") assert.equal(again[i], first[i], `client ${clients[i].port}`);
          } finally {
            for (const cl of clients) cl.close();
          }
        } finally {
          await down.stop();
        }
      });

      it("drains the sessions of a removed member for the draining timeout, then moves them", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
        const [a, b] = servers;
        const both = udpService("dns", [member(a, 10), member(b, 10)], { drainingTimeoutMs: 600 });
        await dp.apply(udpPlan(ports[3], both));
        const clients = await Promise.all(Array.from({ length: 40 }, () => DnsClient.open("127.14.6.1")));
        try {
          const first = await Promise.all(clients.map((cl) => cl.ask(FORWARDER, ports[3])));
          assert.ok(first.includes("b") && first.includes("a"));
          await dp.apply(udpPlan(ports[3], udpService("dns", [member(a, 10)], { drainingTimeoutMs: 600 })));
          assert.deepEqual(await Promise.all(clients.map((cl) => cl.ask(FORWARDER, ports[3]))), first, "sessions keep their member while it drains");
          await waitFor(() => dp.stats().members.every((m) => !m.draining), 3000, "the draining timeout to end");
          const after = await Promise.all(clients.map((cl) => cl.ask(FORWARDER, ports[3])));
          assert.deepEqual(new Set(after), new Set(["a"]));
        } finally {
          for (const cl of clients) cl.close();
        }
      });

      it("runs a TCP and a UDP listener on the same port at once", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
        const [a, b] = servers;
        const tcp: ServicePlan = { ...udpService("dns-tcp", [member(b, 10)]), protocol: "TCP" };
        const failed = await dp.apply(udpPlan(ports[3], udpService("dns", [member(a, 10)]), { services: [tcp], listeners: [{ id: "dns-tcp", protocol: "TCP", port: ports[3], serviceId: "dns-tcp" }] }));
        assert.deepEqual([...failed], []);
        assert.equal(await dig(FORWARDER, ports[3]), "a");
        assert.equal(await dig(FORWARDER, ports[3], { tcp: true }), "b");
        const states = dp.stats().listeners.map((l) => `${l.id}:${l.state}`).sort();
        assert.deepEqual(states, ["dns-tcp:Listening", "dns:Listening"]);
      });

      it("evicts the oldest sessions when the session table is full, counts them, and keeps answering", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine, maxUdpSessions: 20 });
        const [a, b, c] = servers;
        await dp.apply(udpPlan(ports[0], udpService("dns", [member(a, 10), member(b, 10), member(c, 10)])));
        // All 60 clients open at once, so each has its own port (a closed client's port could be reused).
        const clients = await Promise.all(Array.from({ length: 60 }, () => DnsClient.open("127.14.3.1")));
        try {
          for (let i = 0; i < 60; i += 10) await Promise.all(clients.slice(i, i + 10).map((cl) => cl.ask(FORWARDER, ports[0])));
        } finally {
          for (const cl of clients) cl.close();
        }
        const listener = dp.stats().listeners.find((l) => l.id === "dns");
        assert.equal(listener?.udp?.evictions, 40);
        assert.equal(listener?.active, 20);
        assert.equal(listener?.state, "Listening");
        assert.ok((await dig(FORWARDER, ports[0])) !== undefined, "a new client is answered once the table is full");
        assert.equal(dp.stats().listeners.find((l) => l.id === "dns")?.udp?.evictions, 41);
      });

      it("answers every query of a burst of 600 new clients asking at once", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
        await dp.apply(udpPlan(ports[1], udpService("dns", servers.map((s) => member(s, 10)))));
        const clients = await Promise.all(Array.from({ length: 600 }, () => DnsClient.open("127.14.6.1")));
        try {
          // Sent in one go, faster than sessions open: they wait in the listener's receive buffer.
          const results = await Promise.allSettled(clients.map((cl) => cl.ask(FORWARDER, ports[1], 5000)));
          assert.equal(results.filter((r) => r.status === "rejected").length, 0, "queries unanswered");
          assert.equal(dp.stats().listeners[0].udp?.datagramsIn, 600);
          assert.equal(dp.stats().listeners[0].connections, 600);
        } finally {
          for (const cl of clients) cl.close();
        }
      });

      it("ends a session when its member's host answers with ICMP port-unreachable, counted as a failed connect; the next query opens a new one", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
        const [port, closedPort] = await freePorts(FORWARDER, 2);
        const closed: PlanMember = { key: memberKey({ address: "127.0.14.14", port: closedPort }), address: "127.0.14.14", port: closedPort, weight: 10 };
        await dp.apply(udpPlan(port, udpService("dns", [closed])));
        const client = await DnsClient.open("127.14.7.1");
        try {
          for (const sessions of [1, 2]) {
            await assert.rejects(client.ask(FORWARDER, port, 300), /no answer/);
            const stats = await waitFor(
              () => {
                const s = dp.stats();
                return s.listeners[0].connectFailures === sessions ? s : undefined;
              },
              3000,
              `session ${sessions} to end on the ICMP error`,
            );
            assert.equal(stats.listeners[0].connections, sessions);
            assert.equal(stats.listeners[0].active, 0);
            assert.equal(stats.members.find((m) => m.key === closed.key)?.connectFailures, sessions);
          }
        } finally {
          client.close();
        }
      });

      it("forgets a session idle for the service's udpSessionTimeoutMs", async () => {
        dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine, sweepIntervalMs: 50 });
        await dp.apply(udpPlan(ports[1], udpService("dns", [member(servers[0], 10)], { udpSessionTimeoutMs: 300 })));
        await askFromPorts("127.14.4.1", 5, ports[1]);
        assert.equal(dp.stats().listeners[0].active, 5);
        const started = Date.now();
        await waitFor(() => dp.stats().listeners[0].active === 0, 3000, "idle sessions to be forgotten");
        assert.ok(Date.now() - started >= 150, "sessions outlived most of their idle timeout");
      });
    });
  }
});
