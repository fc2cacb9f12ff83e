import { strict as assert } from "node:assert";
import type * as pulumi from "@pulumi/pulumi";
import {
  backendServiceProvider,
  healthCheckProvider,
  listenerProvider,
  virtualServerGroupProvider,
} from "../../provider/resources";
import { UNKNOWN } from "../../provider/model";

const TOKEN = "diff-test-token-0123456789";
const connection = { endpoints: ["http://127.0.6.1:24001", "http://127.0.6.2:24002"], token: TOKEN };

type Inputs = Record<string, unknown>;

async function checked(provider: pulumi.dynamic.ResourceProvider, news: Inputs, olds: Inputs = {}): Promise<Inputs> {
  assert.ok(provider.check);
  const result = await provider.check(olds, { __resourceName: "r", loadBalancer: connection, ...news });
  assert.deepEqual(result.failures ?? [], []);
  return result.inputs as Inputs;
}

/** What the state holds after create: the inputs plus outputs the provider computed (the engine strips secret marks). */
function asOutputs(inputs: Inputs, computed: Inputs = {}): Inputs {
  return {
    ...inputs,
    loadBalancer: connection,
    revisions: { "http://127.0.6.1:24001": 1, "http://127.0.6.2:24002": 1 },
    divergentNodes: [],
    ...computed,
  };
}

async function diff(provider: pulumi.dynamic.ResourceProvider, olds: Inputs, news: Inputs) {
  assert.ok(provider.diff);
  return provider.diff(String(olds.objectId ?? "id-1"), olds, news);
}

describe("provider diff", () => {
  it("reports no change for the same program, whatever the defaults and computed outputs", async () => {
    const inputs = await checked(healthCheckProvider, {});
    const outputs = asOutputs(inputs, { failureWindowSeconds: 19, successWindowSeconds: 10 });
    const again = await checked(healthCheckProvider, {}, inputs);
    assert.deepEqual(await diff(healthCheckProvider, outputs, again), { changes: false, replaces: [], deleteBeforeReplace: false });
  });

  it("reports no change when the old state lacks defaults the program never set", async () => {
    const inputs = await checked(backendServiceProvider, { port: 80 });
    const { algorithm: _a, idleTimeoutSeconds: _i, proxyProtocol: _p, ...sparse } = asOutputs(inputs);
    assert.equal((await diff(backendServiceProvider, sparse, inputs)).changes, false);
  });

  it("ignores member order, traffic shares and the flows-moved note", async () => {
    const members = [
      { address: "10.0.0.1", port: 80 },
      { address: "10.0.0.2", port: 80, weight: 30 },
    ];
    const inputs = await checked(virtualServerGroupProvider, { members });
    const outputs = asOutputs(inputs, { trafficShares: { "10.0.0.1:80": 0.25, "10.0.0.2:80": 0.75 } });
    const reordered = await checked(virtualServerGroupProvider, { members: [...members].reverse() }, inputs);
    assert.ok(reordered.flowsMoved !== undefined);
    assert.equal((await diff(virtualServerGroupProvider, outputs, reordered)).changes, false);
  });

  it("updates in place for update fields", async () => {
    const inputs = await checked(healthCheckProvider, {});
    const next = await checked(healthCheckProvider, { timeoutSeconds: 10, description: "slower" }, inputs);
    assert.deepEqual(await diff(healthCheckProvider, asOutputs(inputs), next), { changes: true, replaces: [], deleteBeforeReplace: false });
    const weights = await checked(virtualServerGroupProvider, { members: [{ address: "10.0.0.1", weight: 10 }] });
    const heavier = await checked(virtualServerGroupProvider, { members: [{ address: "10.0.0.1", weight: 20 }] }, weights);
    assert.deepEqual(await diff(virtualServerGroupProvider, asOutputs(weights), heavier), { changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it("replaces a listener whose port changes, deleting the old one first", async () => {
    const inputs = await checked(listenerProvider, { port: 24080, backendService: "svc-1" });
    const moved = await checked(listenerProvider, { port: 24081, backendService: "svc-1" }, inputs);
    assert.deepEqual(await diff(listenerProvider, asOutputs(inputs), moved), { changes: true, replaces: ["port"], deleteBeforeReplace: true });
    const rebound = await checked(listenerProvider, { port: 24080, backendService: "svc-2" }, inputs);
    assert.deepEqual(await diff(listenerProvider, asOutputs(inputs), rebound), { changes: true, replaces: [], deleteBeforeReplace: false });
  });

  it("treats an unknown replace field at preview as a possible replacement", async () => {
    const inputs = await checked(listenerProvider, { port: 24080, backendService: "svc-1" });
    const preview = await checked(listenerProvider, { port: UNKNOWN, backendService: UNKNOWN }, inputs);
    assert.deepEqual(await diff(listenerProvider, asOutputs(inputs), preview), { changes: true, replaces: ["port"], deleteBeforeReplace: true });
  });

  it("updates when the nodes change (a node added or replaced), not when they are only reordered", async () => {
    const inputs = await checked(healthCheckProvider, {});
    const added = { ...inputs, loadBalancer: { ...connection, endpoints: [...connection.endpoints, "http://127.0.6.3:24003"] } };
    assert.deepEqual(await diff(healthCheckProvider, asOutputs(inputs), added), { changes: true, replaces: [], deleteBeforeReplace: false });
    const reordered = { ...inputs, loadBalancer: { ...connection, endpoints: [...connection.endpoints].reverse() } };
    assert.equal((await diff(healthCheckProvider, asOutputs(inputs), reordered)).changes, false);
    const replacedNode = { ...inputs, loadBalancer: { ...connection, generation: "b2" } };
    assert.equal((await diff(healthCheckProvider, asOutputs(inputs, { loadBalancer: { ...connection, generation: "a1" } }), replacedNode)).changes, true);
    const sameGeneration = { ...inputs, loadBalancer: { ...connection, generation: "a1" } };
    assert.equal((await diff(healthCheckProvider, asOutputs(inputs, { loadBalancer: { ...connection, generation: "a1" } }), sameGeneration)).changes, false);
    const unknown = { ...inputs, loadBalancer: UNKNOWN };
    assert.equal((await diff(healthCheckProvider, asOutputs(inputs), unknown)).changes, true);
  });

  it("updates after a refresh found divergent nodes, so that up repairs them", async () => {
    const inputs = await checked(healthCheckProvider, {});
    const outputs = { ...asOutputs(inputs), divergentNodes: [{ endpoint: "http://127.0.6.2:24002", problem: "missing", detail: "" }] };
    assert.deepEqual(await diff(healthCheckProvider, outputs, inputs), { changes: true, replaces: [], deleteBeforeReplace: false });
  });
});
