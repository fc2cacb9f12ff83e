import { strict as assert } from "node:assert";
import type * as pulumi from "@pulumi/pulumi";
import { AdminClient, closeSharedAdminClient } from "../../provider/client";
import type { LoadBalancerConnection } from "../../provider/model";
import {
  backendServiceProvider,
  healthCheckProvider,
  highAvailabilityGroupProvider,
  listenerProvider,
  virtualServerGroupProvider,
  type DivergentNode,
} from "../../provider/resources";
import { unwrapProps } from "../../provider/resources/secrets";
import { Cluster, DEAD_ENDPOINT, TEST_TOKEN } from "../engine/helpers/nodes";

/**
 * The provider methods called directly, as the dynamic-provider host calls them, against three
 * real forwarder nodes on 127.0.6.1-3.
 */

type Props = Record<string, unknown>;

const admin = new AdminClient({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });

async function checked(provider: pulumi.dynamic.ResourceProvider, resourceName: string, args: Props, olds: Props = {}): Promise<Props> {
  assert.ok(provider.check);
  const result = await provider.check(olds, { __resourceName: resourceName, ...args });
  assert.deepEqual(result.failures ?? [], []);
  // The engine strips secret marks before it calls the provider again.
  return unwrapProps(result.inputs);
}

async function created(provider: pulumi.dynamic.ResourceProvider, resourceName: string, args: Props) {
  const inputs = await checked(provider, resourceName, args);
  const result = await provider.create(inputs);
  return { id: result.id, inputs, outs: unwrapProps(result.outs) };
}

async function heldBy(endpoint: string, kind: "health-checks" | "server-groups" | "backend-services" | "listeners", id: string) {
  return admin.get(endpoint, TEST_TOKEN, kind, id);
}

