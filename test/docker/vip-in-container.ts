import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { issueNodeCertificate, makeCertificateAuthority } from "../../provider/resources/admin-certificates";
import { nodeContainerSpec, nodeSecretsSpec } from "../../provider/resources/node-container";
import { skipUnlessPresent } from "../support/peers";
import { waitFor } from "../support/wait";
import { Agent } from "../vip/agent";
import { countBy, format, sameHops, timeUntil } from "../vip/measure";
import { MEMBER_PORT, MEMBERS, NODE_ASN, nodeAddress, ROUTER_ASN, routerAddress, Topology, vipPrerequisiteMissing, VIP } from "../vip/topology";
import { DockerEngine } from "./engine";

/**
 * A VIP node in a container, behind a router: the node image's BIRD announcing the VIP, as the
 * LoadBalancer component runs it (its container spec with `vip`: host networking, NET_ADMIN added,
 * read-only root). The container's "host" is a network namespace of the test's own: a second Docker
 * engine runs inside it, so host networking means that namespace, linked to a BIRD router
 * namespace, with clients and backends in namespaces of their own (test/vip/topology.ts).
 *
 * Registered inside the Docker end-to-end suite, which builds `image()`. Needs root, ip and BIRD
 * (for the router), as the other VIP tests do.
 */
const TOKEN = "admin-token-for-the-vip-container-0123";
const SEED = "ffeeddccbbaa99887766554433221100";
const ADMIN_PORT = 9180;
const LISTENER_PORT = 8080;
const CONNECTIONS = 300;

