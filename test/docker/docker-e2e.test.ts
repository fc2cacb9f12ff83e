import type * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import { randomBytes } from "node:crypto";
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Agent, request } from "undici";
import { demoBackendContainerSpec, nodeContainerSpec, nodeSecretsSpec, SECRET_FILES, type ContainerSpec } from "../../provider/resources/node-container";
import { statusCommand } from "../../examples/quickstart/program";
import type { LoadBalancerConnection } from "../../provider/model";
import {
  backendServiceProvider,
  healthCheckProvider,
  listenerProvider,
  virtualServerGroupProvider,
} from "../../provider/resources";
import { stageForwarderContext } from "../../provider/resources/load-balancer-image";
import { issueNodeCertificate, makeCertificateAuthority } from "../../provider/resources/admin-certificates";
import { buildBaseImage, buildBuilderImage } from "./base-image";
import { DockerEngine, dockerCli } from "./engine";
import { shares, tally, tallyUdp, type Tally } from "./traffic";
import { vipInContainer } from "./vip-in-container";

/**
 * The whole product on a real Docker engine: the forwarder image built from the real Dockerfile
 * (on builder and base images made without any registry; the relay compiled in the image build),
 * two nodes (with their secrets carriers) and three demo backends run from the same container
 * specs the LoadBalancer component deploys, configured through the providers. The nodes serve
 * their admin API over HTTPS, as the component's nodes do with `adminTls: "always"`: certificates
 * from a private CA, handed over by the carriers, and a connection that pins the CA.
 *
 * Runs only with DNLB_DOCKER_E2E=1 (test/docker/run.sh sets it after starting a Docker engine).
 * Addresses: nodes 127.0.1.1-2, backends 127.0.7.1-3; ports 25080 (listener), 25081 (backends),
 * 25180 (admin). Bounded: every wait has a deadline, and the suite's hooks remove everything.
 */

const ENABLED = process.env.DNLB_DOCKER_E2E === "1";
const RUN = randomBytes(4).toString("hex");
const LABEL = "dnlb.e2e";
const BASE_IMAGE = `dnlb-e2e-base:${RUN}`;
const BUILDER_IMAGE = `dnlb-e2e-builder:${RUN}`;
const FORWARDER_IMAGE = `dnlb-e2e-forwarder:${RUN}`;
const NODES = ["127.0.1.1", "127.0.1.2"];
const ADMIN_PORT = 25180;
const LISTENER_PORT = 25080;
/** Below 1024: binding it needs the capability the node container keeps. */
const LOW_LISTENER_PORT = 881;
const BACKEND_PORT = 25081;
const BACKENDS = [
  { label: "b1", address: "127.0.7.1", weight: 10 },
  { label: "b2", address: "127.0.7.2", weight: 20 },
  { label: "b3", address: "127.0.7.3", weight: 30 },
];
/** Health check timing: failure window = 2 x 2 + 5 x (2 - 1) = 9 s. */
const CHECK = { timeoutSeconds: 2, intervalSeconds: 5, unhealthyThreshold: 2, healthyThreshold: 2 };
const FAILURE_WINDOW_S = CHECK.timeoutSeconds * CHECK.unhealthyThreshold + CHECK.intervalSeconds * (CHECK.unhealthyThreshold - 1);
const CONNECTIONS_PER_NODE = 600;
/** Share tolerance: 4 standard deviations of a binomial share at n = 600 is about 0.08. */
const SHARE_TOLERANCE = 0.08;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>, everyMs = 250): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await sleep(everyMs);
  }
}

interface MemberView {
  readonly address: string;
  readonly health: string;
  readonly eligible: boolean;
}

