/**
 * One VIP served by three real dnlb-forwarder nodes (from dist), each with its BIRD announcing
 * the VIP to one BIRD router with ECMP and the L4 multipath hash, real backends behind them and
 * clients on the router's other side, in network namespaces. Node 3 peers twice with the router,
 * with different BGP settings per session. Needs root, `ip`, `iptables` and BIRD 2 (Debian
 * bird2); skipped otherwise, unless DNLB_REQUIRE_PEERS=1.
 */
import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { skipUnlessPresent } from "../support/peers";
import { makeCertificateAuthority } from "../../provider/resources/admin-certificates";
import { parseProtocols } from "../../provider/forwarder/vip/birdc-output";
import { Agent } from "./agent";
import type { ConnectResult } from "./client-agent";
import { Forwarders, TOKEN, type ForwarderNode } from "./forwarders";
import { countBy, format, sameHops, timeUntil } from "./measure";
import {
  CLIENT_SOURCES,
  commandOutput,
  MEMBER_PORT,
  MEMBERS,
  nodeAddress,
  ROUTER_ASN,
  routerAddress,
  SECOND_SESSION_HOLD_SECONDS,
  secondRouterAddress,
  Topology,
  vipPrerequisiteMissing,
} from "./topology";

const LISTENER_PORT = 8080;
const NODES = 3;
const CONNECTIONS = 1000;
/** Node 3 peers with the router twice: BFD with the default hold time on one session, no BFD and a longer hold on the other. */
const TWO_PEER_NODE = 3;
const SECOND_PEER_HOLD_SECONDS = 6;
/** Node 1 is killed. */
const KILLED_NODE = 1;

const everyNode = Array.from({ length: NODES }, (_, i) => i + 1);

