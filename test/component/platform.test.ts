import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { LoadBalancer, LoadBalancerArgs, LoadBalancerArgsError, reportedPlatform } from "../../provider/resources/load-balancer";
import { dockerHostPlatform } from "../../provider/resources/docker-platform";
import { promiseOf } from "../support/pulumi";
import { assertArgsRefused, RecordingMocks } from "./mocks";

const IMAGE = "docker:index/image:Image";
const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
const CONTAINER = "docker:index/container:Container";

/** A Docker engine that answers only `GET /version`, on a unix socket, reporting `os/arch`. */
async function fakeEngine(platform: string): Promise<{ host: string; close: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dnlb-fake-engine-"));
  const socket = path.join(dir, "docker.sock");
  const [Os, Arch] = platform.split("/");
  const server = http.createServer((req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(req.url === "/version" ? JSON.stringify({ Os, Arch, Version: "28.0.0" }) : "{}");
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
  return {
    host: `unix://${socket}`,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The image platform under `pulumi.runtime.setMocks` (installed in `before`, as in
 * load-balancer.test.ts): asked for, reported by the Docker host, or the fallback; validated
 * before anything is created.
 */
describe("LoadBalancer platform (mocked engine)", function () {
  this.timeout(60_000);
  let mocks: RecordingMocks;
  const savedDockerHost = process.env.DOCKER_HOST;

  before(async function () {
    mocks = new RecordingMocks();
    await pulumi.runtime.setMocks(mocks, "dnlb-test", "unit", false);
    // The default engine is unreachable here, whatever runs on this machine.
    process.env.DOCKER_HOST = `unix://${path.join(os.tmpdir(), "dnlb-no-such-engine.sock")}`;
  });

  after(function () {
    if (savedDockerHost === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = savedDockerHost;
  });

  beforeEach(function () {
    mocks.registered.length = 0;
  });

  async function deployed(name: string, args: LoadBalancerArgs): Promise<LoadBalancer> {
    const lb = new LoadBalancer(name, args);
    await promiseOf(lb.connection);
    await promiseOf(lb.platforms);
    return lb;
  }

  function buildOf(name: string): { platform?: string; args: Record<string, string> } {
    const image = mocks.ofType(IMAGE).find((i) => i.name === name);
    assert.ok(image, `no image ${name}`);
    return image.inputs.build as { platform?: string; args: Record<string, string> };
  }

  it("builds for linux/amd64 when the Docker host cannot be asked, and requires every node to run the native engine", async function () {
    const lb = await deployed("plain", {});
    assert.equal(buildOf("plain-image").platform, "linux/amd64");
    assert.deepEqual(await promiseOf(lb.platforms), ["linux/amd64", "linux/amd64"]);
    assert.deepEqual(await promiseOf(lb.engines), ["native", "native"]);
    for (const container of mocks.ofType(CONTAINER).filter((c) => c.inputs.start !== false)) {
      assert.ok((container.inputs.command as string[]).includes("--require-native"), "a node without its relay must exit, not fall back");
    }
  });

  it("builds for the platform the Docker host's engine reports", async function () {
    const engine = await fakeEngine("linux/arm64");
    try {
      assert.equal(await dockerHostPlatform(engine.host), "linux/arm64");
      const lb = await deployed("arm", { nodes: [{ dockerHost: engine.host }] });
      assert.equal(buildOf("arm-image-h1").platform, "linux/arm64");
      assert.deepEqual(await promiseOf(lb.platforms), ["linux/arm64"]);
    } finally {
      await engine.close();
    }
  });

  it("builds for the platform asked for, per LoadBalancer and per node, one image per Docker host", async function () {
    const lb = await deployed("mixed", {
      platform: "linux/arm64",
      nodes: [
        { dockerHost: "ssh://ops@arm-1", listenAddress: "10.0.0.1", adminAddress: "10.0.1.1" },
        { dockerHost: "ssh://ops@x86-1", platform: "linux/amd64", adminAddress: "10.0.1.3" },
        { dockerHost: "ssh://ops@arm-1", listenAddress: "10.0.0.2", adminAddress: "10.0.1.2" },
      ],
    });
    assert.equal(buildOf("mixed-image-h1").platform, "linux/arm64");
    assert.equal(buildOf("mixed-image-h2").platform, "linux/amd64");
    assert.deepEqual(await promiseOf(lb.platforms), ["linux/arm64", "linux/amd64", "linux/arm64"]);
  });

  it("pulls a prebuilt image for the node's platform", async function () {
    await deployed("pulled", { nodes: 1, image: "registry.example/dnlb:1.0", platform: "linux/arm64" });
    const [pulled] = mocks.ofType(REMOTE_IMAGE);
    assert.equal(pulled.inputs.platform, "linux/arm64");
  });

  it("passes builderImage as the BUILDER_IMAGE build argument", async function () {
    await deployed("built", { nodes: 1, builderImage: "dnlb-test-builder:local" });
    assert.deepEqual(buildOf("built-image").args, { BASE_IMAGE: "node:22-bookworm-slim", BUILDER_IMAGE: "dnlb-test-builder:local" });
  });

  describe("arguments rejected before anything is created", function () {
    function rejects(args: LoadBalancerArgs, pattern: RegExp): void {
      assertArgsRefused(mocks, () => new LoadBalancer("bad", args), pattern);
    }

    it("refuses a platform the image is not built for, naming the field and the allowed values", function () {
      rejects({ platform: "linux/386" as "linux/amd64" }, /platform must be one of "linux\/amd64", "linux\/arm64" \(got "linux\/386"\)/);
      rejects({ nodes: [{ platform: "darwin/arm64" as "linux/arm64" }] }, /nodes\[0\]\.platform must be one of "linux\/amd64", "linux\/arm64" \(got "darwin\/arm64"\)/);
    });

    it("refuses two platforms on one Docker host", function () {
      rejects(
        { nodes: [{ platform: "linux/arm64" }, { platform: "linux/amd64" }] },
        /nodes\[1\]\.platform linux\/amd64 differs from nodes\[0\]\.platform linux\/arm64 on the local Docker engine: a Docker host runs one platform/,
      );
    });

    it("refuses a builder image together with a prebuilt image", function () {
      rejects({ image: "x:1", builderImage: "node:22-bookworm" }, /builderImage is a build argument and image is a prebuilt image: give one of them, not both/);
    });

    it("refuses a Docker host that reports a platform the image is not built for", function () {
      assert.throws(
        () => reportedPlatform("lb", "tcp://s390.example:2375", "linux/s390x"),
        (err: unknown) =>
          err instanceof LoadBalancerArgsError &&
          /platform is unset and tcp:\/\/s390\.example:2375 reports linux\/s390x, but the forwarder image is built for linux\/amd64 or linux\/arm64/.test(err.message),
      );
      assert.equal(reportedPlatform("lb", undefined, undefined), "linux/amd64");
    });
  });
});
