import { strict as assert } from "node:assert";
import { TestBackend } from "../forwarder/helpers/backends";
import { slowloris, steeringModel, steeringThroughNode } from "./hostile";
import { CliNode } from "./support";

/** Hostile clients against a real node on 127.0.10.40 (see hostile.ts). */
describe("reliability: hostile clients", function () {
  this.timeout(60_000);
  let node: CliNode;
  const backends: TestBackend[] = [];

  before(async () => {
    node = await CliNode.start({ address: "127.0.10.40" });
    for (let i = 0; i < 4; i++) backends.push(await TestBackend.start({ host: `127.0.10.${41 + i}`, mode: "identify" }));
    for (const b of backends) b.name = `${b.host}:${b.port}`;
  });
  after(async () => {
    await node?.destroy();
    await Promise.all(backends.map((b) => b.close()));
  });

  it("slowloris connections are closed at idleTimeoutSeconds; a trickling one is not idle", async () => {
    const result = await slowloris(node, backends[0], 26401, 200, 5);
    assert.deepEqual(result.violations, []);
  });

  it("choosing source ports reaches one member only with the hash seed (hashing core)", () => {
    const result = steeringModel(10, 2000);
    assert.deepEqual(result.violations, []);
    assert.equal(result.figures.shareKnowingSeed, 1);
  });

  it("choosing source ports reaches one member only with the hash seed (through a node)", async () => {
    const result = await steeringThroughNode(node, backends, 26402, 200);
    assert.deepEqual(result.violations, []);
  });
});