describe("one VIP served by three nodes behind one router (BGP, ECMP, network namespaces)", function () {
  this.timeout(120_000);
  const why = vipPrerequisiteMissing();
  let topology: Topology;
  let stateRoot: string;
  let routerSocket: string;
  let agent: Agent;
  let forwarders: Forwarders;
  const nodes = new Map<number, ForwarderNode>();
  /** Each client address's member, as the first test saw it on every node. */
  const memberOf = new Map<string, string>();

  before(async function () {
    skipUnlessPresent(this, why);
    stateRoot = await fs.mkdtemp(path.join(os.tmpdir(), "dnlb-vip3-"));
    topology = new Topology(NODES);
    topology.build();
    routerSocket = await topology.startRouter(stateRoot, [TWO_PEER_NODE], [TWO_PEER_NODE]);
    await topology.startBackend();
    const ca = makeCertificateAuthority();
    agent = await Agent.start(topology, stateRoot, ca, TOKEN, LISTENER_PORT);
    forwarders = new Forwarders(topology, stateRoot, ca, agent);
    const since = Date.now();
    for (const k of everyNode) {
      const peers =
        k === TWO_PEER_NODE
          ? [`${routerAddress(k)}:${ROUTER_ASN},bfd=on`, `${secondRouterAddress(k)}:${ROUTER_ASN},hold=${SECOND_PEER_HOLD_SECONDS}`]
          : [`${routerAddress(k)}:${ROUTER_ASN}`];
      // The data plane in the node's own process: three nodes, four BIRDs and the clients share two cores.
      nodes.set(k, await forwarders.start(k, [...peers.flatMap((p) => ["--bgp-peer", p]), "--workers", "0"]));
      await forwarders.configure(k, [
        ["/v1/server-groups/g", { type: "virtual", name: "g", members: MEMBERS.map((m) => ({ address: m.address, port: MEMBER_PORT })) }],
        ["/v1/backend-services/web", { name: "web", port: MEMBER_PORT, serverGroup: "g", algorithm: "IpHash" }],
        ["/v1/listeners/web-l", { name: "web-l", port: LISTENER_PORT, backendService: "web" }],
      ]);
    }
    await forwarders.waitForEligibleMembers(everyNode, MEMBERS.length);
    const ms = await timeUntil("every node in the router's table", 20_000, async () => sameHops(await topology.vipNextHops(), everyNode.map(nodeAddress)));
    console.log(`      three nodes started, configured and installed as ECMP next hops in ${Date.now() - since} ms (the last ${ms} ms waiting for routes and members)`);
  });

  after(async () => {
    if (topology !== undefined) {
      topology.destroy();
      assert.deepEqual(topology.remainingNamespaces(), [], "every namespace of the test is gone");
    }
    if (stateRoot !== undefined) await fs.rm(stateRoot, { recursive: true, force: true });
  });

  function routerProtocols(): Promise<Map<string, string>> {
    return commandOutput(["birdc", "-s", routerSocket, "show", "protocols"]).then(parseProtocols);
  }

  /** The hold time the router's session `protocol` runs with (the smaller of both sides'), from `Hold timer: left/total`. */
  async function negotiatedHold(protocol: string): Promise<number> {
    const out = await commandOutput(["birdc", "-s", routerSocket, "show", "protocols", "all", protocol]);
    const match = /Hold timer:\s+[\d.]+\/(\d+)/.exec(out);
    assert.ok(match !== null, `no hold timer for ${protocol}: ${out}`);
    return Number(match[1]);
  }

  /** Fails unless every connection succeeded; returns connections per carrying node. */
  function carried(results: readonly ConnectResult[]): Map<string, number> {
    const failed = results.filter((r) => r.error !== undefined);
    assert.equal(failed.length, 0, `${failed.length} of ${results.length} connections failed: ${JSON.stringify(failed.slice(0, 5))}`);
    return countBy(results, (r) => r.via);
  }

  it("spreads 1,000 new connections over the three nodes, and every node sends a client address to the same member (IpHash, one seed)", async () => {
    const before = await Promise.all(everyNode.map((k) => forwarders.listenerConnections(k, "web-l")));
    const results = await agent.connect(CONNECTIONS, { concurrency: 20 });
    const perNode = carried(results);
    const paths = countBy(results, (r) => `${r.via} -> ${r.member}`);
    const reported = (await Promise.all(everyNode.map((k) => forwarders.listenerConnections(k, "web-l")))).map((n, i) => n - before[i]);
    console.log(`      ${CONNECTIONS} connections, per node: ${format(perNode)}; per node and member: ${format(paths)}; counted by each node's listener: ${reported.join(", ")}`);
    const even = CONNECTIONS / NODES;
    for (const k of everyNode) {
      const share = perNode.get(nodeAddress(k)) ?? 0;
      assert.ok(Math.abs(share - even) <= even * 0.15, `node ${k} carried ${share} of ${CONNECTIONS} (even share ${even.toFixed(0)} +- 15%)`);
    }
    // With --workers 0 a node counts a connection as it accepts it.
    assert.deepEqual(reported, everyNode.map((k) => perNode.get(nodeAddress(k)) ?? 0), "each node's listener counted the connections the backend saw from it");
    for (const source of CLIENT_SOURCES) {
      const mine = results.filter((r) => r.source === source);
      const members = new Set(mine.map((r) => r.member));
      const vias = new Set(mine.map((r) => r.via));
      assert.equal(members.size, 1, `client ${source} reached ${[...members].join(" and ")} (${format(countBy(mine, (r) => `${r.via} -> ${r.member}`))}): every node must pick one member for it`);
      assert.equal(vias.size, NODES, `client ${source}'s ${mine.length} connections were carried by ${[...vias].join(", ")}: the test needs every node to carry some of each client`);
      memberOf.set(source, mine[0].member as string);
    }
    assert.equal(new Set(memberOf.values()).size, MEMBERS.length, "the client addresses spread over both members");
  });

  it("kill -9 of one node: its route is gone within 1 s, and new connections all succeed over the two survivors, each client to its member as before", async () => {
    assert.equal(memberOf.size, CLIENT_SOURCES.length, "the first test recorded each client's member");
    const killed = nodes.get(KILLED_NODE) as ForwarderNode;
    const survivors = everyNode.filter((k) => k !== KILLED_NODE).map(nodeAddress);
    const since = Date.now();
    killed.process.kill("SIGKILL");
    const goneMs = await timeUntil(`node ${KILLED_NODE}'s route withdrawn`, 5000, async () => sameHops(await topology.vipNextHops(), survivors), since);
    await killed.exit;
    const results = await agent.connect(600, { concurrency: 20 });
    const perNode = carried(results);
    const moved = results.filter((r) => r.member !== memberOf.get(r.source));
    console.log(`      kill -9 of node ${KILLED_NODE}: route gone after ${goneMs} ms (goal <= 1000); 600 new connections: ${format(perNode)}, ${moved.length} to another member than before`);
    assert.ok(goneMs <= 1000, `the route went after ${goneMs} ms`);
    assert.deepEqual([...perNode.keys()].sort(), survivors, "both survivors, and only they, carried the new connections");
    assert.equal(moved.length, 0, `clients moved to another member: ${JSON.stringify(moved.slice(0, 5))}`);
  });

  it("each BGP session has its own settings: BFD and hold 3 s with one router address, no BFD and hold 6 s with the other; a silent peer is dropped after 0.3 s or after the hold time", async () => {
    const k = TWO_PEER_NODE;
    const [bfdPeer, holdPeer] = [routerAddress(k), secondRouterAddress(k)];
    await forwarders.waitForSessionsEstablished(k, 10_000);
    assert.deepEqual((await forwarders.status(k)).vip.peers, [
      { address: bfdPeer, asn: ROUTER_ASN, holdTimeSeconds: 3, bfd: true, state: "Established" },
      { address: holdPeer, asn: ROUTER_ASN, holdTimeSeconds: SECOND_PEER_HOLD_SECONDS, bfd: false, state: "Established" },
    ]);
    // The node's BIRD runs BFD with the first router address only.
    const bfdSessions = await commandOutput(["birdc", "-s", (nodes.get(k) as ForwarderNode).birdSocket, "show", "bfd", "sessions"]);
    assert.match(bfdSessions, new RegExp(`${bfdPeer.replace(/\./g, "\\.")}\\s+\\S+\\s+Up`), bfdSessions);
    assert.ok(!bfdSessions.includes(holdPeer), `no BFD session with ${holdPeer}:\n${bfdSessions}`);
    // The second session runs the node's 6 s, shorter than the router's 9 s; the first the node's default 3 s.
    assert.equal(await negotiatedHold(`node${k}`), 3);
    assert.equal(await negotiatedHold(`node${k}b`), SECOND_PEER_HOLD_SECONDS);

    const bfdSince = Date.now();
    topology.silenceTowards(k, bfdPeer);
    const bfdMs = await timeUntil(`the router's BFD session node${k} down`, 5000, async () => (await routerProtocols()).get(`node${k}`) !== "Established", bfdSince);
    const other = (await routerProtocols()).get(`node${k}b`);
    const stillRouted = (await topology.vipNextHops()).includes(nodeAddress(k));
    const holdSince = Date.now();
    topology.silenceTowards(k, holdPeer);
    const holdMs = await timeUntil(`the router's session node${k}b down`, SECOND_PEER_HOLD_SECONDS * 1000 + 3000, async () => (await routerProtocols()).get(`node${k}b`) !== "Established", holdSince);
    const goneMs = await timeUntil(`node ${k} out of the router's table`, 2000, async () => !(await topology.vipNextHops()).includes(nodeAddress(k)), holdSince);
    console.log(`      node ${k} silent towards one router address: that session (BFD 100 ms x 3) dropped after ${bfdMs} ms (goal <= 1000), the other stayed ${other}; towards the other (hold ${SECOND_PEER_HOLD_SECONDS} s, no BFD): dropped after ${holdMs} ms, the VIP's route to node ${k} gone after ${goneMs} ms`);
    assert.ok(bfdMs <= 1000, `BFD session: ${bfdMs} ms`);
    assert.equal(other, "Established", "the session without BFD outlived the BFD one");
    assert.ok(stillRouted, `node ${k} stayed in the router's table over its other session`);
    // The node sends keepalives every third of its hold time (2 s), so the router's 6 s hold timer
    // expires 4 to 6 s after the silence.
    assert.ok(holdMs >= (SECOND_PEER_HOLD_SECONDS - 2.5) * 1000 && holdMs <= SECOND_PEER_HOLD_SECONDS * 1000 + 1000, `hold ${SECOND_PEER_HOLD_SECONDS} s session: ${holdMs} ms`);
  });
});
