import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import { X509Certificate } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { FORWARDER_ENTRYPOINT, NODE_SECRETS_DIR, NODE_STATE_DIR, SECRET_FILES } from "../../provider/resources/node-container";
import {
  checkKnownArg,
  connectionGeneration,
  DEFAULT_BASE_IMAGE,
  LoadBalancer,
  LoadBalancerArgs,
  LoadBalancerArgsError,
} from "../../provider/resources/load-balancer";
import { SECRET_SIG, SECRET_SIG_KEY } from "../../provider/resources/secrets";
import { checkConnection } from "../../provider/model";
import { promiseOf } from "../support/pulumi";
import { assertArgsRefused, Child, recordChildren, RecordingMocks } from "./mocks";

const IMAGE = "docker:index/image:Image";
const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
const CONTAINER = "docker:index/container:Container";
const VOLUME = "docker:index/volume:Volume";
const DOCKER_PROVIDER = "pulumi:providers:docker";

/**
 * The LoadBalancer's resource graph under `pulumi.runtime.setMocks`. Mocks are process-wide
 * runtime state: they are installed in this file's `before` hook (not at load time) so they do not
 * reach test files mocha loaded earlier; nothing else in the suite registers resources.
 */
describe("LoadBalancer component (mocked engine)", function () {
  // The first LoadBalancer stages the image build context (copies the forwarder and its modules).
  this.timeout(60_000);
  let mocks: RecordingMocks;

  before(async function () {
    mocks = new RecordingMocks();
    await pulumi.runtime.setMocks(mocks, "dnlb-test", "unit", false);
  });

  beforeEach(function () {
    mocks.registered.length = 0;
    mocks.containerEpoch = 1;
    mocks.certificateState.clear();
  });

  function deploy(name: string, args: LoadBalancerArgs): { lb: LoadBalancer; children: Child[] } {
    const children: Child[] = [];
    const lb = new LoadBalancer(name, args, { transformations: [recordChildren(children)] });
    return { lb, children };
  }

  function childrenOf(children: Child[], type: string): Child[] {
    return children.filter((c) => c.type === type);
  }

  interface Upload {
    readonly file: string;
    readonly content: string;
    readonly permissions: string;
    readonly owner: string;
    readonly group: string;
  }

  /** The files a secrets carrier uploads, by path, as the engine received them; they must arrive marked secret. */
  function uploadsOf(inputs: Record<string, unknown>): Map<string, Upload> {
    const uploads = inputs.uploads as { [SECRET_SIG_KEY]?: string; value?: Upload[] };
    assert.equal(uploads[SECRET_SIG_KEY], SECRET_SIG, `uploads reached the engine in plain text: ${JSON.stringify(uploads)}`);
    return new Map(uploads.value!.map((u) => [u.file, u]));
  }

  /** The secrets carrier of a node container, by the node's name. */
  function carrierOf(nodeName: string) {
    const carrier = mocks.ofType(CONTAINER).find((c) => c.name === `${nodeName}-secrets`);
    assert.ok(carrier, `no secrets carrier for ${nodeName}`);
    return carrier;
  }

  /** The container's environment as the engine received it: a list of NAME=value, or a secret wrapping one. */
  function envText(inputs: Record<string, unknown>): string {
    return JSON.stringify(inputs.envs ?? []);
  }

  describe("two local nodes (the default)", function () {
    it("builds the image once from the package's Dockerfile with the default BASE_IMAGE", async function () {
      const { lb } = deploy("lb", {});
      await promiseOf(lb.connection);
      const images = mocks.ofType(IMAGE);
      assert.equal(images.length, 1);
      const build = images[0].inputs.build as { context: string; dockerfile: string; args: Record<string, string> };
      assert.deepEqual(build.args, { BASE_IMAGE: DEFAULT_BASE_IMAGE });
      assert.equal(images[0].inputs.skipPush, true);
      assert.match(images[0].inputs.imageName as string, /^pulumi-dnlb-forwarder:/);
      // The staged context is real: the Dockerfile and the compiled forwarder are in it.
      assert.ok(fs.existsSync(build.dockerfile), build.dockerfile);
      assert.ok(fs.existsSync(path.join(build.context, "dist", "provider", "forwarder", "main.js")));
      assert.equal(mocks.ofType(REMOTE_IMAGE).length, 0);
      assert.equal(mocks.ofType(DOCKER_PROVIDER).length, 0, "local nodes use the default Docker provider");
    });

    it("runs one host-networked container per node on 127.0.1.1 and 127.0.1.2 with its own state volume", async function () {
      const { lb } = deploy("lb", {});
      assert.deepEqual(await promiseOf(lb.endpoints), ["http://127.0.1.1:9180", "http://127.0.1.2:9180"]);
      await promiseOf(lb.connection);
      const containers = mocks.ofType(CONTAINER).filter((c) => !c.name.endsWith("-secrets"));
      assert.deepEqual(
        containers.map((c) => c.name),
        ["lb-node-1", "lb-node-2"],
      );
      assert.deepEqual(
        mocks.ofType(VOLUME).map((v) => v.inputs.name),
        ["lb-node-1-state", "lb-node-1-secrets", "lb-node-2-state", "lb-node-2-secrets"],
      );
      containers.forEach((c, i) => {
        const n = i + 1;
        assert.equal(c.inputs.name, `lb-node-${n}`);
        assert.equal(c.inputs.networkMode, "host");
        assert.equal(c.inputs.restart, "unless-stopped");
        // Root for ports below 1024, holding no capability but the one to bind them.
        assert.equal(c.inputs.user, "0:0");
        assert.deepEqual(c.inputs.capabilities, { drops: ["ALL"], adds: ["NET_BIND_SERVICE"] });
        assert.equal(c.inputs.image, "sha256:built-lb-image", "containers follow the built image's id");
        assert.deepEqual(c.inputs.command, [
          "--admin-listen",
          `127.0.1.${n}:9180`,
          "--listen-address",
          `127.0.1.${n}`,
          "--state-dir",
          NODE_STATE_DIR,
          "--node-name",
          `lb-node-${n}`,
          "--require-native",
          "--token-file",
          `${NODE_SECRETS_DIR}/admin-token`,
          "--hash-seed-file",
          `${NODE_SECRETS_DIR}/hash-seed`,
        ]);
        assert.equal(c.inputs.entrypoints, undefined, "the image's entrypoint runs the forwarder");
        assert.deepEqual(c.inputs.volumes, [
          { volumeName: `lb-node-${n}-state`, containerPath: NODE_STATE_DIR, readOnly: false },
          { volumeName: `lb-node-${n}-secrets`, containerPath: NODE_SECRETS_DIR, readOnly: true },
        ]);
        const hc = c.inputs.healthcheck as { tests: string[] };
        assert.equal(hc.tests[0], "CMD");
        assert.ok(hc.tests.join(" ").includes(`http://127.0.1.${n}:9180/healthz`), hc.tests.join(" "));
        assert.equal(c.inputs.wait, true, "pushing configuration waits for a healthy node");
        // The secrets reach the node as files its carrier wrote, never through its environment.
        const files = uploadsOf(carrierOf(`lb-node-${n}`).inputs);
        assert.equal(files.get(SECRET_FILES.adminToken)?.content, "generated-token-for-lb-secrets");
        assert.equal(files.get(SECRET_FILES.hashSeed)?.content, "00112233445566778899aabbccddeeff");
        assert.ok(!envText(c.inputs).includes("generated-token-for-lb-secrets"), envText(c.inputs));
        assert.ok(!envText(c.inputs).includes("00112233445566778899aabbccddeeff"), envText(c.inputs));
      });
    });

    it("writes the secret files 0600 root:root into the node's secrets volume through a carrier that never runs", async function () {
      const { lb } = deploy("lb", {});
      await promiseOf(lb.connection);
      for (const n of [1, 2]) {
        const carrier = carrierOf(`lb-node-${n}`);
        assert.equal(carrier.inputs.start, false, "the carrier is created, never started");
        assert.equal(carrier.inputs.mustRun, false, "a carrier that is not running is not a drift");
        assert.equal(carrier.inputs.networkMode, "none");
        assert.equal(carrier.inputs.image, "sha256:built-lb-image", "the image already on the host");
        assert.deepEqual(carrier.inputs.volumes, [{ volumeName: `lb-node-${n}-secrets`, containerPath: NODE_SECRETS_DIR, readOnly: false }]);
        const files = uploadsOf(carrier.inputs);
        assert.deepEqual([...files.keys()], [SECRET_FILES.adminToken, SECRET_FILES.hashSeed]);
        for (const file of files.values()) {
          assert.ok(file.file.startsWith(`${NODE_SECRETS_DIR}/`), `${file.file} is outside the secrets volume: Docker refuses it`);
          assert.deepEqual([file.permissions, file.owner, file.group], ["0600", "0", "0"], file.file);
        }
        const node = mocks.named(`lb-node-${n}`);
        const labels = node.inputs.labels as { label: string; value: string }[];
        assert.deepEqual(
          labels.find((l) => l.label === "dnlb.secrets"),
          { label: "dnlb.secrets", value: `container-lb-node-${n}-secrets-1` },
          "new secrets (a new carrier) must replace the node that reads them",
        );
      }
    });

    it("runs each node on a read-only root with no new privileges and the default memory limit", async function () {
      const { lb } = deploy("lb", {});
      await promiseOf(lb.connection);
      for (const n of [1, 2]) {
        const node = mocks.named(`lb-node-${n}`);
        assert.equal(node.inputs.readOnly, true);
        assert.deepEqual(node.inputs.tmpfs, { "/tmp": "rw,noexec,nosuid,nodev,size=16m" });
        assert.deepEqual(node.inputs.securityOpts, ["no-new-privileges:true"]);
        assert.equal(node.inputs.memory, 2048);
        assert.deepEqual(node.inputs.uploads, [], "Docker writes no file onto a read-only root: the node takes no uploads");
        assert.equal(node.inputs.mustRun, true);
      }
    });

    it("sets the memory limit the user gives, and refuses one out of range naming the field", async function () {
      const { lb } = deploy("small", { nodes: 1, memoryLimitMiB: 512 });
      await promiseOf(lb.connection);
      assert.equal(mocks.named("small-node-1").inputs.memory, 512);
      for (const bad of [255, 1_048_577, 1.5]) {
        assert.throws(
          () => new LoadBalancer("bad", { memoryLimitMiB: bad }),
          (err: unknown) => err instanceof LoadBalancerArgsError && err.message.includes(`memoryLimitMiB must be an integer from 256 to 1048576 (got ${bad})`),
        );
      }
    });

    it("hands the token and seed to the containers as secret inputs, never in plain text", async function () {
      const { lb, children } = deploy("lb", {});
      await promiseOf(lb.connection);
      const containers = childrenOf(children, CONTAINER);
      assert.equal(containers.length, 4, "a node and its secrets carrier per node");
      for (const c of containers) {
        const opts = c.opts as pulumi.CustomResourceOptions;
        assert.equal(opts.deleteBeforeReplace, true, "a replacement must free the node's address (and the carrier's name) first");
        assert.deepEqual(c.props.envs, [], `${c.name} has an environment`);
        if (!c.name.endsWith("-secrets")) continue;
        const uploads = c.props.uploads as { content: pulumi.Output<string> }[];
        assert.equal(uploads.length, 2);
        for (const upload of uploads) assert.equal(await pulumi.isSecret(upload.content), true, `${c.name} upload is not secret`);
        assert.deepEqual(opts.additionalSecretOutputs, ["uploads"]);
      }
      const secrets = children.find((c) => c.name === "lb-secrets");
      assert.ok(secrets, "a generated-secrets resource exists when token and seed are not given");
      assert.deepEqual((secrets.opts as pulumi.CustomResourceOptions).additionalSecretOutputs, ["token", "hashSeed"]);
    });

    it("parents and names every child under the component", async function () {
      const { lb, children } = deploy("edge", { nodes: 2 });
      await promiseOf(lb.connection);
      const own = children.filter((c) => c.resource !== lb);
      assert.deepEqual(own.map((c) => c.name).sort(), [
        "edge-image",
        "edge-node-1",
        "edge-node-1-secrets",
        "edge-node-1-secrets",
        "edge-node-1-state",
        "edge-node-2",
        "edge-node-2-secrets",
        "edge-node-2-secrets",
        "edge-node-2-state",
        "edge-secrets",
      ]);
      for (const c of own) assert.equal(c.opts.parent, lb, `${c.name} is not parented to the component`);
      const urns = await Promise.all(own.map((c) => promiseOf(c.resource.urn)));
      for (const urn of urns) assert.ok(urn.includes("dnlb:index:LoadBalancer$"), urn);
    });

    it("exposes a secret connection carrying endpoints, token, seed and a generation of the containers", async function () {
      const { lb } = deploy("lb", {});
      assert.equal(await pulumi.isSecret(lb.connection), true);
      const conn = await promiseOf(lb.connection);
      assert.deepEqual(conn.endpoints, ["http://127.0.1.1:9180", "http://127.0.1.2:9180"]);
      assert.equal(conn.token, "generated-token-for-lb-secrets");
      assert.equal(conn.hashSeed, "00112233445566778899aabbccddeeff");
      assert.equal(conn.subnets, undefined);
      assert.equal(conn.generation, connectionGeneration(["container-lb-node-1-1", "container-lb-node-2-1"]));
      assert.equal(await pulumi.isSecret(lb.endpoints), false, "endpoints are plain");
    });

    it("changes the connection's generation when a node container is replaced", async function () {
      const first = await promiseOf(deploy("lb", {}).lb.connection);
      mocks.containerEpoch = 2; // every container gets a new id, as after a replacement
      const second = await promiseOf(deploy("lb", {}).lb.connection);
      assert.notEqual(first.generation, second.generation);
      assert.deepEqual(second.endpoints, first.endpoints, "same addresses, same endpoints");
      assert.equal(connectionGeneration(["a", "b"]), connectionGeneration(["a", "b"]));
      assert.notEqual(connectionGeneration(["a", "b"]), connectionGeneration(["a", "c"]));
    });
  });

  describe("one node with a prebuilt image and given secrets", function () {
    const token = "a-token-of-at-least-16-chars";
    const seed = "ffeeddccbbaa99887766554433221100";

    it("pulls the image (keeping it on destroy) instead of building, and generates nothing", async function () {
      const { lb, children } = deploy("solo", {
        nodes: 1,
        image: "registry.example/dnlb:1.0",
        adminToken: token,
        hashSeed: pulumi.secret(seed),
        subnets: ["10.0.0.0/16"],
      });
      const conn = await promiseOf(lb.connection);
      assert.equal(mocks.ofType(IMAGE).length, 0);
      const pulled = mocks.ofType(REMOTE_IMAGE);
      assert.equal(pulled.length, 1);
      assert.equal(pulled[0].inputs.name, "registry.example/dnlb:1.0");
      assert.equal(pulled[0].inputs.keepLocally, true);
      assert.equal(children.find((c) => c.name === "solo-secrets"), undefined);
      const container = mocks.named("solo-node-1");
      assert.equal(container.inputs.image, "sha256:pulled-solo-image");
      const files = uploadsOf(carrierOf("solo-node-1").inputs);
      assert.equal(files.get(SECRET_FILES.adminToken)?.content, token);
      assert.equal(files.get(SECRET_FILES.hashSeed)?.content, seed);
      const carrier = childrenOf(children, CONTAINER).find((c) => c.name === "solo-node-1-secrets")!;
      for (const upload of carrier.props.uploads as { content: pulumi.Output<string> }[]) {
        assert.equal(await pulumi.isSecret(upload.content), true, "a token given in plain text is still kept secret");
      }
      assert.deepEqual(conn.endpoints, ["http://127.0.1.1:9180"]);
      assert.equal(conn.token, token);
      assert.equal(conn.hashSeed, seed);
      assert.deepEqual(conn.subnets, ["10.0.0.0/16"]);
    });

    it("passes a custom base image as the BASE_IMAGE build argument", async function () {
      const { lb } = deploy("based", { nodes: 1, baseImage: "dnlb-test-base:local" });
      await promiseOf(lb.connection);
      const build = mocks.ofType(IMAGE)[0].inputs.build as { args: Record<string, string> };
      assert.deepEqual(build.args, { BASE_IMAGE: "dnlb-test-base:local" });
    });
  });

  describe("nodes on remote Docker hosts", function () {
    it("creates one Docker provider and one image build per host, and reaches each node by its host name", async function () {
      const { lb } = deploy("multi", {
        nodes: [
          { dockerHost: "ssh://ops@lb-1", adminAddress: "10.0.0.10" },
          { dockerHost: "ssh://ops@lb-2", listenAddress: "192.0.2.11", adminAddress: "10.0.0.11", adminPort: 9200 },
          { dockerHost: "ssh://ops@lb-2", listenAddress: "192.0.2.12", adminAddress: "10.0.0.12", adminPort: 9201 },
          {},
        ],
      });
      const conn = await promiseOf(lb.connection);
      assert.deepEqual(conn.endpoints, ["https://10.0.0.10:9180", "https://10.0.0.11:9200", "https://10.0.0.12:9201", "http://127.0.1.4:9180"]);
      const providers = mocks.ofType(DOCKER_PROVIDER);
      assert.deepEqual(
        providers.map((p) => [p.name, p.inputs.host]),
        [
          ["multi-docker-h1", "ssh://ops@lb-1"],
          ["multi-docker-h2", "ssh://ops@lb-2"],
        ],
      );
      const images = mocks.ofType(IMAGE);
      assert.deepEqual(images.map((i) => i.name).sort(), ["multi-image", "multi-image-h1", "multi-image-h2"]);
      assert.ok(images.find((i) => i.name === "multi-image-h1")!.provider!.includes("::multi-docker-h1::"));
      const containers = mocks.ofType(CONTAINER);
      const byName = new Map(containers.map((c) => [c.name, c]));
      assert.ok(byName.get("multi-node-1")!.provider!.includes("::multi-docker-h1::"));
      assert.equal(byName.get("multi-node-1")!.inputs.image, "sha256:built-multi-image-h1");
      assert.ok(byName.get("multi-node-3")!.provider!.includes("::multi-docker-h2::"));
      assert.equal(byName.get("multi-node-3")!.inputs.image, "sha256:built-multi-image-h2");
      // Listeners take every address of the host; the admin API only its management address.
      assert.deepEqual((byName.get("multi-node-1")!.inputs.command as string[]).slice(0, 4), [
        "--admin-listen",
        "10.0.0.10:9180",
        "--listen-address",
        "0.0.0.0",
      ]);
      const localProvider = byName.get("multi-node-4")!.provider ?? "";
      assert.ok(!localProvider.includes("multi-docker"), "the local node uses the default provider");
      assert.equal(byName.get("multi-node-4")!.inputs.image, "sha256:built-multi-image");
    });
  });

  describe("the admin address", function () {
    function adminListen(name: string): string {
      const command = mocks.named(name).inputs.command as string[];
      return command[command.indexOf("--admin-listen") + 1];
    }

    it("defaults to the host's IP when dockerHost names the host by IP, never to every address", async function () {
      const { lb } = deploy("byip", { nodes: [{ dockerHost: "ssh://ops@10.0.0.21" }, { dockerHost: "tcp://[fd00::22]:2375" }] });
      assert.deepEqual((await promiseOf(lb.connection)).endpoints, ["https://10.0.0.21:9180", "https://[fd00::22]:9180"]);
      assert.equal(adminListen("byip-node-1"), "10.0.0.21:9180");
      assert.equal(adminListen("byip-node-2"), "[fd00::22]:9180");
      const hc = mocks.named("byip-node-1").inputs.healthcheck as { tests: string[] };
      assert.ok(hc.tests.join(" ").includes("https://10.0.0.21:9180/healthz"), "Docker's probe asks the admin address");
    });

    it("keeps a local node's admin API on loopback when its listeners bind another address", async function () {
      const { lb } = deploy("pub", { nodes: [{ listenAddress: "192.0.2.7" }, { listenAddress: "192.0.2.8" }] });
      assert.deepEqual((await promiseOf(lb.connection)).endpoints, ["http://127.0.1.1:9180", "http://127.0.1.2:9180"]);
      assert.equal(adminListen("pub-node-1"), "127.0.1.1:9180");
      const command = mocks.named("pub-node-1").inputs.command as string[];
      assert.equal(command[command.indexOf("--listen-address") + 1], "192.0.2.7");
      const { lb: wide } = deploy("wide", { nodes: [{ listenAddress: "0.0.0.0" }] });
      assert.deepEqual((await promiseOf(wide.connection)).endpoints, ["http://127.0.1.1:9180"], "listeners on every address, the admin API on loopback");
    });

    it("binds the address given, for /metrics too (the admin server serves it)", async function () {
      const { lb } = deploy("given", { nodes: [{ dockerHost: "ssh://ops@lb-1", adminAddress: "fd00::10", listenAddress: "203.0.113.5" }] });
      assert.deepEqual((await promiseOf(lb.connection)).endpoints, ["https://[fd00::10]:9180"]);
      assert.equal(adminListen("given-node-1"), "[fd00::10]:9180");
    });
  });

  describe("the admin plane over TLS", function () {
    const ADMIN_CERTIFICATES = "pulumi-nodejs:dynamic/dnlb:AdminCertificates";
    const TLS_FLAGS = ["--tls-cert-file", SECRET_FILES.tlsCertificate, "--tls-key-file", SECRET_FILES.tlsKey];

    function commandOf(name: string): string[] {
      return mocks.named(name).inputs.command as string[];
    }

    function hasTlsFlags(name: string): boolean {
      return commandOf(name).join(" ").includes(TLS_FLAGS.join(" "));
    }

    /** The node's certificate as its carrier wrote it, checked against the connection's CA. */
    function certificateOf(nodeName: string, caPem: string): X509Certificate {
      const files = uploadsOf(carrierOf(nodeName).inputs);
      const certificate = new X509Certificate(files.get(SECRET_FILES.tlsCertificate)!.content);
      assert.ok(certificate.verify(new X509Certificate(caPem).publicKey), `${nodeName}'s certificate is not signed by the connection's CA`);
      return certificate;
    }

    it("serves every remote node's admin API over HTTPS with a certificate the connection's CA signed, and keeps loopback nodes on HTTP", async function () {
      const { lb } = deploy("mixed", {
        nodes: [{ dockerHost: "ssh://ops@lb-1.internal", adminAddress: "10.0.0.31" }, { dockerHost: "ssh://ops@10.0.0.32" }, {}],
      });
      const conn = await promiseOf(lb.connection);
      assert.deepEqual(conn.endpoints, ["https://10.0.0.31:9180", "https://10.0.0.32:9180", "http://127.0.1.3:9180"]);
      assert.deepEqual(await promiseOf(lb.endpoints), conn.endpoints);
      assert.match(conn.caCertificate ?? "", /^-----BEGIN CERTIFICATE-----/);
      assert.deepEqual(checkConnection(conn).failures, [], "the providers' check accepts the connection");

      for (const [node, address] of [["mixed-node-1", "10.0.0.31"], ["mixed-node-2", "10.0.0.32"]] as const) {
        assert.ok(hasTlsFlags(node), `${node} starts without the TLS flags: ${commandOf(node).join(" ")}`);
        const hc = mocks.named(node).inputs.healthcheck as { tests: string[] };
        assert.ok(hc.tests.join(" ").includes(`https://${address}:9180/healthz`), hc.tests.join(" "));
        const certificate = certificateOf(node, conn.caCertificate!);
        assert.equal(certificate.checkIP(address), address, `${node}'s certificate does not name ${address}: ${certificate.subjectAltName}`);
        assert.equal(certificate.checkIP("10.0.0.99"), undefined);
      }
      // The host's name is in the certificate too, for a client that dials it by name.
      assert.equal(certificateOf("mixed-node-1", conn.caCertificate!).checkHost("lb-1.internal"), "lb-1.internal");

      assert.ok(!hasTlsFlags("mixed-node-3"), "a loopback node serves plain HTTP under auto");
      assert.deepEqual([...uploadsOf(carrierOf("mixed-node-3").inputs).keys()], [SECRET_FILES.adminToken, SECRET_FILES.hashSeed]);
    });

    it("issues every certificate from one AdminCertificates child naming each TLS node's address and host name", async function () {
      const { lb, children } = deploy("mixed", {
        nodes: [{ dockerHost: "ssh://ops@lb-1.internal", adminAddress: "10.0.0.31" }, { dockerHost: "ssh://ops@10.0.0.32" }, {}],
      });
      await promiseOf(lb.connection);
      const issued = mocks.ofType(ADMIN_CERTIFICATES);
      assert.deepEqual(
        issued.map((r) => r.name),
        ["mixed-admin-certificates"],
      );
      assert.deepEqual(issued[0].inputs.nodes, [
        { name: "mixed-node-1", adminAddress: "10.0.0.31", hostNames: ["lb-1.internal"] },
        { name: "mixed-node-2", adminAddress: "10.0.0.32" },
      ]);
      const child = children.find((c) => c.name === "mixed-admin-certificates")!;
      assert.equal(child.opts.parent, lb);
      assert.ok((child.opts as pulumi.CustomResourceOptions).additionalSecretOutputs?.includes("privateKeys"), "node keys must be secret outputs in the state");
      assert.ok((child.opts as pulumi.CustomResourceOptions).additionalSecretOutputs?.includes("caPrivateKey"));
    });

    it("uploads the certificate and key 0600 root:root through the carrier, the key as a secret", async function () {
      const { lb, children } = deploy("remote", { nodes: [{ dockerHost: "ssh://ops@10.0.0.41" }] });
      await promiseOf(lb.connection);
      const files = uploadsOf(carrierOf("remote-node-1").inputs);
      assert.deepEqual([...files.keys()], [SECRET_FILES.adminToken, SECRET_FILES.hashSeed, SECRET_FILES.tlsCertificate, SECRET_FILES.tlsKey]);
      for (const file of files.values()) assert.deepEqual([file.permissions, file.owner, file.group], ["0600", "0", "0"], file.file);
      assert.match(files.get(SECRET_FILES.tlsKey)!.content, /^-----BEGIN RSA PRIVATE KEY-----/);
      const carrier = childrenOf(children, CONTAINER).find((c) => c.name === "remote-node-1-secrets")!;
      const uploads = carrier.props.uploads as { file: string; content: pulumi.Output<string> }[];
      const key = uploads.find((u) => u.file === SECRET_FILES.tlsKey)!;
      assert.equal(await pulumi.isSecret(key.content), true, "the TLS key is not a secret output");
      // The node container itself takes no file and no environment: the key is only in the secrets volume.
      const node = mocks.named("remote-node-1");
      assert.deepEqual(node.inputs.uploads, []);
      assert.ok(!JSON.stringify(node.inputs).includes("PRIVATE KEY"), "the key is in the node container's inputs");
    });

    it('serves loopback nodes over HTTPS too with adminTls "always", and refuses other modes naming them', async function () {
      const { lb } = deploy("strict", { nodes: 2, adminTls: "always" });
      const conn = await promiseOf(lb.connection);
      assert.deepEqual(conn.endpoints, ["https://127.0.1.1:9180", "https://127.0.1.2:9180"]);
      for (const n of [1, 2]) {
        assert.ok(hasTlsFlags(`strict-node-${n}`));
        assert.equal(certificateOf(`strict-node-${n}`, conn.caCertificate!).checkIP(`127.0.1.${n}`), `127.0.1.${n}`);
      }
      assert.throws(
        () => new LoadBalancer("bad", { adminTls: "sometimes" as "always" }),
        (err: unknown) => err instanceof LoadBalancerArgsError && err.message.includes('adminTls must be one of "auto", "always" (got "sometimes")'),
      );
    });

    it("issues nothing and pins no CA when every admin API is on loopback", async function () {
      const { lb } = deploy("local", { nodes: 2 });
      const conn = await promiseOf(lb.connection);
      assert.equal(mocks.ofType(ADMIN_CERTIFICATES).length, 0);
      assert.equal(conn.caCertificate, undefined);
      assert.ok(!hasTlsFlags("local-node-1"));
    });

    it("issues a new certificate for a node whose address changes, and keeps the CA and the other nodes' certificates", async function () {
      const nodes = (second: string) => [{ dockerHost: "ssh://ops@10.0.0.51" }, { dockerHost: "ssh://ops@lb-2.internal", adminAddress: second }];
      const first = await promiseOf(deploy("rot", { nodes: nodes("10.0.0.52") }).lb.connection);
      const before = new Map([1, 2].map((n) => [n, uploadsOf(carrierOf(`rot-node-${n}`).inputs)]));
      mocks.registered.length = 0;
      const second = await promiseOf(deploy("rot", { nodes: nodes("10.0.0.62") }).lb.connection);
      const after = new Map([1, 2].map((n) => [n, uploadsOf(carrierOf(`rot-node-${n}`).inputs)]));

      assert.equal(second.caCertificate, first.caCertificate, "the CA outlives a node's address change");
      assert.deepEqual(second.endpoints, ["https://10.0.0.51:9180", "https://10.0.0.62:9180"]);
      for (const file of [SECRET_FILES.tlsCertificate, SECRET_FILES.tlsKey]) {
        assert.equal(after.get(1)!.get(file)!.content, before.get(1)!.get(file)!.content, `node 1's ${file} changed`);
        assert.notEqual(after.get(2)!.get(file)!.content, before.get(2)!.get(file)!.content, `node 2's ${file} was not issued again`);
      }
      const renewed = certificateOf("rot-node-2", second.caCertificate!);
      assert.equal(renewed.checkIP("10.0.0.62"), "10.0.0.62");
      assert.equal(renewed.checkIP("10.0.0.52"), undefined, "the new certificate still names the old address");
    });
  });

  describe("arguments rejected before anything is created", function () {
    function rejects(args: LoadBalancerArgs, pattern: RegExp): void {
      assertArgsRefused(mocks, () => new LoadBalancer("bad", args), pattern);
    }

    it("refuses node counts outside 1-16 with the model's message", function () {
      rejects({ nodes: 17 }, /nodes must be an integer from 1 to 16 \(got 17\)/);
      rejects({ nodes: 0 }, /got 0/);
    });

    it("refuses two nodes on one Docker host sharing an address, or one binding every address", function () {
      rejects({ nodes: [{ listenAddress: "127.0.1.9" }, { listenAddress: "127.0.1.9", adminPort: 9181 }] }, /nodes\[1\]\.listenAddress 127\.0\.1\.9 collides with nodes\[0\]/);
      rejects({ nodes: [{ listenAddress: "0.0.0.0" }, {}] }, /collides with nodes\[0\] \(0\.0\.0\.0\)/);
    });

    it("requires an admin address for a remote host named by a host name, saying what to set", function () {
      rejects(
        { nodes: [{}, { dockerHost: "ssh://ops@lb-2" }] },
        /nodes\[1\]\.adminAddress is required for a node on ssh:\/\/ops@lb-2: .*"lb-2" is a name, not an IP to bind\. Set nodes\[1\]\.adminAddress to the host's private IP \(e\.g\. 10\.0\.0\.11\), or name the host by that IP in dockerHost/,
      );
    });

    it("refuses a loopback admin address on a remote host, a hostname, and two admin APIs on one address and port", function () {
      rejects({ nodes: [{ dockerHost: "ssh://ops@10.0.0.5", adminAddress: "127.0.0.1" }] }, /nodes\[0\]\.adminAddress 127\.0\.0\.1 is a loopback address of ssh:\/\/ops@10\.0\.0\.5: Pulumi, on this machine, cannot reach it/);
      rejects({ nodes: [{ adminAddress: "mgmt.example" }] }, /nodes\[0\]\.adminAddress must be an IPv4 or IPv6 address, not a hostname/);
      rejects(
        { nodes: [{ listenAddress: "127.0.1.8", adminAddress: "127.0.1.9" }, { listenAddress: "127.0.1.9" }] },
        /nodes\[1\]'s admin API 127\.0\.1\.9:9180 collides with nodes\[0\]'s \(127\.0\.1\.9:9180\) on the local Docker engine/,
      );
    });

    it("refuses a base image together with a prebuilt image", function () {
      rejects({ image: "x:1", baseImage: "node:22" }, /give one of them, not both/);
    });

    it("refuses a short admin token, a malformed seed, a hostname as listen address and other network modes", function () {
      rejects({ adminToken: "short" }, /adminToken/);
      rejects({ hashSeed: "not-hex" }, /hashSeed/);
      rejects({ nodes: [{ listenAddress: "lb.example" }] }, /nodes\[0\]\.listenAddress must be an IPv4 or IPv6 address, not a hostname/);
      rejects({ networkMode: "bridge" as "host" }, /only host networking is supported/);
    });

    it("checks arguments given as outputs with the same messages once they are known", function () {
      assert.throws(() => checkKnownArg("later", "adminToken", "short"), (err: unknown) => err instanceof LoadBalancerArgsError && /adminToken/.test(err.message));
      assert.throws(() => checkKnownArg("later", "subnets", ["10.0.0.0/33"]), /subnets\[0\] must be a CIDR/);
      assert.doesNotThrow(() => checkKnownArg("later", "hashSeed", "00112233445566778899aabbccddeeff"));
    });
  });

  describe("one VIP announced over BGP (vip)", function () {
    const peers = [
      { address: "10.0.1.1", asn: 65000 },
      { address: "10.0.2.1", asn: 65000 },
    ];
    const vip = { address: "10.99.0.1", bgp: { localAsn: 65001, peers } };

    function vipRejects(given: unknown, pattern: RegExp): void {
      const before = mocks.registered.length;
      assert.throws(
        () => new LoadBalancer("bad-vip", { nodes: 1, vip: given as LoadBalancerArgs["vip"] }),
        (err: unknown) => err instanceof LoadBalancerArgsError && pattern.test(err.message),
        `vip ${JSON.stringify(given)} should be refused with ${pattern}`,
      );
      assert.equal(mocks.registered.length, before, "nothing was registered");
    }

    it("gives every node, each on its own host, the VIP flags, the VIP as listen address, its own address as router id, and CAP_NET_ADMIN besides NET_BIND_SERVICE", async function () {
      const nodes = [1, 2].map((n) => ({ dockerHost: `ssh://ops@10.0.0.2${n}`, listenAddress: `10.0.0.2${n}` }));
      const { lb } = deploy("edge", { nodes, vip: { ...vip, bgp: { ...vip.bgp, peers: peers.map((p) => ({ ...p, bfd: true, holdTimeSeconds: 9 })) } } });
      await promiseOf(lb.connection);
      for (const n of [1, 2]) {
        const c = mocks.named(`edge-node-${n}`);
        const command = c.inputs.command as string[];
        // The node refuses a listen address other than the VIP.
        assert.equal(command[command.indexOf("--listen-address") + 1], "10.99.0.1");
        assert.deepEqual(command.slice(command.indexOf("--vip")), [
          ...["--vip", "10.99.0.1", "--bgp-local-asn", "65001", "--bgp-router-id", `10.0.0.2${n}`],
          ...["--bgp-peer", "10.0.1.1:65000,hold=9,bfd=on", "--bgp-peer", "10.0.2.1:65000,hold=9,bfd=on"],
        ]);
        assert.deepEqual(c.inputs.capabilities, { drops: ["ALL"], adds: ["NET_BIND_SERVICE", "NET_ADMIN"] });
      }
    });

    it("defaults the hold time to 3 s without BFD, and brackets an IPv6 peer", async function () {
      const { lb } = deploy("edge6", { nodes: 1, vip: { address: "fd00:99::1", bgp: { localAsn: 4_200_000_000, peers: [{ address: "fd00:1::1", asn: 65000 }] } } });
      await promiseOf(lb.connection);
      const command = mocks.named("edge6-node-1").inputs.command as string[];
      assert.deepEqual(command.slice(command.indexOf("--vip")), [
        ...["--vip", "fd00:99::1", "--bgp-local-asn", "4200000000", "--bgp-router-id", "127.0.1.1"],
        ...["--bgp-peer", "[fd00:1::1]:65000,hold=3"],
      ]);
    });

    it("adds no flag and no capability without a vip", async function () {
      const { lb } = deploy("plain", { nodes: 1 });
      await promiseOf(lb.connection);
      const c = mocks.named("plain-node-1");
      assert.ok(!(c.inputs.command as string[]).some((a) => a.startsWith("--vip") || a.startsWith("--bgp")));
      assert.deepEqual(c.inputs.capabilities, { drops: ["ALL"], adds: ["NET_BIND_SERVICE"] });
    });

    it("refuses ASNs, addresses, peers and hold times out of range before anything is created, naming the field", function () {
      const withPeers = (list: unknown[]) => ({ ...vip, bgp: { ...vip.bgp, peers: list } });
      vipRejects({ ...vip, bgp: { ...vip.bgp, localAsn: 0 } }, /vip\.bgp\.localAsn must be an integer from 1 to 4294967295 \(got 0\)/);
      vipRejects({ ...vip, bgp: { ...vip.bgp, localAsn: 4_294_967_296 } }, /vip\.bgp\.localAsn must be an integer from 1 to 4294967295 \(got 4294967296\)/);
      vipRejects(withPeers([{ address: "10.0.1.1", asn: 0 }]), /vip\.bgp\.peers\[0\]\.asn must be an integer from 1 to 4294967295 \(got 0\)/);
      vipRejects({ ...vip, address: "224.0.0.5" }, /vip\.address must be a unicast address \(got "224\.0\.0\.5"\): a multicast address names a group/);
      vipRejects({ ...vip, address: "0.0.0.0" }, /vip\.address must be a unicast address \(got "0\.0\.0\.0"\)/);
      vipRejects({ ...vip, address: "vip.example" }, /vip\.address must be an IPv4 or IPv6 address, not a hostname/);
      vipRejects(withPeers([peers[0], { ...peers[1], address: "10.0.1.1" }]), /vip\.bgp\.peers\[1\]\.address repeats peers\[0\] \(10\.0\.1\.1\): one session per router/);
      vipRejects(withPeers([]), /vip\.bgp\.peers must be a list of 1 to 16 entries \(got 0 entries\)/);
      for (const hold of [1, 2, 65536, 2.5]) {
        vipRejects(withPeers([{ ...peers[0], holdTimeSeconds: hold }]), new RegExp(`vip\\.bgp\\.peers\\[0\\]\\.holdTimeSeconds must be 0 \\(no hold timer\\) or an integer from 3 to 65535 seconds \\(got ${hold}\\)`));
      }
      vipRejects(withPeers([{ address: "fd00:1::1", asn: 65000 }]), /vip\.bgp\.peers\[0\]\.address "fd00:1::1" is not of the VIP's address family/);
      vipRejects({ ...vip, bgp: { ...vip.bgp, routerId: "1.2.3.4" } }, /vip\.bgp\.routerId is not a field of the VIP's BGP \(allowed: localAsn, peers\)/);
    });

    it("gives each peer its own hold time and BFD: one with BFD and hold 9, one with the defaults", async function () {
      const { lb } = deploy("mixed", { nodes: 1, vip: { ...vip, bgp: { ...vip.bgp, peers: [{ ...peers[0], bfd: true, holdTimeSeconds: 9 }, { ...peers[1], bfd: false }] } } });
      await promiseOf(lb.connection);
      const command = mocks.named("mixed-node-1").inputs.command as string[];
      assert.deepEqual(command.slice(command.indexOf("--bgp-peer")), ["--bgp-peer", "10.0.1.1:65000,hold=9,bfd=on", "--bgp-peer", "10.0.2.1:65000,hold=3"]);
    });

    it("refuses two VIP nodes on one Docker host, naming the node and the host", function () {
      const before = mocks.registered.length;
      assert.throws(
        () => new LoadBalancer("crowded", { nodes: [{ listenAddress: "127.0.1.21" }, { listenAddress: "127.0.1.22" }], vip }),
        (err: unknown) =>
          err instanceof LoadBalancerArgsError &&
          /nodes\[1\]\.dockerHost \(the local Docker engine\) is nodes\[0\]'s too: with vip every node's listeners bind 10\.99\.0\.1 on its host, so each node needs a Docker host of its own/.test(err.message),
      );
      assert.equal(mocks.registered.length, before, "nothing was registered");
    });

    it("accepts a hold time of 0 (no hold timer) and the largest ASN", function () {
      assert.doesNotThrow(() => new LoadBalancer("zero-hold", { nodes: 1, vip: { address: "10.99.0.1", bgp: { localAsn: 4_294_967_295, peers: [{ address: "10.0.1.1", asn: 1, holdTimeSeconds: 0 }] } } }));
    });
  });

  it("uses the forwarder entrypoint the Dockerfile declares", function () {
    const dockerfile = fs.readFileSync(path.join(__dirname, "..", "..", "..", "provider", "forwarder", "Dockerfile"), "utf8");
    assert.ok(dockerfile.includes(`ENTRYPOINT ${JSON.stringify([...FORWARDER_ENTRYPOINT]).replace(/,/g, ", ")}`), "ENTRYPOINT differs");
    assert.ok(dockerfile.includes(`VOLUME ["${NODE_STATE_DIR}"]`));
    assert.ok(!/^USER /m.test(dockerfile), "the container spec, not the image, decides the user and its capabilities");
  });
});
