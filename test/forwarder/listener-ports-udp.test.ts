/**
 * A UDP listener's port is the node's alone, as a TCP one is (listener-ports.test.ts): a UDP port
 * another process holds, even with SO_REUSEPORT, is refused (409 port_in_use), and no other
 * process can join a UDP port the node listens on, with the data plane in the main process or in
 * workers. With workers, one of them reads the port (workers/udp-owners.ts), so one client's
 * datagrams reach one session: its member hears it from one source port.
 *
 * Addresses: forwarder 127.0.19.5, members 127.0.19.6-8, clients 127.0.19.9.
 */
import { strict as assert } from "node:assert";
import type { DataPlaneEngine } from "../../provider/forwarder/dataplane/dataplane";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import { freePort } from "../support/net";
import { OtherProcess } from "../support/other-process";
import { waitFor } from "../support/wait";
import { call, startNode, type TestNode } from "./admin-fixture";
import { UdpClient, UdpMember } from "./helpers/udp-peers";

const FORWARDER = "127.0.19.5";
const MEMBER_HOSTS = ["127.0.19.6", "127.0.19.7", "127.0.19.8"];
const CLIENT = "127.0.19.9";

/**
 * Another program on the same host: binds UDP `port` with SO_REUSEPORT, answering every datagram
 * "intruder". It prints "bound", or the error's code when it cannot bind.
 */
const REUSE_PORT_PROGRAM = `
const dgram = require("node:dgram");
const socket = dgram.createSocket({ type: "udp4", reusePort: true });
socket.on("message", (message, remote) => socket.send("intruder", remote.port, remote.address));
socket.on("error", (error) => { process.stdout.write(error.code + "\\n"); process.exit(0); });
socket.bind({ address: process.argv[1], port: Number(process.argv[2]) }, () => process.stdout.write("bound\\n"));
`;

function tally(answers: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const a of answers) counts.set(a, (counts.get(a) ?? 0) + 1);
  return counts;
}

const ENGINES: DataPlaneEngine[] = nativeRelayUnavailable() === undefined ? ["native", "streams"] : ["streams"];
const SETUPS: { workers: number; engine?: DataPlaneEngine }[] = [{ workers: 0 }, ...ENGINES.map((engine) => ({ workers: 2, engine }))];

for (const { workers, engine } of SETUPS) {
  describe(`a UDP listener's port is the node's alone (${workers} workers${engine === undefined ? "" : `, engine ${engine}`})`, function () {
    this.timeout(60_000);
    let members: UdpMember[];
    let t: TestNode | undefined;
    let other: OtherProcess | undefined;
    let client: UdpClient | undefined;

    before(async () => {
      members = await Promise.all(MEMBER_HOSTS.map((host, i) => UdpMember.start(host, `member-${i + 1}`)));
    });

    afterEach(async () => {
      client?.close();
      client = undefined;
      await other?.stop();
      other = undefined;
      await t?.node.close({ graceMs: 0 });
      t = undefined;
    });

    after(() => {
      for (const m of members) m.close();
    });

    /** A UDP service over the first `memberCount` members, hashing by client address. */
    async function nodeWithService(memberCount: number): Promise<TestNode> {
      const node = await startNode({ label: "udp-ports", dataPlane: { listenAddress: FORWARDER, workers, ...(engine === undefined ? {} : { engine }) } });
      const group = { type: "virtual", name: "g", members: members.slice(0, memberCount).map((m) => ({ address: m.host, port: m.port })) };
      assert.equal((await call(node.url, "PUT", "/v1/server-groups/g", { body: group })).status, 201);
      const service = { name: "dns", protocol: "UDP", port: 53, serverGroup: "g", algorithm: "IpHash" };
      assert.equal((await call(node.url, "PUT", "/v1/backend-services/dns", { body: service })).status, 201);
      return node;
    }

    function putListener(node: TestNode, port: number): ReturnType<typeof call> {
      return call(node.url, "PUT", "/v1/listeners/l", { body: { name: "l", protocol: "UDP", port, backendService: "dns" } });
    }

    it("answers 409 port_in_use for a UDP port another process holds with SO_REUSEPORT", async () => {
      const port = await freePort(FORWARDER);
      other = await OtherProcess.start(REUSE_PORT_PROGRAM, FORWARDER, port);
      assert.equal(other.outcome, "bound");
      t = await nodeWithService(1);
      const reply = await putListener(t, port);
      console.log(`      UDP listener PUT on a port held with SO_REUSEPORT: ${reply.status} ${String(reply.json?.error?.code)}`);
      assert.equal(reply.status, 409);
      assert.equal(reply.json.error.code, "port_in_use");
      assert.match(reply.json.error.message, new RegExp(`127\\.0\\.19\\.5:${port}: port ${port} on 127\\.0\\.19\\.5 is in use`));
    });

    it("lets no other process join its UDP port with SO_REUSEPORT: all of 20 datagrams are answered by the node's member", async () => {
      t = await nodeWithService(1);
      const port = await freePort(FORWARDER);
      assert.equal((await putListener(t, port)).status, 201);
      other = await OtherProcess.start(REUSE_PORT_PROGRAM, FORWARDER, port);
      client = await UdpClient.open(CLIENT);
      const answers = await client.askMany(FORWARDER, port, 20);
      console.log(`      another process binding the node's UDP port with SO_REUSEPORT: ${other.outcome}; answers: ${JSON.stringify(Object.fromEntries(tally(answers)))}`);
      assert.equal(other.outcome, "EADDRINUSE");
      assert.deepEqual(tally(answers), new Map([["member-1", 20]]));
    });

    it("answers all of 20 datagrams of one client from one member, which hears them from one source port, with IpHash over 3 Healthy members", async () => {
      t = await nodeWithService(3);
      const port = await freePort(FORWARDER);
      assert.equal((await putListener(t, port)).status, 201);
      // While members turn Healthy the table changes, and two workers opening the client's
      // sessions on either side of a change would send it to two members.
      const url = t.url;
      const healthy = async (): Promise<boolean> => {
        const status = await call(url, "GET", "/v1/status");
        const service = (status.json.backendServices as { id: string; members: { health: string }[] }[]).find((s) => s.id === "dns");
        return service?.members.length === 3 && service.members.every((m) => m.health === "Healthy");
      };
      await waitFor(healthy, 30_000, "the 3 members to be Healthy");
      for (const m of members) m.sourcePorts.clear();
      client = await UdpClient.open(CLIENT);
      const answers = await client.askMany(FORWARDER, port, 20);
      const sessions = members.map((m) => m.sourcePorts.size);
      console.log(`      answers: ${JSON.stringify(Object.fromEntries(tally(answers)))}; sessions (source ports) each member saw: ${sessions.join(", ")}`);
      assert.equal(tally(answers).size, 1, `one member answered: ${JSON.stringify(Object.fromEntries(tally(answers)))}`);
      assert.ok(!answers.includes("lost"));
      // One flow, one session: one worker reads the listener, so the member hears the client from one source port.
      assert.equal(sessions.reduce((a, b) => a + b, 0), 1, `sessions (source ports) each member saw: ${sessions.join(", ")}`);
    });
  });
}
