/**
 * What a node leaving the ECMP set does to the established connections of the nodes that stay:
 * three nodes announce the VIP with the speaker configuration dnlb-forwarder writes, each
 * serving it with an echo server (a user-space proxy as far as the kernel is concerned: the
 * connection is a socket in that node only), behind the BIRD router of topology.ts. The first
 * next hop of the router's route withdraws; every connection the survivors carried is then
 * probed with one byte. Measured with the router's plain multipath route (hash-threshold) and
 * with a resilient next-hop group made by hand (BIRD 2 cannot program one). Needs root, `ip`
 * and BIRD 2; skipped otherwise, unless DNLB_REQUIRE_PEERS=1.
 */
import { strict as assert } from "node:assert";
import { execFileSync, spawnSync, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { skipUnlessPresent } from "../support/peers";
import { birdConfig, VIP_PROTOCOL } from "../../provider/forwarder/vip/bird-config";
import { CLIENT_SOURCES, commandOutput, NODE_ASN, nodeAddress, ROUTER_ASN, routerAddress, Topology, VIP, vipPrerequisiteMissing } from "./topology";

const NODES = 3;
const PORT = 8090;
const CONNECTIONS = 300;
/** A probe that gets no echo within this long counts as broken (a reset usually comes in < 1 ms). */
const PROBE_TIMEOUT_MS = 2000;

/** A node's server: greets each connection with the node's name, then echoes. */
const NODE_SERVER = `
const net = require("node:net");
const [name, host, port] = process.argv.slice(1);
net.createServer((s) => { s.on("error", () => {}); s.write(name + "\\n"); s.pipe(s); })
  .listen(Number(port), host, () => console.log("listening"));
`;

/**
 * The client, in its namespace: opens `count` connections to the VIP from the sources in turn
 * and prints `{ carriers }` (the node that greeted each one); on the line "probe" on stdin it
 * sends one byte on each and prints `{ broken }` (indices of those without the echo).
 */
const CLIENT = `
const net = require("node:net");
const readline = require("node:readline");
const [host, port, count, timeoutMs] = process.argv.slice(1, 5).map((v, i) => (i === 0 ? v : Number(v)));
const sources = JSON.parse(process.argv[5]);
const sockets = [];
const errors = [];
function open(i) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, localAddress: sources[i % sources.length] });
    let greeting = "";
    s.setEncoding("utf8");
    s.on("error", (e) => { errors[i] = e.code || e.message; reject(new Error("connection " + i + ": " + errors[i])); });
    s.on("data", function greet(chunk) {
      greeting += chunk;
      if (!greeting.includes("\\n")) return;
      s.off("data", greet);
      sockets[i] = s;
      resolve(greeting.trim());
    });
  });
}
function probe(s, i) {
  return new Promise((resolve) => {
    if (errors[i] !== undefined || s.destroyed) return resolve(false);
    const timer = setTimeout(() => resolve(false), timeoutMs);
    s.once("error", () => { clearTimeout(timer); resolve(false); });
    s.once("data", (chunk) => { clearTimeout(timer); resolve(chunk === "x"); });
    s.write("x");
  });
}
(async () => {
  const carriers = [];
  for (let i = 0; i < count; i += 20) carriers.push(...(await Promise.all(Array.from({ length: Math.min(20, count - i) }, (_, j) => open(i + j)))));
  console.log(JSON.stringify({ carriers }));
  readline.createInterface({ input: process.stdin }).once("line", async () => {
    const alive = await Promise.all(sockets.map(probe));
    console.log(JSON.stringify({ broken: alive.flatMap((ok, i) => (ok ? [] : [i])) }));
    for (const s of sockets) s.destroy();
  });
})().catch((e) => { console.log(JSON.stringify({ error: e.message })); process.exit(1); });
`;

function missingPrerequisite(): string | undefined {
  const missing = vipPrerequisiteMissing();
  if (missing !== undefined) return missing;
  // `ip nexthop help` prints its usage on stderr and exits 255.
  const usage = spawnSync("ip", ["nexthop", "help"], { encoding: "utf8" }).stderr;
  if (!usage.includes("resilient")) return "the test needs `ip nexthop ... type resilient` (iproute2 >= 5.15)";
  return undefined;
}

/** Resolves with the next line `child` prints on stdout (bounded by `timeoutMs`). */
function nextLine(child: ChildProcess, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let pending = "";
    const timer = setTimeout(() => done(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
    const onData = (chunk: string) => {
      pending += chunk;
      const end = pending.indexOf("\n");
      if (end >= 0) done(undefined, pending.slice(0, end));
    };
    const onExit = (code: number | null) => done(new Error(`exited (${code}) before answering`));
    function done(error?: Error, line?: string): void {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve(line as string);
    }
    child.stdout?.setEncoding("utf8").on("data", onData);
    child.once("exit", onExit);
  });
}

/** Polls `probe` every 20 ms, bounded by `timeoutMs`. */
async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const since = Date.now();
  while (!(await probe())) {
    if (Date.now() - since > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const everyNode = Array.from({ length: NODES }, (_, i) => nodeAddress(i + 1));

interface Disruption {
  /** Connections per carrying node before the leave. */
  readonly perNode: Map<string, number>;
  readonly leaving: string;
  readonly survivorConnections: number;
  readonly survivorsBroken: number;
}

describe("established connections when a node leaves the ECMP set (BGP, network namespaces)", function () {
  this.timeout(60_000);
  const why = missingPrerequisite();
  let topology: Topology;
  let stateRoot: string;
  let routerSocket: string;

  before(async function () {
    skipUnlessPresent(this, why);
    stateRoot = await fs.mkdtemp(path.join(os.tmpdir(), "dnlb-ecmp-"));
    topology = new Topology(NODES);
    topology.build();
    routerSocket = await topology.startRouter(stateRoot, []);
    for (let k = 1; k <= NODES; k++) {
      const ns = topology.nodes[k - 1];
      execFileSync("ip", ["-n", ns, "addr", "add", `${VIP}/32`, "dev", "lo"]);
      const server = topology.spawn(ns, [process.execPath, "-e", NODE_SERVER, nodeAddress(k), VIP, String(PORT)]);
      assert.equal(await nextLine(server, 10_000), "listening", `node ${k}'s server`);
      const conf = path.join(stateRoot, `node${k}.conf`);
      const bgp = { localAsn: NODE_ASN, routerId: nodeAddress(k), peers: [{ address: routerAddress(k), asn: ROUTER_ASN, holdTimeSeconds: 3, bfd: false }] };
      await fs.writeFile(conf, birdConfig(VIP, bgp, true));
      topology.spawn(ns, ["setpriv", "--pdeathsig", "KILL", "bird", "-f", "-c", conf, "-s", nodeSocket(k)]);
    }
  });

  after(async () => {
    topology?.destroy();
    if (stateRoot !== undefined) await fs.rm(stateRoot, { recursive: true, force: true });
  });

  const nodeSocket = (k: number) => path.join(stateRoot, `node${k}.ctl`);

  function birdc(socket: string, command: string): Promise<string> {
    return commandOutput(["birdc", "-s", socket, ...command.split(" ")]);
  }

  async function allNodesRouted(): Promise<void> {
    await waitFor("every node an ECMP next hop of the router", 20_000, async () => (await topology.vipNextHops()).join() === everyNode.join());
  }

  /**
   * Opens the connections, lets `leave` take the first next hop of the router's route out (it
   * resolves once the router forwards without it), then probes every connection.
   */
  async function measure(leave: (leaving: string) => Promise<void>): Promise<Disruption> {
    const client = topology.spawn(topology.client, [process.execPath, "-e", CLIENT, VIP, String(PORT), String(CONNECTIONS), String(PROBE_TIMEOUT_MS), JSON.stringify(CLIENT_SOURCES)]);
    try {
      const opened = JSON.parse(await nextLine(client, 20_000)) as { carriers?: string[]; error?: string };
      assert.ok(opened.carriers !== undefined, `opening ${CONNECTIONS} connections: ${opened.error}`);
      const carriers = opened.carriers;
      const perNode = new Map(everyNode.map((a) => [a, carriers.filter((c) => c === a).length]));
      for (const [node, count] of perNode) assert.ok(count > CONNECTIONS / NODES / 2, `node ${node} carried ${count} of ${CONNECTIONS}: the test needs every node to carry a share`);
      // In the kernel's order: hash-threshold gives each next hop a slice of the hash space in turn.
      const routes = await commandOutput(["ip", "-n", topology.router, "route", "show", `${VIP}/32`]);
      const leaving = /via (\S+)/.exec(routes)?.[1];
      assert.ok(leaving !== undefined, `the router has a route to the VIP: ${routes}`);
      await leave(leaving);
      const answered = nextLine(client, PROBE_TIMEOUT_MS + 10_000);
      client.stdin?.write("probe\n");
      const { broken } = JSON.parse(await answered) as { broken: number[] };
      const survivors = carriers.flatMap((c, i) => (c === leaving ? [] : [i]));
      const brokenSet = new Set(broken);
      return { perNode, leaving, survivorConnections: survivors.length, survivorsBroken: survivors.filter((i) => brokenSet.has(i)).length };
    } finally {
      if (client.exitCode === null) client.kill("SIGKILL");
    }
  }

  function report(how: string, d: Disruption): void {
    const spread = [...d.perNode].map(([node, count]) => `${node}: ${count}`).join(", ");
    console.log(`      ${how}: ${spread}; ${d.leaving} withdrawn; ${d.survivorsBroken} of ${d.survivorConnections} connections on the surviving nodes broke`);
  }

  it("plain ECMP (BIRD's multipath route, hash-threshold): some of the surviving nodes' connections are reset", async () => {
    await allNodesRouted();
    const leavingNode = (address: string) => everyNode.indexOf(address) + 1;
    const d = await measure(async (leaving) => {
      await birdc(nodeSocket(leavingNode(leaving)), `disable ${VIP_PROTOCOL}`);
      await waitFor("the router's route without the leaving node", 5000, async () => !(await topology.vipNextHops()).includes(leaving));
    });
    report("plain ECMP", d);
    // The first of three next hops leaving: hash-threshold gives each survivor a half instead of
    // a third of the hash space, so a quarter of the survivors' flows land on the other survivor.
    assert.ok(d.survivorsBroken > d.survivorConnections / 8, `${d.survivorsBroken} of ${d.survivorConnections} broke; hash-threshold moves about a quarter`);
    await birdc(nodeSocket(leavingNode(d.leaving)), `enable ${VIP_PROTOCOL}`);
  });

  it("a resilient next-hop group (made by hand on the router): no connection of a surviving node breaks", async () => {
    await allNodesRouted();
    // BIRD would overwrite the route (it cannot program next-hop groups): stop its kernel export,
    // which removes its route, and install the group in its place.
    const kernel = /^(kernel\d+)\s/m.exec(await birdc(routerSocket, "show protocols"));
    assert.ok(kernel !== null, "the router's BIRD has a kernel protocol");
    await birdc(routerSocket, `disable ${kernel[1]}`);
    await waitFor("BIRD's route removed from the router's kernel", 5000, async () => (await topology.vipNextHops()).length === 0);
    const inRouter = (args: string[]) => execFileSync("ip", ["-n", topology.router, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    everyNode.forEach((address, i) => inRouter(["nexthop", "add", "id", String(i + 1), "via", address, "dev", `r${i + 1}`]));
    inRouter(["nexthop", "add", "id", "10", "group", everyNode.map((_, i) => i + 1).join("/"), "type", "resilient", "buckets", "64", "idle_timer", "0"]);
    inRouter(["route", "replace", `${VIP}/32`, "nhid", "10"]);
    await allNodesRouted();
    const d = await measure(async (leaving) => {
      // What a router with resilient hashing does on the withdrawal: drop that next hop from the
      // group, whose buckets alone move to the others.
      inRouter(["nexthop", "del", "id", String(everyNode.indexOf(leaving) + 1)]);
      await waitFor("the group without the leaving node", 5000, async () => !(await topology.vipNextHops()).includes(leaving));
    });
    report("resilient group", d);
    assert.equal(d.survivorsBroken, 0, `${d.survivorsBroken} of ${d.survivorConnections} connections on the surviving nodes broke`);
  });
});
