import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { FORWARDER_ENTRYPOINT, NODE_STATE_DIR, SEED_ENV, TOKEN_ENV } from "../../provider/resources/node-container";
import {
  checkKnownArg,
  connectionGeneration,
  DEFAULT_BASE_IMAGE,
  LoadBalancer,
  LoadBalancerArgs,
  LoadBalancerArgsError,
} from "../../provider/resources/load-balancer";
import { SECRET_SIG, SECRET_SIG_KEY } from "../../provider/resources/secrets";
import { promiseOf } from "../support/pulumi";
import { Child, recordChildren, RecordingMocks } from "./mocks";

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
  });

  function deploy(name: string, args: LoadBalancerArgs): { lb: LoadBalancer; children: Child[] } {
    const children: Child[] = [];
    const lb = new LoadBalancer(name, args, { transformations: [recordChildren(children)] });
    return { lb, children };
  }

  function childrenOf(children: Child[], type: string): Child[] {
    return children.filter((c) => c.type === type);
  }

  /** The container's environment as the engine received it; it must arrive marked secret. */
  function envOf(inputs: Record<string, unknown>): Map<string, string> {
    const envs = inputs.envs as { [SECRET_SIG_KEY]?: string; value?: string[] };
    assert.equal(envs[SECRET_SIG_KEY], SECRET_SIG, `envs reached the engine in plain text: ${JSON.stringify(envs)}`);
    return new Map(envs.value!.map((pair) => [pair.slice(0, pair.indexOf("=")), pair.slice(pair.indexOf("=") + 1)]));
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
      const containers = mocks.ofType(CONTAINER);
      assert.deepEqual(
        containers.map((c) => c.name),
        ["lb-node-1", "lb-node-2"],
      );
      assert.deepEqual(
        mocks.ofType(VOLUME).map((v) => v.inputs.name),
        ["lb-node-1-state", "lb-node-2-state"],
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
        ]);
        assert.equal(c.inputs.entrypoints, undefined, "the image's entrypoint runs the forwarder");
        assert.deepEqual(c.inputs.volumes, [{ volumeName: `lb-node-${n}-state`, containerPath: NODE_STATE_DIR }]);
        const hc = c.inputs.healthcheck as { tests: string[] };
        assert.equal(hc.tests[0], "CMD");
        assert.ok(hc.tests.join(" ").includes(`http://127.0.1.${n}:9180/healthz`), hc.tests.join(" "));
        assert.equal(c.inputs.wait, true, "pushing configuration waits for a healthy node");
        const env = envOf(c.inputs);
        assert.equal(env.get(TOKEN_ENV), "generated-token-for-lb-secrets");
        assert.equal(env.get(SEED_ENV), "00112233445566778899aabbccddeeff");
      });
    });

    it("hands the token and seed to the containers as secret inputs, never in plain text", async function () {
      const { lb, children } = deploy("lb", {});
      await promiseOf(lb.connection);
      const containers = childrenOf(children, CONTAINER);
      assert.equal(containers.length, 2);
      for (const c of containers) {
        const envs = c.props.envs as pulumi.Output<string>[];
        assert.equal(envs.length, 2);
        for (const env of envs) assert.equal(await pulumi.isSecret(env), true, `${c.name} env is not secret`);
        const opts = c.opts as pulumi.CustomResourceOptions;
        assert.deepEqual(opts.additionalSecretOutputs, ["envs"]);
        assert.equal(opts.deleteBeforeReplace, true, "a replacement must free the node's address first");
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
        "edge-node-1-state",
        "edge-node-2",
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
      const [container] = mocks.ofType(CONTAINER);
      assert.equal(container.inputs.image, "sha256:pulled-solo-image");
      assert.equal(envOf(container.inputs).get(TOKEN_ENV), token);
      assert.equal(envOf(container.inputs).get(SEED_ENV), seed);
      for (const env of childrenOf(children, CONTAINER)[0].props.envs as pulumi.Output<string>[]) {
        assert.equal(await pulumi.isSecret(env), true, "a token given in plain text is still kept secret");
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
          { dockerHost: "ssh://ops@lb-1" },
          { dockerHost: "ssh://ops@lb-2", listenAddress: "10.0.0.11", adminPort: 9200 },
          { dockerHost: "ssh://ops@lb-2", listenAddress: "10.0.0.12", adminPort: 9201 },
          {},
        ],
      });
      const conn = await promiseOf(lb.connection);
      assert.deepEqual(conn.endpoints, ["http://lb-1:9180", "http://10.0.0.11:9200", "http://10.0.0.12:9201", "http://127.0.1.4:9180"]);
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
      assert.deepEqual((byName.get("multi-node-1")!.inputs.command as string[]).slice(0, 4), [
        "--admin-listen",
        "0.0.0.0:9180",
        "--listen-address",
        "0.0.0.0",
      ]);
      const localProvider = byName.get("multi-node-4")!.provider ?? "";
      assert.ok(!localProvider.includes("multi-docker"), "the local node uses the default provider");
      assert.equal(byName.get("multi-node-4")!.inputs.image, "sha256:built-multi-image");
    });
  });

  describe("arguments rejected before anything is created", function () {
    function rejects(args: LoadBalancerArgs, pattern: RegExp): void {
      const before = mocks.registered.length;
      assert.throws(
        () => new LoadBalancer("bad", args),
        (err: unknown) => err instanceof LoadBalancerArgsError && pattern.test(err.message),
      );
      assert.equal(mocks.registered.length, before, "nothing was registered");
    }

    it("refuses node counts outside 1-16 with the model's message", function () {
      rejects({ nodes: 17 }, /nodes must be an integer from 1 to 16 \(got 17\)/);
      rejects({ nodes: 0 }, /got 0/);
    });

    it("refuses two nodes on one Docker host sharing an address, or one binding every address", function () {
      rejects({ nodes: [{ listenAddress: "127.0.1.9" }, { listenAddress: "127.0.1.9", adminPort: 9181 }] }, /nodes\[1\]\.listenAddress 127\.0\.1\.9 collides with nodes\[0\]/);
      rejects({ nodes: [{ listenAddress: "0.0.0.0" }, {}] }, /collides with nodes\[0\] \(0\.0\.0\.0\)/);
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

  it("uses the forwarder entrypoint the Dockerfile declares", function () {
    const dockerfile = fs.readFileSync(path.join(__dirname, "..", "..", "..", "provider", "forwarder", "Dockerfile"), "utf8");
    assert.ok(dockerfile.includes(`ENTRYPOINT ${JSON.stringify([...FORWARDER_ENTRYPOINT]).replace(/,/g, ", ")}`), "ENTRYPOINT differs");
    assert.ok(dockerfile.includes(`VOLUME ["${NODE_STATE_DIR}"]`));
    assert.ok(!/^USER /m.test(dockerfile), "the container spec, not the image, decides the user and its capabilities");
  });
});