describe("Docker end-to-end: LoadBalancer nodes and backends in containers", function () {
  if (!ENABLED) {
    it.skip("runs with DNLB_DOCKER_E2E=1 (bash test/docker/run.sh)", () => undefined);
    return;
  }
  this.timeout(600_000);

  const engine = new DockerEngine();
  const token = randomBytes(24).toString("base64url");
  const hashSeed = randomBytes(16).toString("hex");
  const ca = makeCertificateAuthority();
  const nodeCertificates = NODES.map((address, i) => issueNodeCertificate(ca, { commonName: `node-${i + 1}`, ipAddresses: [address] }));
  /** The client side of the admin API: trusts the run's CA only. */
  const admin = new Agent({ connect: { ca: ca.certificatePem } });
  const caFile = path.join(os.tmpdir(), `dnlb-e2e-${RUN}-ca.pem`);
  const nodeIds: string[] = [];
  const backendIds = new Map<string, string>();
  const volumes = NODES.map((_, i) => `dnlb-e2e-${RUN}-node-${i + 1}-state`);
  const secretsVolumes = NODES.map((_, i) => `dnlb-e2e-${RUN}-node-${i + 1}-secrets`);
  /** Every container this run starts or creates, for the `docker inspect` check. */
  const allIds: string[] = [];
  let connection: LoadBalancerConnection;
  let listenerId = "";
  /** What `configure` created, by id, for a later delete through the same provider. */
  const outputsOf = new Map<string, unknown>();

  async function status(endpoint: string): Promise<{ backendServices: { members: MemberView[] }[]; listeners: { id: string; state: string }[] }> {
    const res = await adminGet(endpoint, "/v1/status");
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}: ${await res.body.text()}`);
    return (await res.body.json()) as { backendServices: { members: MemberView[] }[]; listeners: { id: string; state: string }[] };
  }

  function adminGet(endpoint: string, route: string) {
    return request(`${endpoint}${route}`, { dispatcher: admin, headers: { authorization: `Bearer ${token}` }, headersTimeout: 3000, bodyTimeout: 3000 });
  }

  async function members(endpoint: string): Promise<MemberView[]> {
    const s = await status(endpoint);
    return s.backendServices.flatMap((svc) => svc.members);
  }

  async function configure<T extends Record<string, unknown>>(provider: pulumi.dynamic.ResourceProvider, name: string, args: T): Promise<string> {
    const checked = await provider.check!({}, { ...args, loadBalancer: connection, __resourceName: name });
    assert.deepEqual(checked.failures ?? [], [], `${name} failed check`);
    const created = await provider.create!(checked.inputs);
    outputsOf.set(created.id, created.outs);
    return created.id;
  }

  async function runContainer(spec: ContainerSpec<string>): Promise<string> {
    const id = await engine.run(spec, { [LABEL]: RUN });
    allIds.push(id);
    return id;
  }

  /** Runs a program with the node's own Node.js inside a container and returns what it prints. */
  function execNode(id: string, script: string): Promise<string> {
    return dockerCli(["exec", id, "node", "-e", script]);
  }

  /** Compiled addons in the staged context (the caller's relay must not reach the image). */
  let stagedAddons: string[] = [];

  before("build the images without a registry", async function () {
    const started = Date.now();
    await Promise.all([buildBaseImage(BASE_IMAGE), buildBuilderImage(BUILDER_IMAGE)]);
    const context = stageForwarderContext();
    stagedAddons = (fs.readdirSync(context.dir, { recursive: true }) as string[]).filter((f) => f.endsWith(".node"));
    const built = Date.now();
    await dockerCli(
      ["build", "--quiet", "--build-arg", `BUILDER_IMAGE=${BUILDER_IMAGE}`, "--build-arg", `BASE_IMAGE=${BASE_IMAGE}`, "--tag", FORWARDER_IMAGE, context.dir],
      { env: { DOCKER_BUILDKIT: "0" } },
    );
    const seconds = (ms: number) => (ms / 1000).toFixed(1);
    console.log(`      builder and base images in ${seconds(built - started)} s, forwarder image (relay compiled in it) in ${seconds(Date.now() - built)} s`);
  });

  before("run two nodes and three backends from the component's container specs", async function () {
    for (const b of BACKENDS) {
      const spec = demoBackendContainerSpec({
        containerName: `dnlb-e2e-${RUN}-${b.label}`,
        image: FORWARDER_IMAGE,
        address: b.address,
        port: BACKEND_PORT,
        label: b.label,
      });
      backendIds.set(b.label, await runContainer(spec));
    }
    for (const [i, address] of NODES.entries()) {
      const containerName = `dnlb-e2e-${RUN}-node-${i + 1}`;
      // The carrier writes the secret files into the volume the node then mounts read-only.
      await runContainer(
        nodeSecretsSpec({
          nodeContainerName: containerName,
          image: FORWARDER_IMAGE,
          secretsVolume: secretsVolumes[i],
          adminToken: token,
          hashSeed,
          tls: nodeCertificates[i],
        }),
      );
      const spec = nodeContainerSpec({
        containerName,
        image: FORWARDER_IMAGE,
        listenAddress: address,
        adminAddress: address,
        adminPort: ADMIN_PORT,
        stateVolume: volumes[i],
        secretsVolume: secretsVolumes[i],
        tls: true,
        memoryLimitMiB: 512,
      });
      nodeIds.push(await runContainer(spec));
    }
    connection = { endpoints: NODES.map((a) => `https://${a}:${ADMIN_PORT}`), token, hashSeed, caCertificate: ca.certificatePem };
    // Docker's own healthcheck (the spec's /healthz probe) must pass, as `docker.Container` waits for it.
    for (const id of nodeIds) {
      await until("a node container to be healthy", 60_000, async () => {
        const state = await engine.inspect(id);
        if (!state.State.Running) throw new Error(`node exited: ${await engine.logs(id)}`);
        return state.State.Health?.Status === "healthy" ? true : undefined;
      }, 500);
    }
  });

  after("remove every container, volume and image this run made", async function () {
    this.timeout(120_000);
    const leftovers = await engine.containersLabelled(`${LABEL}=${RUN}`).catch(() => []);
    for (const c of leftovers) await engine.removeContainer(c.Id);
    for (const v of [...volumes, ...secretsVolumes]) await engine.removeVolume(v);
    await engine.removeImage(FORWARDER_IMAGE);
    await engine.removeImage(BASE_IMAGE);
    await engine.removeImageTree(BUILDER_IMAGE);
    const still = await engine.containersLabelled(`${LABEL}=${RUN}`);
    await engine.close();
    await admin.close();
    fs.rmSync(caFile, { force: true });
    assert.equal(still.length, 0, "containers left behind");
  });

  it("runs the native relay, compiled inside the image build, on every node", async function () {
    assert.deepEqual(stagedAddons, [], "the staged context must not carry a relay built by the caller");
    for (const id of nodeIds) {
      const logs = await engine.logs(id);
      assert.match(logs, /"engine":"native"/, `the node's ready line names its engine: ${logs.slice(-1500)}`);
    }
    for (const endpoint of connection.endpoints) {
      const res = await adminGet(endpoint, "/v1/status");
      const body = (await res.body.json()) as { engine?: { name: string; reason: string } };
      assert.equal(body.engine?.name, "native", `${endpoint}/v1/status: ${JSON.stringify(body.engine)}`);
      assert.equal(body.engine?.reason, "the native relay loads (/opt/dnlb/dist/provider/forwarder/native/dnlb_relay.node)");
    }
  });

  it("carries the VIP's programs in the node image, each running with its own libraries", async function () {
    const [id] = nodeIds;
    // BIRD prints its version on stderr.
    const bird = await new Promise<string>((resolve, reject) =>
      execFile("docker", ["exec", id, "bird", "--version"], (error, stdout, stderr) => (error ? reject(error) : resolve(stdout + stderr))),
    );
    assert.match(bird, /BIRD version 2\./);
    assert.match(await dockerCli(["exec", id, "ip", "-V"]), /iproute2/);
    assert.match(await dockerCli(["exec", id, "setpriv", "--version"]), /util-linux/);
    // birdc has no --version: without a BIRD to talk to it says so, which it can only do once loaded.
    await assert.rejects(dockerCli(["exec", id, "birdc", "-s", "/tmp/no-bird.ctl", "show", "status"]), /Unable to connect to server control socket/);
  });

  it("keeps the token, the seed and the TLS keys out of every container's configuration: the nodes read them from 0600 files", async function () {
    assert.equal(allIds.length, BACKENDS.length + 2 * NODES.length, "backends, carriers and nodes");
    // A PEM key's base64 body, without the line breaks JSON would escape.
    const keyBodies = nodeCertificates.map((c) => c.privateKeyPem.replace(/-----[^-]+-----|\s/g, "").slice(0, 64));
    for (const id of allIds) {
      const inspected = await engine.inspectText(id);
      assert.ok(!inspected.includes(token), `the admin token is in docker inspect of ${id}`);
      assert.ok(!inspected.includes(hashSeed), `the hash seed is in docker inspect of ${id}`);
      assert.ok(!inspected.includes("PRIVATE KEY"), `a private key is in docker inspect of ${id}`);
      for (const body of keyBodies) assert.ok(!inspected.includes(body), `a node's TLS key is in docker inspect of ${id}`);
    }
    const secretFiles = [SECRET_FILES.adminToken, SECRET_FILES.hashSeed, SECRET_FILES.tlsCertificate, SECRET_FILES.tlsKey];
    for (const id of nodeIds) {
      const files = JSON.parse(
        await execNode(
          id,
          `const fs=require("fs");console.log(JSON.stringify(${JSON.stringify(secretFiles)}.map(f=>{const s=fs.statSync(f);return {mode:s.mode&0o777,uid:s.uid,gid:s.gid}})))`,
        ),
      ) as { mode: number; uid: number; gid: number }[];
      assert.deepEqual(files, secretFiles.map(() => ({ mode: 0o600, uid: 0, gid: 0 })));
      // The node's own environment holds no secret either (the files are the only copy it got).
      const environ = await execNode(id, 'process.stdout.write(require("fs").readFileSync("/proc/1/environ","utf8"))');
      assert.ok(!environ.includes(token) && !environ.includes(hashSeed), "a secret is in the node's environment");
    }
  });

  it("serves the admin API over HTTPS only, with a certificate the connection's CA verifies", async function () {
    for (const [i, endpoint] of connection.endpoints.entries()) {
      const plain = await request(endpoint.replace(/^https:/, "http:") + "/healthz", { headersTimeout: 3000, bodyTimeout: 3000 }).then(
        async (res) => `HTTP ${res.statusCode}: ${await res.body.text()}`,
        (err: Error) => err,
      );
      assert.ok(plain instanceof Error, `${NODES[i]} answered plain HTTP: ${String(plain)}`);
      // Without the CA, the host's trust store refuses the node's certificate.
      const untrusted = await request(`${endpoint}/healthz`, { headersTimeout: 3000, bodyTimeout: 3000 }).then(
        () => undefined,
        (err: Error & { code?: string }) => err.code,
      );
      assert.match(String(untrusted), /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/, `${endpoint} without the CA: ${String(untrusted)}`);
      const res = await adminGet(endpoint, "/healthz");
      await res.body.text();
      assert.equal(res.statusCode, 200);
    }
  });

  it("runs each node hardened: read-only root, no new privileges, only NET_BIND_SERVICE, a memory limit, and it still serves", async function () {
    for (const id of nodeIds) {
      const inspected = JSON.parse(await engine.inspectText(id)) as { HostConfig: { ReadonlyRootfs: boolean; SecurityOpt: string[]; Memory: number } };
      assert.equal(inspected.HostConfig.ReadonlyRootfs, true);
      assert.deepEqual(inspected.HostConfig.SecurityOpt, ["no-new-privileges:true"]);
      assert.equal(inspected.HostConfig.Memory, 512 * 1024 * 1024);
      // What the kernel enforces on the node's process (PID 1 of the container).
      const status = await execNode(id, 'process.stdout.write(require("fs").readFileSync("/proc/1/status","utf8"))');
      assert.match(status, /^NoNewPrivs:\s+1$/m);
      assert.match(status, /^CapEff:\s+0000000000000400$/m, "only CAP_NET_BIND_SERVICE (bit 10) is effective");
      const write = await execNode(id, 'try{require("fs").writeFileSync("/opt/dnlb/x","x");console.log("written")}catch(e){console.log(e.code)}');
      assert.equal(write, "EROFS", "the image's files can be changed");
      const secretWrite = await execNode(id, `try{require("fs").writeFileSync(${JSON.stringify(SECRET_FILES.adminToken)},"x");console.log("written")}catch(e){console.log(e.code)}`);
      assert.equal(secretWrite, "EROFS", "the node can change its own token file");
    }
    for (const endpoint of connection.endpoints) {
      const res = await adminGet(endpoint, "/v1/status");
      await res.body.text();
      assert.equal(res.statusCode, 200, `${endpoint} refuses the token it read from its file`);
    }
  });

  it("answers the quickstart's status command, which reads the token from the node's file", async function () {
    const name = `dnlb-e2e-${RUN}-node-1`;
    fs.writeFileSync(caFile, ca.certificatePem);
    const output = await new Promise<string>((resolve, reject) =>
      execFile("bash", ["-c", statusCommand(name, connection.endpoints[0], caFile)], { timeout: 20_000 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout),
      ),
    );
    assert.ok(Array.isArray((JSON.parse(output) as { listeners?: unknown }).listeners), output.slice(0, 500));
  });

  it("configures both nodes through the providers and spreads traffic by weight through each", async function () {
    const hc = await configure(healthCheckProvider, "e2e-check", { ...CHECK });
    const group = await configure(virtualServerGroupProvider, "e2e-group", {
      members: BACKENDS.map((b) => ({ address: b.address, weight: b.weight })),
    });
    const service = await configure(backendServiceProvider, "e2e-service", {
      port: BACKEND_PORT,
      algorithm: "QuintupleHash",
      healthCheck: hc,
      serverGroup: group,
    });
    listenerId = await configure(listenerProvider, "e2e-listener", { port: LISTENER_PORT, backendService: service });

    for (const endpoint of connection.endpoints) {
      await until("every member Healthy on " + endpoint, 60_000, async () => {
        const view = await members(endpoint);
        return view.length === 3 && view.every((m) => m.health === "Healthy" && m.eligible) ? view : undefined;
      });
    }
    const total = BACKENDS.reduce((sum, b) => sum + b.weight, 0);
    for (const address of NODES) {
      const t = await tally(address, LISTENER_PORT, CONNECTIONS_PER_NODE);
      console.log(`      through ${address}: ${JSON.stringify(shares(t))} (${t.failures} failed)`);
      assert.equal(t.failures, 0, `connections failed through ${address}: ${t.errors.join("; ")}`);
      for (const b of BACKENDS) {
        const share = (t.byBackend.get(b.label) ?? 0) / t.total;
        assert.ok(
          Math.abs(share - b.weight / total) <= SHARE_TOLERANCE,
          `${b.label} (weight ${b.weight}) got ${share.toFixed(3)} through ${address}, expected ${(b.weight / total).toFixed(3)}`,
        );
      }
    }
  });

  it("binds a listener on a port below 1024 (the node holds only NET_BIND_SERVICE)", async function () {
    assert.ok(listenerId, "the configuration test ran first");
    const service = (await status(connection.endpoints[0])).backendServices[0] as unknown as { id: string };
    const checked = await listenerProvider.check!({}, { port: LOW_LISTENER_PORT, backendService: service.id, loadBalancer: connection, __resourceName: "e2e-low-port" });
    assert.deepEqual(checked.failures ?? [], [], "the low-port listener failed check");
    const low = await listenerProvider.create!(checked.inputs);
    for (const address of NODES) {
      const t = await tally(address, LOW_LISTENER_PORT, 30);
      assert.equal(t.failures, 0, `connections to port ${LOW_LISTENER_PORT} failed through ${address}: ${t.errors.join("; ")}`);
    }
    await listenerProvider.delete!(low.id, low.outs);
  });

  it("carries UDP through both nodes: a UDP listener on the TCP listener's port, every datagram answered, shares by weight", async function () {
    assert.ok(listenerId, "the configuration test ran first");
    // A group serves one service: the UDP service gets its own group of the same backends. No
    // health check given: a UDP service gets a UDP check (a datagram answered or unanswered passes).
    const group = await configure(virtualServerGroupProvider, "e2e-udp-group", {
      members: BACKENDS.map((b) => ({ address: b.address, weight: b.weight })),
    });
    const service = await configure(backendServiceProvider, "e2e-udp-service", {
      protocol: "UDP",
      port: BACKEND_PORT,
      algorithm: "QuintupleHash",
      serverGroup: group,
    });
    const listener = await configure(listenerProvider, "e2e-udp-listener", { protocol: "UDP", port: LISTENER_PORT, backendService: service });
    for (const endpoint of connection.endpoints) {
      await until("the UDP service's members eligible on " + endpoint, 60_000, async () => {
        const s = (await status(endpoint)) as unknown as { backendServices: { id: string; members: MemberView[] }[] };
        const view = s.backendServices.find((svc) => svc.id === service)?.members ?? [];
        return view.length === 3 && view.every((m) => m.eligible) ? true : undefined;
      });
    }
    const total = BACKENDS.reduce((sum, b) => sum + b.weight, 0);
    for (const address of NODES) {
      // 600 sessions (client ports), two datagrams each: the share tolerance is for n = 600.
      const t = await tallyUdp(address, LISTENER_PORT, 600, 2);
      console.log(`      UDP through ${address}: ${JSON.stringify(shares(t))} (${t.failures} of ${t.total} unanswered)`);
      assert.equal(t.failures, 0, `datagrams unanswered through ${address}: ${t.errors.join("; ")}`);
      for (const b of BACKENDS) {
        const share = (t.byBackend.get(b.label) ?? 0) / t.total;
        assert.ok(Math.abs(share - b.weight / total) <= SHARE_TOLERANCE, `${b.label} got ${share.toFixed(3)} of the UDP datagrams through ${address}`);
      }
      // TCP on the same port number is untouched.
      assert.equal((await tally(address, LISTENER_PORT, 20)).failures, 0);
    }
    for (const [provider, id] of [[listenerProvider, listener], [backendServiceProvider, service], [virtualServerGroupProvider, group]] as const) {
      await provider.delete!(id, outputsOf.get(id));
    }
  });

  it("takes traffic off a stopped backend container within the failure window (after the next probe), with no client error", async function () {
    assert.ok(listenerId, "the configuration test ran first");
    const stoppedAt = Date.now();
    await engine.stop(backendIds.get("b3")!, 1);
    // Clients keep connecting meanwhile: a connect refused by b3 is retried on the next member.
    const during: Tally[] = [];
    const clients = (async () => {
      while (Date.now() - stoppedAt < (FAILURE_WINDOW_S + 10) * 1000) {
        for (const address of NODES) during.push(await tally(address, LISTENER_PORT, 10, 5));
      }
    })();
    const detected: number[] = [];
    for (const endpoint of connection.endpoints) {
      await until("b3 Unhealthy on " + endpoint, (FAILURE_WINDOW_S + 20) * 1000, async () => {
        const b3 = (await members(endpoint)).find((m) => m.address === "127.0.7.3");
        return b3 && b3.health === "Unhealthy" && !b3.eligible ? true : undefined;
      });
      detected.push((Date.now() - stoppedAt) / 1000);
    }
    await clients;
    // The failure window counts from the first failing probe; that probe comes up to one jittered
    // interval (+15%) after the container stops. 3 s more for status polling on a loaded machine.
    const limit = FAILURE_WINDOW_S + CHECK.intervalSeconds * 1.15 + 3;
    console.log(`      b3 out of the table after ${detected.map((s) => s.toFixed(1)).join(" s, ")} s (failure window ${FAILURE_WINDOW_S} s, limit ${limit.toFixed(1)} s)`);
    for (const seconds of detected) assert.ok(seconds <= limit, `took ${seconds.toFixed(1)} s`);
    const failed = during.reduce((n, t) => n + t.failures, 0);
    const asked = during.reduce((n, t) => n + t.total, 0);
    assert.equal(failed, 0, `${failed} of ${asked} connections failed while b3 went down`);

    for (const address of NODES) {
      const t = await tally(address, LISTENER_PORT, 300);
      assert.equal(t.failures, 0);
      assert.equal(t.byBackend.get("b3") ?? 0, 0, "b3 still receives traffic");
      const b1 = (t.byBackend.get("b1") ?? 0) / t.total;
      assert.ok(Math.abs(b1 - 1 / 3) <= 0.1, `b1 got ${b1.toFixed(3)} of the remaining traffic, expected 1/3 (weights 10:20)`);
    }
  });

  it("brings a restarted node container back with its configuration from its volume", async function () {
    assert.ok(listenerId, "the configuration test ran first");
    const before = await engine.inspect(nodeIds[0]);
    await engine.restart(nodeIds[0]);
    const after = await until("node 1 to run again", 60_000, async () => {
      const state = await engine.inspect(nodeIds[0]);
      return state.State.Running && state.State.StartedAt !== before.State.StartedAt ? state : undefined;
    });
    assert.equal(after.Mounts.find((m) => m.Destination === "/var/lib/dnlb")?.Name, volumes[0]);
    const endpoint = connection.endpoints[0];
    // Nobody pushed anything since the restart: what the node serves came from its state directory.
    const restored = await until("the listener back on node 1", 30_000, async () => {
      const s = await status(endpoint);
      return s.listeners.find((l) => l.id === listenerId && l.state === "Listening");
    });
    assert.ok(restored);
    await until("b1 and b2 Healthy again on node 1", 60_000, async () => {
      const view = await members(endpoint);
      const up = view.filter((m) => m.health === "Healthy").map((m) => m.address).sort();
      return up.join(",") === "127.0.7.1,127.0.7.2" ? true : undefined;
    });
    const t = await tally(NODES[0], LISTENER_PORT, 100);
    assert.equal(t.failures, 0, t.errors.join("; "));
    assert.deepEqual([...t.byBackend.keys()].sort(), ["b1", "b2"]);
  });

  vipInContainer(() => FORWARDER_IMAGE, () => engine, { name: LABEL, value: RUN });
});
