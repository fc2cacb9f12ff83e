/**
 * The router side written out in examples/vip-bgp/router/frr.conf, run as it is (only the nodes'
 * addresses replaced) by FRR's zebra, bfdd and bgpd in the router namespace, in front of two real
 * nodes that peer with BFD as the example's README asks. Needs what the other VIP tests need, and
 * FRR (Debian frr); skipped otherwise, unless DNLB_REQUIRE_PEERS=1.
 */
import { strict as assert } from "node:assert";
import { existsSync, promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { makeCertificateAuthority } from "../../provider/resources/admin-certificates";
import { skipUnlessPresent } from "../support/peers";
import { Agent } from "./agent";
import type { ConnectResult } from "./client-agent";
import { Forwarders, TOKEN, type ForwarderNode } from "./forwarders";
import { countBy, format, sameHops, timeUntil } from "./measure";
import { commandOutput, MEMBER_PORT, MEMBERS, NODE_ASN, nodeAddress, ROUTER_ASN, routerAddress, Topology, vipPrerequisiteMissing } from "./topology";

const EXAMPLE = path.resolve(__dirname, "../../../examples/vip-bgp/router/frr.conf");
/** The nodes' addresses in the example, and where they are in this topology. */
const EXAMPLE_NODES = ["10.0.0.11", "10.0.0.12"];
const LISTENER_PORT = 8080;
const everyNode = [1, 2];

function frrMissing(): string | undefined {
  return existsSync("/usr/lib/frr/bgpd") && existsSync("/usr/lib/frr/bfdd") ? undefined : "the FRR router test needs FRR (apt-get install frr)";
}

describe("the example's FRR router config in front of two nodes (bgpd, bfdd, ECMP, network namespaces)", function () {
  this.timeout(120_000);
  const why = vipPrerequisiteMissing() ?? frrMissing();
  let topology: Topology;
  let stateRoot: string;
  let vty: string;
  let agent: Agent;
  let forwarders: Forwarders;
  const nodes = new Map<number, ForwarderNode>();

  before(async function () {
    skipUnlessPresent(this, why);
    stateRoot = await fs.mkdtemp(path.join(os.tmpdir(), "dnlb-vipfrr-"));
    topology = new Topology(everyNode.length);
    topology.build();
    const example = await fs.readFile(EXAMPLE, "utf8");
    // The example's ASNs are the topology's; only the nodes' addresses differ.
    assert.match(example, new RegExp(`router bgp ${ROUTER_ASN}\\n`));
    assert.match(example, new RegExp(`remote-as ${NODE_ASN}\\n`));
    let config = example;
    EXAMPLE_NODES.forEach((address, i) => {
      assert.ok(config.includes(`neighbor ${address} `), `the example peers with ${address}`);
      config = config.replaceAll(address, nodeAddress(i + 1));
    });
    vty = await topology.startFrrRouter(stateRoot, config);
    await topology.startBackend();
    const ca = makeCertificateAuthority();
    agent = await Agent.start(topology, stateRoot, ca, TOKEN, LISTENER_PORT);
    forwarders = new Forwarders(topology, stateRoot, ca, agent);
    for (const k of everyNode) {
      nodes.set(k, await forwarders.start(k, ["--bgp-peer", `${routerAddress(k)}:${ROUTER_ASN},bfd=on`, "--workers", "0"]));
      await forwarders.configure(k, [
        ["/v1/server-groups/g", { type: "virtual", name: "g", members: MEMBERS.map((m) => ({ address: m.address, port: MEMBER_PORT })) }],
        ["/v1/backend-services/web", { name: "web", port: MEMBER_PORT, serverGroup: "g", algorithm: "IpHash" }],
        ["/v1/listeners/web-l", { name: "web-l", port: LISTENER_PORT, backendService: "web" }],
      ]);
    }
    await forwarders.waitForEligibleMembers(everyNode, MEMBERS.length);
  });

  after(async () => {
    if (topology !== undefined) {
      topology.destroy();
      assert.deepEqual(topology.remainingNamespaces(), [], "every namespace of the test is gone");
    }
    if (stateRoot !== undefined) await fs.rm(stateRoot, { recursive: true, force: true });
  });

  function vtysh(command: string): Promise<string> {
    return commandOutput(["vtysh", "--vty_socket", vty, "-c", command]);
  }

  /** How many times FRR dropped each node's session, and why it last did. */
  async function sessionDrops(): Promise<{ counts: Map<string, number>; why: string }> {
    const neighbors = JSON.parse(await vtysh("show bgp neighbors json")) as Record<string, { connectionsDropped?: number; lastResetDueTo?: string }>;
    const entries = everyNode.map((k) => [nodeAddress(k), neighbors[nodeAddress(k)] ?? {}] as const);
    return {
      counts: new Map(entries.map(([address, n]) => [address, n.connectionsDropped ?? 0])),
      why: entries.map(([address, n]) => `${address}: ${n.lastResetDueTo ?? "never"}`).join(", "),
    };
  }

  function carried(results: readonly ConnectResult[]): Map<string, number> {
    const failed = results.filter((r) => r.error !== undefined);
    assert.equal(failed.length, 0, `failed connections: ${JSON.stringify(failed.slice(0, 5))}`);
    return countBy(results, (r) => r.via);
  }

  it("installs both nodes as ECMP next hops (maximum-paths) with BFD up on both sessions, and spreads connections over both", async () => {
    const bothInstalled = async () => sameHops(await topology.vipNextHops(), everyNode.map(nodeAddress));
    const ms = await timeUntil("both nodes in the router's table", 30_000, bothInstalled);
    // FRR 8.4 opens each BFD session before BGP is up, and re-creates it bound to the link once
    // BGP is up; that drops the first BGP session once (examples/vip-bgp/README.md). The bound
    // sessions being up is the steady state.
    const bfd = await timeUntil("both link-bound BFD sessions up", 10_000, async () => {
      const sessions = JSON.parse(await vtysh("show bfd peers json")) as { peer: string; interface?: string; status: string }[];
      return everyNode.every((k) => sessions.some((b) => b.peer === nodeAddress(k) && b.interface !== undefined && b.status === "up"));
    });
    await timeUntil("both nodes in the router's table again", 10_000, bothInstalled);
    const before = await sessionDrops();
    const perNode = carried(await agent.connect(400, { concurrency: 20 }));
    const after = await sessionDrops();
    console.log(
      `      FRR installed both next hops ${ms} ms after the members were eligible, BFD up ${bfd} ms later; 400 connections: ${format(perNode)}; ` +
        `sessions dropped at the start: ${format(before.counts)} (${before.why})`,
    );
    for (const k of everyNode) assert.ok((perNode.get(nodeAddress(k)) ?? 0) >= 100, `node ${k} carried ${perNode.get(nodeAddress(k)) ?? 0} of 400`);
    // At most the one drop above per node, and none while serving.
    for (const [address, count] of before.counts) assert.ok(count <= 1, `${address}'s session dropped ${count} times at the start: ${before.why}`);
    assert.deepEqual(after.counts, before.counts, `a session dropped during the connections: ${after.why}`);
    for (const k of everyNode) {
      await forwarders.waitForSessionsEstablished(k, 2000);
      const s = await forwarders.status(k);
      assert.equal(s.vip.announced, true, s.vip.reason);
      assert.deepEqual(s.vip.peers.map((p) => [p.state, p.bfd]), [["Established", true]]);
    }
  });

  it("drops a killed node's route within 1 s, and every new connection goes to the other", async () => {
    const killed = nodes.get(1);
    assert.ok(killed !== undefined);
    const since = Date.now();
    killed.process.kill("SIGKILL");
    const ms = await timeUntil("node 1's route gone", 5000, async () => sameHops(await topology.vipNextHops(), [nodeAddress(2)]), since);
    const perNode = carried(await agent.connect(200, { concurrency: 20 }));
    console.log(`      kill -9 of node 1: FRR dropped its route after ${ms} ms (goal <= 1000); 200 new connections: ${format(perNode)}`);
    assert.ok(ms <= 1000, `route gone after ${ms} ms`);
    assert.deepEqual([...perNode.keys()], [nodeAddress(2)]);
  });

  it("drops a node that goes silent within 1 s through the example's BFD profile (its hold time is 3 s)", async () => {
    const since = Date.now();
    topology.silence(2);
    const ms = await timeUntil("node 2's route gone", 6000, async () => (await topology.vipNextHops()).length === 0, since);
    console.log(`      node 2 silent: FRR dropped its route after ${ms} ms (goal <= 1000 with BFD 100 ms x 3)`);
    assert.ok(ms <= 1000, `route gone after ${ms} ms`);
  });
});