describe("provider create/read/update/delete against three nodes", function () {
  this.timeout(60_000);
  let cluster: Cluster;
  let lb: LoadBalancerConnection;

  before(async () => {
    cluster = await Cluster.start(3, 1);
    lb = cluster.connection();
  });
  after(async () => {
    await closeSharedAdminClient();
    await admin.close();
    await cluster?.destroy();
  });

  it("creates on every node, with computed outputs and each node's revision", async () => {
    const { id, outs } = await created(healthCheckProvider, "web-check", { loadBalancer: lb, timeoutSeconds: 4, unhealthyThreshold: 2 });
    assert.match(id, /^web-check-[0-9a-f]{8}$/);
    assert.equal(outs.failureWindowSeconds, 4 * 2 + 5 * 1);
    assert.equal(outs.successWindowSeconds, 5 * 2);
    assert.deepEqual(outs.revisions, Object.fromEntries(cluster.endpoints.map((e) => [e, 1])));
    for (const endpoint of cluster.endpoints) {
      const stored = await heldBy(endpoint, "health-checks", id);
      assert.equal(stored?.spec.timeoutSeconds, 4);
      assert.equal(stored?.spec.name, "web-check");
    }
    await healthCheckProvider.delete?.(id, outs);
  });

  it("keeps the admin token secret in the outputs", async () => {
    const inputs = await checked(healthCheckProvider, "secret-check", { loadBalancer: lb });
    const result = await healthCheckProvider.create(inputs);
    const lbOut = (result.outs as Props).loadBalancer as Props;
    assert.equal((lbOut.token as Props)["4dabf18193072939515e22adb298388d"], "1b47061264138c4ac30d75fd1eb44270");
    const plainCopies = JSON.stringify(result.outs).split(TEST_TOKEN).length - 1;
    assert.equal(plainCopies, 1, "the token appears once, inside its secret mark");
    await healthCheckProvider.delete?.(result.id, unwrapProps(result.outs));
  });

  it("treats a repeated create of the same spec as done (an idempotent retry)", async () => {
    const inputs = await checked(healthCheckProvider, "retry-check", { loadBalancer: lb });
    const first = await healthCheckProvider.create(inputs);
    const second = await healthCheckProvider.create(inputs);
    assert.equal(second.id, first.id);
    await healthCheckProvider.delete?.(first.id, unwrapProps(first.outs));
  });

  it("rolls a create back when one node is down, and names that node", async () => {
    const down = { ...lb, endpoints: [...lb.endpoints, DEAD_ENDPOINT] };
    const inputs = await checked(healthCheckProvider, "rollback-check", { loadBalancer: down });
    await assert.rejects(healthCheckProvider.create(inputs), (error: Error) => {
      assert.match(error.message, /^creating health check rollback-check \(rollback-check-[0-9a-f]{8}\) failed on 1 of 4 nodes:/);
      assert.match(error.message, new RegExp(`${DEAD_ENDPOINT}: unreachable after \\d attempts \\(.*ECONNREFUSED`));
      assert.match(error.message, /rolled back \(deleted again\) on http:\/\/127\.0\.6\.1:\d+, http:\/\/127\.0\.6\.2:\d+, http:\/\/127\.0\.6\.3:\d+/);
      assert.ok(!error.message.includes(TEST_TOKEN));
      return true;
    });
    for (const endpoint of cluster.endpoints) assert.equal(await heldBy(endpoint, "health-checks", String(inputs.objectId)), undefined);
  });

  it("refuses to create over a different object with the same id, and leaves that object alone", async () => {
    const inputs = await checked(healthCheckProvider, "taken-check", { loadBalancer: lb });
    const id = String(inputs.objectId);
    const foreign = { name: "someone-else", timeoutSeconds: 30 };
    await admin.put(cluster.endpoints[1], TEST_TOKEN, "health-checks", id, foreign);
    await assert.rejects(healthCheckProvider.create(inputs), (error: Error) => {
      assert.match(error.message, new RegExp(`${cluster.endpoints[1]}: HTTP 412 precondition_failed: the node already holds a different object`));
      return true;
    });
    assert.equal(await heldBy(cluster.endpoints[0], "health-checks", id), undefined);
    assert.equal((await heldBy(cluster.endpoints[1], "health-checks", id))?.spec.name, "someone-else");
    await admin.remove(cluster.endpoints[1], TEST_TOKEN, "health-checks", id);
  });

  it("updates every node, and pushes the whole object to a node added to the load balancer", async () => {
    const twoNodes = { ...lb, endpoints: lb.endpoints.slice(0, 2) };
    const { id, inputs, outs } = await created(virtualServerGroupProvider, "pool", {
      loadBalancer: twoNodes,
      members: [{ address: "10.0.0.1", port: 8080 }, { address: "10.0.0.2", port: 8080, weight: 30 }],
    });
    assert.deepEqual(outs.trafficShares, { "10.0.0.1:8080": 0.25, "10.0.0.2:8080": 0.75 });
    assert.equal(await heldBy(cluster.endpoints[2], "server-groups", id), undefined);

    const news = await checked(virtualServerGroupProvider, "pool", { loadBalancer: lb, members: [{ address: "10.0.0.1", port: 8080 }] }, inputs);
    assert.equal(news.flowsMoved, "this change moves 75.0% of flows");
    assert.deepEqual(await virtualServerGroupProvider.diff?.(id, outs, news), { changes: true, replaces: [], deleteBeforeReplace: false });
    const updated = unwrapProps((await virtualServerGroupProvider.update?.(id, outs, news))?.outs);
    // Each node's revision as the node itself reports it; the two that held it moved on.
    const held = Object.fromEntries(
      await Promise.all(cluster.endpoints.map(async (e) => [e, (await heldBy(e, "server-groups", id))?.revision] as const)),
    );
    assert.deepEqual(updated.revisions, held);
    const before = outs.revisions as Record<string, number>;
    for (const e of cluster.endpoints.slice(0, 2)) assert.ok(held[e]! > before[e], `${e} took a new revision`);
    assert.deepEqual(updated.trafficShares, { "10.0.0.1:8080": 1 });
    for (const endpoint of cluster.endpoints) {
      const stored = await heldBy(endpoint, "server-groups", id);
      assert.equal(stored?.spec.type, "virtual");
      assert.deepEqual(stored?.spec.members, [{ address: "10.0.0.1", port: 8080, weight: 10, enabled: true }]);
    }
    await virtualServerGroupProvider.delete?.(id, updated);
  });

  it("says which node holds which revision when an update fails on one node", async () => {
    const { id, inputs, outs } = await created(healthCheckProvider, "partial-check", { loadBalancer: lb });
    const news = { ...(await checked(healthCheckProvider, "partial-check", { loadBalancer: lb, timeoutSeconds: 9 }, inputs)) };
    (news.loadBalancer as Props).endpoints = [...lb.endpoints, DEAD_ENDPOINT];
    await assert.rejects(healthCheckProvider.update!(id, outs, news), (error: Error) => {
      assert.match(error.message, /^updating health check partial-check \(.*\) failed on 1 of 4 nodes:/);
      for (const endpoint of cluster.endpoints) assert.match(error.message, new RegExp(`${endpoint}: revision \\d+ \\(this update\\)`));
      assert.match(error.message, new RegExp(`${DEAD_ENDPOINT}: unknown \\(`));
      assert.match(error.message, /run `pulumi up` again/);
      return true;
    });
    await healthCheckProvider.delete?.(id, outs);
  });

  it("refresh: reports a node changed out of band, keeps the majority, and up repairs it", async () => {
    const { id, inputs, outs } = await created(healthCheckProvider, "drift-check", { loadBalancer: lb });
    const drifted = await admin.put(cluster.endpoints[2], TEST_TOKEN, "health-checks", id, { name: "drift-check", timeoutSeconds: 30 });

    const read = await healthCheckProvider.read!(id, outs);
    assert.equal(read.id, id);
    const props = unwrapProps(read.props);
    assert.equal(props.timeoutSeconds, 3, "the majority spec wins");
    const divergent = props.divergentNodes as DivergentNode[];
    assert.deepEqual(divergent, [{ endpoint: cluster.endpoints[2], problem: "different", detail: `differs in timeoutSeconds (revision ${drifted.stored.revision})` }]);

    // The next `pulumi up` with an unchanged program: diff asks for an update, which repairs the node.
    const news = await checked(healthCheckProvider, "drift-check", { loadBalancer: lb }, inputs);
    assert.equal((await healthCheckProvider.diff!(id, props, news)).changes, true);
    const repaired = unwrapProps((await healthCheckProvider.update!(id, props, news)).outs);
    assert.deepEqual(repaired.divergentNodes, []);
    assert.equal((await heldBy(cluster.endpoints[2], "health-checks", id))?.spec.timeoutSeconds, 3);
    const clean = unwrapProps((await healthCheckProvider.read!(id, repaired)).props);
    assert.deepEqual(clean.divergentNodes, []);
    assert.equal((await healthCheckProvider.diff!(id, clean, news)).changes, false);
    await healthCheckProvider.delete?.(id, outs);
  });

  it("refresh: a node that lost the object is divergent; gone from every node is gone", async () => {
    const { id, outs } = await created(highAvailabilityGroupProvider, "ha", { loadBalancer: lb, members: [{ address: "10.0.0.7" }, { address: "10.0.0.8" }] });
    assert.deepEqual(outs.trafficShares, { "10.0.0.7": 0.5, "10.0.0.8": 0.5 });
    await admin.remove(cluster.endpoints[0], TEST_TOKEN, "server-groups", id);
    const partial = unwrapProps((await highAvailabilityGroupProvider.read!(id, outs)).props);
    assert.deepEqual(partial.divergentNodes, [{ endpoint: cluster.endpoints[0], problem: "missing", detail: `has no high-availability group ${id}` }]);
    for (const endpoint of cluster.endpoints.slice(1)) await admin.remove(endpoint, TEST_TOKEN, "server-groups", id);
    const gone = await highAvailabilityGroupProvider.read!(id, outs);
    assert.equal(gone.id, undefined);
  });

  it("refresh: cannot tell a resource is gone while a node cannot be read", async () => {
    const { id, outs } = await created(healthCheckProvider, "unread-check", { loadBalancer: lb });
    for (const endpoint of cluster.endpoints) await admin.remove(endpoint, TEST_TOKEN, "health-checks", id);
    const withDead = { ...outs, loadBalancer: { ...lb, endpoints: [...lb.endpoints, DEAD_ENDPOINT] } };
    await assert.rejects(healthCheckProvider.read!(id, withDead), /no reachable node holds it, and 1 node\(s\) could not be read/);
  });

  it("refuses to delete a backend service a listener uses, naming the listener; deletes in order", async () => {
    const hc = await created(healthCheckProvider, "svc-check", { loadBalancer: lb });
    const group = await created(virtualServerGroupProvider, "svc-pool", { loadBalancer: lb, members: [{ address: "127.0.6.40", port: 24090 }] });
    const service = await created(backendServiceProvider, "web", { loadBalancer: lb, port: 24090, healthCheck: hc.id, serverGroup: group.id });
    const listener = await created(listenerProvider, "web-80", { loadBalancer: lb, port: 24080, backendService: service.id });

    await assert.rejects(backendServiceProvider.delete!(service.id, service.outs), (error: Error) => {
      assert.match(error.message, /^deleting backend service web \(web-[0-9a-f]{8}\) failed on 3 of 3 nodes:/);
      assert.match(error.message, new RegExp(`HTTP 409 in_use: backend service ${service.id} is used by listener ${listener.id}`));
      return true;
    });
    for (const endpoint of cluster.endpoints) assert.ok(await heldBy(endpoint, "backend-services", service.id));

    await listenerProvider.delete!(listener.id, listener.outs);
    await backendServiceProvider.delete!(service.id, service.outs);
    await virtualServerGroupProvider.delete!(group.id, group.outs);
    await healthCheckProvider.delete!(hc.id, hc.outs);
    for (const endpoint of cluster.endpoints) assert.equal(await heldBy(endpoint, "backend-services", service.id), undefined);
    // Deleting again is not an error: every node answers 404.
    await healthCheckProvider.delete!(hc.id, hc.outs);
  });
});
