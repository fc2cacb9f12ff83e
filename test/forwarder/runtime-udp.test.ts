/**
 * UDP end to end in one node: configuration -> planner -> UDP health checks -> data plane, with
 * an NSD server per member and DNS clients asking through the node all along. Health timings
 * are the model's minimums scaled by 0.1, as in runtime.test.ts.
 *
 * Addresses: forwarder 127.0.15.1, members 127.0.15.11-13, clients 127.15.0.1.
 */
import { strict as assert } from "node:assert";
import type { Registry } from "prom-client";
import type { ForwarderRuntime } from "../../provider/forwarder/runtime/runtime";
import { freePorts } from "../support/net";
import { skipUnlessPresent } from "../support/peers";
import { delay, waitFor } from "../support/wait";
import { ConfigBuilder } from "./helpers/config";
import { DnsClient, dnsToolsMissing, NsdServer } from "./helpers/dns";
import { metricValue, startRuntime } from "./helpers/runtime";

const FORWARDER = "127.0.15.1";
const MEMBERS = ["127.0.15.11", "127.0.15.12", "127.0.15.13"];

interface Query {
  readonly client: number;
  readonly sentAt: number;
  answer?: string;
}

describe("forwarder runtime: UDP service with real DNS members (health timings x0.1)", function () {
  this.timeout(40_000);
  let runtime: ForwarderRuntime;
  let registry: Registry;
  let servers: NsdServer[] = [];
  let clients: DnsClient[] = [];

  before(function () {
    skipUnlessPresent(this, dnsToolsMissing());
  });

  afterEach(async () => {
    for (const c of clients) c.close();
    clients = [];
    await runtime?.close();
    await Promise.all(servers.map((s) => s.stop()));
    servers = [];
  });

  it("stops sending to a stopped DNS server once its UDP check marks it Unhealthy: no query sent after that is lost", async () => {
    const [memberPort] = await freePorts(MEMBERS[0], 1);
    const [listenerPort] = await freePorts(FORWARDER, 1);
    servers = await Promise.all(MEMBERS.map((address, i) => NsdServer.start(`m${i}`, address, memberPort)));
    ({ runtime, registry } = startRuntime({ dataPlane: { listenAddress: FORWARDER }, health: { timeScale: 0.1 } }));
    const failed = await runtime.apply(
      new ConfigBuilder()
        .virtualGroup("g", { members: MEMBERS.map((address) => ({ address })) })
        // No healthCheck: a UDP service gets the UDP check (a closed port answers ICMP unreachable).
        .service("dns", { protocol: "UDP", port: memberPort, serverGroup: "g", algorithm: "QuintupleHash" })
        .listener("dns-udp", { protocol: "UDP", port: listenerPort, backendService: "dns" })
        .build(),
    );
    assert.deepEqual([...failed.listenerErrors], []);
    const memberHealth = (address: string): string | undefined =>
      runtime
        .status()
        .backendServices.find((s) => s.id === "dns")
        ?.members.find((m) => m.address === address)?.health;
    await waitFor(() => MEMBERS.every((a) => memberHealth(a) === "Healthy"), 10_000, "every member Healthy");

    clients = await Promise.all(Array.from({ length: 60 }, () => DnsClient.open("127.15.0.1")));
    const queries: Query[] = [];
    let asking = true;
    const loops = clients.map(async (client, index) => {
      while (asking) {
        const query: Query = { client: index, sentAt: Date.now() };
        queries.push(query);
        query.answer = await client.ask(FORWARDER, listenerPort, 1000).catch(() => undefined);
        await delay(40);
      }
    });
    await delay(500);
    const stopped = servers[2];
    await stopped.stop();
    const unhealthyAt = await waitFor(() => memberHealth(MEMBERS[2]) === "Unhealthy" && Date.now(), 10_000, "the stopped member to turn Unhealthy");
    await delay(1500);
    asking = false;
    await Promise.all(loops);

    const before = queries.filter((q) => q.sentAt < unhealthyAt);
    const after = queries.filter((q) => q.sentAt >= unhealthyAt);
    assert.ok(before.some((q) => q.answer === "m2"), "some clients were on the member that was stopped");
    assert.ok(after.length > 300, `${after.length} queries after the member was marked Unhealthy`);
    const lost = after.filter((q) => q.answer === undefined);
    assert.equal(lost.length, 0, `${lost.length} of ${after.length} queries sent after Unhealthy went unanswered`);
    assert.ok(after.every((q) => q.answer !== "m2"));

    // Status and metrics count the sessions and datagrams.
    const status = runtime.status();
    const listener = status.listeners.find((l) => l.id === "dns-udp");
    assert.equal(listener?.state, "Listening");
    assert.ok((listener?.udp?.datagramsIn ?? 0) >= queries.length - 1, "every query counted as a datagram in");
    const answered = queries.filter((q) => q.answer !== undefined).length;
    assert.ok((listener?.udp?.datagramsOut ?? 0) >= answered);
    const members = status.backendServices.find((s) => s.id === "dns")?.members ?? [];
    assert.ok(members.filter((m) => (m.udp?.datagramsOut ?? 0) > 0).length === 3, "every member answered some queries");
    assert.equal(await metricValue(registry, "dnlb_listener_udp_received_datagrams_total", { listener: "dns-udp" }), listener?.udp?.datagramsIn);
    assert.equal(await metricValue(registry, "dnlb_listener_udp_sessions_evicted_total", { listener: "dns-udp" }), 0);
    assert.equal(await metricValue(registry, "dnlb_listener_udp_sessions_active", { listener: "dns-udp" }), listener?.activeConnections);
  });
});
