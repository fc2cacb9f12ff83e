import { strict as assert } from "node:assert";
import * as pulumi from "@pulumi/pulumi";
import {
  BackendService,
  backendServiceProvider,
  HealthCheck,
  healthCheckProvider,
  HighAvailabilityGroup,
  highAvailabilityGroupProvider,
  Listener,
  listenerProvider,
  VirtualServerGroup,
  virtualServerGroupProvider,
} from "../../provider/resources";
import { withSecretConnection } from "../../provider/resources/configuration-resource";
import { promiseOf } from "../support/pulumi";

/**
 * The resource classes as a Pulumi program sees them, with a mocked engine that answers the way
 * the real one would after `check` (defaults filled) and `create` (computed outputs).
 */

const providers: Record<string, pulumi.dynamic.ResourceProvider> = {
  HealthCheck: healthCheckProvider,
  VirtualServerGroup: virtualServerGroupProvider,
  HighAvailabilityGroup: highAvailabilityGroupProvider,
  BackendService: backendServiceProvider,
  Listener: listenerProvider,
};

interface Seen {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

class ProviderMocks implements pulumi.runtime.Mocks {
  readonly seen: Seen[] = [];

  async newResource(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string; state: Record<string, unknown> }> {
    this.seen.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown> });
    const provider = providers[args.type.slice(args.type.lastIndexOf(":") + 1)];
    const { __provider: _p, ...news } = args.inputs as Record<string, unknown>;
    const checked = await provider.check!({}, news);
    assert.deepEqual(checked.failures ?? [], [], `${args.name}: ${JSON.stringify(checked.failures)}`);
    // The state keeps the provider's secret mark on the token, as the engine does.
    const inputs = checked.inputs as Record<string, unknown>;
    const computed = args.type.endsWith(":HealthCheck") ? { failureWindowSeconds: 19, successWindowSeconds: 10 } : {};
    return { id: String(inputs.objectId), state: { ...inputs, ...computed, revisions: {}, divergentNodes: [] } };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    return args.inputs as Record<string, unknown>;
  }
}

describe("resource classes (mocked engine)", function () {
  this.timeout(60_000);
  const mocks = new ProviderMocks();
  const lb = { endpoints: ["http://127.0.6.1:24001"], token: "class-test-token-0123456789" };

  before(async () => {
    await pulumi.runtime.setMocks(mocks, "dnlb", "test", false);
  });

  it("registers a dynamic resource with its type, the resource name and the serialized provider", async () => {
    const hc = new HealthCheck("web", { loadBalancer: pulumi.secret(lb), timeoutSeconds: 4 });
    await promiseOf(hc.id);
    const seen = mocks.seen.find((s) => s.name === "web");
    assert.equal(seen?.type, "pulumi-nodejs:dynamic/dnlb:HealthCheck");
    assert.equal(seen?.inputs.__resourceName, "web");
    assert.match(String(seen?.inputs.__provider), /^exports\.handler = /);
  });

  it("exposes spec fields with their defaults and computed outputs (declared, not wiped)", async () => {
    const hc = new HealthCheck("outputs", { loadBalancer: lb });
    assert.equal(await promiseOf(hc.timeoutSeconds), 3);
    assert.equal(await promiseOf(hc.name), "outputs");
    assert.equal(await promiseOf(hc.protocol), "TCP");
    assert.equal(await promiseOf(hc.failureWindowSeconds), 19);
    assert.match(await promiseOf(hc.objectId), /^outputs-[0-9a-f]{8}$/);
    assert.equal(await promiseOf(hc.id), await promiseOf(hc.objectId));
  });

  it("keeps the connection output secret, even when the program passed it in plain text", async () => {
    const hc = new HealthCheck("secret", { loadBalancer: lb });
    assert.equal(await pulumi.isSecret(hc.loadBalancer), true);
    assert.equal((await promiseOf(hc.loadBalancer)).token, lb.token);
    assert.equal(await pulumi.isSecret(hc.timeoutSeconds), false);
  });

  it("asks the engine to keep the connection secret in the state, keeping the program's own options", () => {
    const opts = withSecretConnection({ protect: true, additionalSecretOutputs: ["description"] });
    assert.equal(opts.protect, true);
    assert.deepEqual([...(opts.additionalSecretOutputs ?? [])].sort(), ["description", "loadBalancer"]);
    assert.deepEqual(withSecretConnection(undefined).additionalSecretOutputs, ["loadBalancer"]);
  });

  it("wires the other four resources by id", async () => {
    const pool = new VirtualServerGroup("pool", { loadBalancer: lb, members: [{ address: "10.0.0.1", port: 80 }] });
    const ha = new HighAvailabilityGroup("ha", { loadBalancer: lb, members: [{ address: "10.0.0.2" }] });
    const svc = new BackendService("svc", { loadBalancer: lb, port: 80, serverGroup: pool.id });
    const listener = new Listener("l80", { loadBalancer: lb, port: 24080, backendService: svc.id });
    assert.deepEqual(await promiseOf(pool.members), [{ address: "10.0.0.1", port: 80, weight: 10, enabled: true }]);
    assert.deepEqual(await promiseOf(ha.members), [{ address: "10.0.0.2", enabled: true }]);
    assert.equal(await promiseOf(svc.serverGroup), await promiseOf(pool.id));
    assert.equal(await promiseOf(svc.algorithm), "IpHash");
    assert.equal(await promiseOf(listener.backendService), await promiseOf(svc.id));
    const types = mocks.seen.map((s) => s.type);
    for (const type of ["VirtualServerGroup", "HighAvailabilityGroup", "BackendService", "Listener"]) {
      assert.ok(types.includes(`pulumi-nodejs:dynamic/dnlb:${type}`));
    }
  });
});