/** `label`: marks every container made here, as the suite marks its own. */
export function vipInContainer(image: () => string, sourceEngine: () => DockerEngine, label: { readonly name: string; readonly value: string }): void {
  const labels = { [label.name]: label.value };
  describe("a VIP node in a container behind a router (its own Docker engine in a network namespace)", function () {
    this.timeout(240_000);
    let dir: string;
    let topology: Topology | undefined;
    let dockerd: ChildProcess | undefined;
    let engine: DockerEngine | undefined;
    let agent: Agent;
    let nodeId = "";
    const ca = makeCertificateAuthority();
    const base = `https://${nodeAddress(1)}:${ADMIN_PORT}`;

    before(async function () {
      skipUnlessPresent(this, vipPrerequisiteMissing());
      dir = await fs.mkdtemp(path.join(os.tmpdir(), "dnlb-vipd-"));
      topology = new Topology(1);
      topology.build();
      await topology.startRouter(dir, []);
      await topology.startBackend();
      agent = await Agent.start(topology, dir, ca, TOKEN, LISTENER_PORT);

      // The node namespace's own engine: its containers' host network is that namespace. nsenter
      // enters the network namespace only (`ip netns exec` would also remount /sys, hiding the
      // cgroups the engine needs).
      const socket = path.join(dir, "docker.sock");
      dockerd = spawn(
        "nsenter",
        [
          `--net=/var/run/netns/${topology.nodes[0]}`,
          "dockerd",
          ...["--host", `unix://${socket}`, "--data-root", path.join(dir, "data"), "--exec-root", path.join(dir, "x"), "--pidfile", path.join(dir, "dockerd.pid")],
          ...["--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false", "--ip-masq=false"],
        ],
        { stdio: ["ignore", "ignore", "ignore"] },
      );
      engine = new DockerEngine(socket);
      await waitFor(async () => (await engine?.call("GET", "/version").then(() => true, () => false)) === true, 60_000, "the namespace's Docker engine", 250);
      await copyImage(image(), sourceEngine(), engine);

      const containerName = "dnlb-vip-node-1";
      const issued = issueNodeCertificate(ca, { commonName: containerName, ipAddresses: [nodeAddress(1)] });
      const volumes = { stateVolume: `${containerName}-state`, secretsVolume: `${containerName}-secrets` };
      await engine.run(
        nodeSecretsSpec({ nodeContainerName: containerName, image: image(), secretsVolume: volumes.secretsVolume, adminToken: TOKEN, hashSeed: SEED, tls: issued }),
        labels,
      );
      nodeId = await engine.run(
        nodeContainerSpec({
          containerName,
          image: image(),
          listenAddress: nodeAddress(1),
          adminAddress: nodeAddress(1),
          adminPort: ADMIN_PORT,
          ...volumes,
          tls: true,
          memoryLimitMiB: 512,
          vip: { spec: { address: VIP, bgp: { localAsn: NODE_ASN, peers: [{ address: routerAddress(1), asn: ROUTER_ASN }] } }, routerId: nodeAddress(1) },
        }),
        labels,
      );
      await waitFor(
        async () => {
          const state = await engine?.inspect(nodeId);
          if (state?.State.Running === false) throw new Error(`the node exited: ${await engine?.logs(nodeId)}`);
          return (await agent.http(`${base}/healthz`).catch(() => ({ status: 0 }))).status === 200;
        },
        60_000,
        "the node's admin API",
        250,
      ).catch(async (error: Error) => {
        throw new Error(`${error.message}; the node's log: ${(await engine?.logs(nodeId)) ?? ""}`);
      });
      const writes: [string, unknown][] = [
        ["/v1/server-groups/g", { type: "virtual", name: "g", members: MEMBERS.map((m) => ({ address: m.address, port: MEMBER_PORT })) }],
        ["/v1/backend-services/web", { name: "web", port: MEMBER_PORT, serverGroup: "g" }],
        ["/v1/listeners/web-l", { name: "web-l", port: LISTENER_PORT, backendService: "web" }],
      ];
      for (const [url, body] of writes) {
        const reply = await agent.http(base + url, "PUT", body);
        assert.ok(reply.status < 300, `PUT ${url}: ${reply.status} ${reply.body}`);
      }
      // Until each member's first probe, the node's table holds fewer members than both.
      await waitFor(
        async () => {
          const status = JSON.parse((await agent.http(`${base}/v1/status`)).body) as { backendServices?: { members: { eligible: boolean }[] }[] };
          const members = status.backendServices?.[0]?.members ?? [];
          return members.length === MEMBERS.length && members.every((m) => m.eligible);
        },
        15_000,
        "both members eligible on the node",
        100,
      );
    });

    after(async function () {
      this.timeout(90_000);
      if (engine !== undefined) {
        const leftovers = await engine.containersLabelled(`${label.name}=${label.value}`).catch(() => []);
        for (const c of leftovers) await engine.removeContainer(c.Id).catch(() => undefined);
        await engine.close();
      }
      await stopProcess(dockerd, 30_000);
      topology?.destroy();
      if (dir !== undefined) {
        // The engine unmounts its layers on a clean stop; anything still mounted below dir is its.
        const mounts = (await fs.readFile("/proc/mounts", "utf8")).split("\n").map((l) => l.split(" ")[1]).filter((m) => m?.startsWith(dir));
        for (const m of mounts.sort().reverse()) await run("umount", ["-l", m]).catch(() => undefined);
        await fs.rm(dir, { recursive: true, force: true });
      }
    });

    it("announces the VIP from the container's BIRD once configured, and serves every connection to it through the router", async () => {
      const ms = await timeUntil("the VIP in the router's table", 30_000, async () => sameHops((await topology?.vipNextHops()) ?? [], [nodeAddress(1)]));
      const results = await agent.connect(CONNECTIONS, { concurrency: 20 });
      const failed = results.filter((r) => r.error !== undefined);
      const perMember = countBy(results, (r) => r.member);
      console.log(`      route installed ${ms} ms after both members were eligible; ${CONNECTIONS} connections to the VIP: ${failed.length} failed; per member: ${format(perMember)}`);
      assert.equal(failed.length, 0, `failed: ${JSON.stringify(failed.slice(0, 3))}`);
      assert.ok(results.every((r) => r.via === nodeAddress(1)), "every connection carried by the node");
      assert.equal(perMember.size, MEMBERS.length, "both members served");
      const status = JSON.parse((await agent.http(`${base}/v1/status`)).body) as { engine: { name: string }; vip: { announced: boolean; reason: string; peers: { state: string }[] } };
      assert.equal(status.engine.name, "native");
      assert.equal(status.vip.announced, true, status.vip.reason);
      assert.deepEqual(status.vip.peers.map((p) => p.state), ["Established"]);
    });

    it("withdraws the VIP first when Docker stops the container, and its BIRD does not outlive it", async () => {
      assert.ok(engine !== undefined);
      const stopping = engine.stop(nodeId, 30);
      const ms = await timeUntil("the VIP gone from the router's table", 10_000, async () => ((await topology?.vipNextHops()) ?? []).length === 0);
      await stopping;
      const state = await engine.inspect(nodeId);
      console.log(`      docker stop: route withdrawn after ${ms} ms; container ${state.State.Status}`);
      assert.equal(state.State.Running, false);
      assert.ok(ms < 5000, `withdrawn ${ms} ms after docker stop (the withdraw comes before the drain)`);
      const pids = await run("ip", ["netns", "pids", topology?.nodes[0] ?? ""]);
      const commands = await Promise.all(
        pids.split(/\s+/).filter((p) => p !== "").map((pid) => fs.readFile(`/proc/${pid}/comm`, "utf8").then((c) => c.trim(), () => "")),
      );
      assert.ok(!commands.includes("bird"), `a BIRD still runs in the node's namespace: ${commands.join(", ")}`);
    });
  });
}

/** `docker save` from one engine into `docker load` of another. */
async function copyImage(image: string, from: DockerEngine, to: DockerEngine): Promise<void> {
  const archive = await from.exportImage(image);
  await to.importImage(archive);
}

function run(command: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(" ")} exited ${code}`))));
  });
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
async function stopProcess(child: ChildProcess | undefined, graceMs: number): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
