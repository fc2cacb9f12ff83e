import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import { QUICKSTART, quickstart } from "../../examples/quickstart/program";
import { SECRET_SIG_KEY } from "../../provider/resources/secrets";
import { promiseOf } from "../support/pulumi";
import { RecordingMocks } from "./mocks";

/** The program `npm run up` deploys, under the mocked engine: what it creates and what it tells the user. */
describe("quickstart example (mocked engine)", function () {
  // The first LoadBalancer stages the image build context (copies the forwarder and its modules).
  this.timeout(60_000);
  let mocks: RecordingMocks;

  before(async function () {
    mocks = new RecordingMocks();
    await pulumi.runtime.setMocks(mocks, "dnlb-quickstart", "local", false);
  });

  it("declares two nodes, three weighted demo backends and the configuration on port 8080", async function () {
    const outputs = quickstart();
    const endpoints = await promiseOf(outputs.endpoints);
    assert.deepEqual(endpoints, ["http://127.0.1.1:9180", "http://127.0.1.2:9180"]);
    await promiseOf(outputs.listenerId);
    assert.deepEqual(outputs.listeners, ["127.0.1.1:8080", "127.0.1.2:8080"]);

    const backends = mocks.ofType("docker:index/container:Container").filter((c) => c.name.startsWith("quickstart-b"));
    assert.deepEqual(backends.map((b) => b.name).sort(), ["quickstart-b1", "quickstart-b2", "quickstart-b3"]);
    for (const b of backends) {
      assert.equal(b.inputs.networkMode, "host");
      assert.equal(b.inputs.image, "sha256:built-quickstart-image", "demo backends run from the forwarder image");
      assert.deepEqual(b.inputs.entrypoints, ["node"]);
    }
    const types = mocks.registered.map((r) => r.type);
    for (const kind of ["HealthCheck", "VirtualServerGroup", "BackendService", "Listener"]) {
      assert.ok(types.includes(`pulumi-nodejs:dynamic/dnlb:${kind}`), `no ${kind} in ${types.join(", ")}`);
    }
    const group = mocks.named("web");
    const members = (group.inputs.members as { address: string; weight: number }[]).map((m) => [m.address, m.weight]);
    assert.deepEqual(members, QUICKSTART.backends.map((b) => [b.address, b.weight]));
    const listener = mocks.registered.find((r) => r.type === "pulumi-nodejs:dynamic/dnlb:Listener")!;
    assert.equal(listener.inputs.port, 8080);

    assert.match(outputs.tryIt, /curl -s http:\/\/127\.0\.1\.1:8080\//);
    assert.equal(await pulumi.isSecret(outputs.adminToken), true);
  });

  it("prints a status command that finds the token wherever the stack lives: in the first node's token file", async function () {
    const outputs = quickstart();
    const command = await promiseOf(outputs.memberHealth);
    assert.equal(
      command,
      `curl -s -H "Authorization: Bearer $(docker exec quickstart-node-1 node -p "require('fs').readFileSync('/run/dnlb/admin-token','utf8')")" http://127.0.1.1:9180/v1/status`,
    );
    // The container it names is the first node's, and that node reads its token from that file,
    // which its secrets carrier writes.
    const containers = mocks.ofType("docker:index/container:Container");
    const node = containers.find((c) => c.inputs.name === "quickstart-node-1");
    assert.ok(node, "no container named quickstart-node-1");
    const nodeCommand = node.inputs.command as string[];
    assert.ok(nodeCommand.includes("127.0.1.1:9180"), JSON.stringify(nodeCommand));
    assert.equal(nodeCommand[nodeCommand.indexOf("--token-file") + 1], "/run/dnlb/admin-token");
    const carrier = containers.find((c) => c.inputs.name === "quickstart-node-1-secrets");
    assert.ok(carrier, "no secrets carrier for quickstart-node-1");
    const uploads = (carrier.inputs.uploads as { [SECRET_SIG_KEY]?: string; value?: { file: string; content: string }[] }).value ?? [];
    const token = uploads.find((u) => u.file === "/run/dnlb/admin-token");
    assert.ok(token && token.content.length >= 16, "the carrier writes no admin token");
  });
});
