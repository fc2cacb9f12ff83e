import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { AdminClient } from "../../provider/client";
import type { LoadBalancerConnection } from "../../provider/model";
import {
  backendServiceProvider,
  healthCheckProvider,
  listenerProvider,
  virtualServerGroupProvider,
  type DivergentNode,
} from "../../provider/resources";
import { SECRET_SIG } from "../../provider/resources/secrets";
import { echoServer, roundTrip } from "../support/net";
import { unmasked } from "../support/secrets";
import { CheckFailedError, MiniEngine, UNKNOWN, type Goal } from "./helpers/engine";
import { ProviderHost, urnOf } from "./helpers/host";
import { Cluster, DEAD_ENDPOINT, TEST_TOKEN } from "./helpers/nodes";
import { serializeProvider } from "./helpers/serialize";
import { issueNodeCertificate, makeCertificateAuthority } from "../../provider/resources/admin-certificates";
import { startNode, tempStateDir, TOKEN as HTTPS_NODE_TOKEN } from "../forwarder/admin-fixture";

/**
 * The providers serialized as `pulumi.dynamic.Resource` serializes them, run inside Pulumi's own
 * dynamic-provider host, and driven over gRPC in the engine's order against three real nodes
 * (127.0.6.11-13).
 */

describe("providers inside Pulumi's dynamic-provider host", function () {
  this.timeout(120_000);
  let cluster: Cluster;
  let host: ProviderHost;
  let engine: MiniEngine;
  let lb: LoadBalancerConnection;
  const serialized: Record<string, string> = {};
  const admin = new AdminClient({ retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });

  const goal = (type: string, name: string, props: Record<string, unknown>): Goal => ({ type, name, provider: serialized[type], props });

  before(async () => {
    [cluster, host] = await Promise.all([Cluster.start(3, 11), ProviderHost.start()]);
    lb = cluster.connection();
    serialized.HealthCheck = await serializeProvider(healthCheckProvider);
    serialized.VirtualServerGroup = await serializeProvider(virtualServerGroupProvider);
    serialized.BackendService = await serializeProvider(backendServiceProvider);
    serialized.Listener = await serializeProvider(listenerProvider);
    engine = new MiniEngine(host);
  });

  let failed = false;
  afterEach(function () {
    if (this.currentTest?.state === "failed") failed = true;
  });

  after(async () => {
    // When a test failed, the host's error log (provider exceptions) says why.
    if (failed && host?.stderr) console.log(`dynamic-provider host stderr:\n${host.stderr}`);
    await host?.close();
    await admin.close();
    await cluster?.destroy();
  });

  it("preview: unknown values pass check, and diff still tells update from replace", async () => {
    const fresh = await engine.preview(goal("Listener", "pre-80", { loadBalancer: UNKNOWN, port: UNKNOWN, backendService: UNKNOWN }));
    assert.equal(fresh.step, "create");
    assert.equal(fresh.inputs.loadBalancer, UNKNOWN);
    assert.equal(fresh.inputs.port, UNKNOWN);
    const members = [{ address: "10.0.0.1", port: 80 }, { address: UNKNOWN, weight: UNKNOWN }];
    const group = await engine.preview(goal("VirtualServerGroup", "pre-pool", { loadBalancer: lb, members }));
    assert.deepEqual((group.inputs.members as Record<string, unknown>[])[1], { address: UNKNOWN, weight: UNKNOWN, enabled: true });

    const svc = await engine.up(goal("BackendService", "pre-svc", { loadBalancer: lb, port: 24095 }));
    await engine.up(goal("Listener", "pre-80", { loadBalancer: lb, port: 24085, backendService: svc.state.id }));
    const unknownService = await engine.preview(goal("Listener", "pre-80", { loadBalancer: lb, port: 24085, backendService: UNKNOWN }));
    assert.deepEqual(unknownService.diff, { changes: "some", replaces: [], deleteBeforeReplace: false });
    const unknownPort = await engine.preview(goal("Listener", "pre-80", { loadBalancer: lb, port: UNKNOWN, backendService: svc.state.id }));
    assert.deepEqual(unknownPort.diff, { changes: "some", replaces: ["port"], deleteBeforeReplace: true });
    const unknownNodes = await engine.preview(goal("Listener", "pre-80", { loadBalancer: UNKNOWN, port: 24085, backendService: svc.state.id }));
    assert.deepEqual(unknownNodes.diff, { changes: "some", replaces: [], deleteBeforeReplace: false });
    const unchanged = await engine.preview(goal("Listener", "pre-80", { loadBalancer: lb, port: 24085, backendService: svc.state.id }));
    assert.equal(unchanged.step, "same");
    await engine.destroy("Listener", "pre-80");
    await engine.destroy("BackendService", "pre-svc");
  });

  it("bad input comes back as check failures naming the property and the range", async () => {
    const answer = await host.check(urnOf("HealthCheck", "bad"), {}, {
      __provider: serialized.HealthCheck,
      __resourceName: "bad",
      loadBalancer: lb,
      timeoutSeconds: 61,
      unhealthyThreshold: 0,
    });
    assert.deepEqual(answer.failures, [
      { property: "timeoutSeconds", reason: "timeoutSeconds must be an integer from 2 to 60 (got 61)" },
      { property: "unhealthyThreshold", reason: "unhealthyThreshold must be an integer from 1 to 5 (got 0)" },
    ]);
    await assert.rejects(
      engine.up(goal("VirtualServerGroup", "bad pool", { loadBalancer: lb, members: [{ address: "web.internal" }] })),
      (error: unknown) => {
        assert.ok(error instanceof CheckFailedError);
        assert.deepEqual(error.failures.map((f) => f.property), ["name", "members[0].address"]);
        assert.match(error.failures[0].reason, /set name explicitly/);
        assert.match(error.failures[1].reason, /not a hostname/);
        return true;
      },
    );
  });

  it("up: creates a whole configuration on every node, and it carries traffic", async () => {
    const echo = await echoServer("127.0.6.40", 24091);
    try {
      const hc = await engine.up(goal("HealthCheck", "e2e-check", { loadBalancer: lb }));
      const pool = await engine.up(goal("VirtualServerGroup", "e2e-pool", { loadBalancer: lb, members: [{ address: "127.0.6.40" }] }));
      const svc = await engine.up(
        goal("BackendService", "e2e-svc", { loadBalancer: lb, port: 24091, healthCheck: hc.state.id, serverGroup: pool.state.id }),
      );
      const listener = await engine.up(goal("Listener", "e2e-81", { loadBalancer: lb, port: 24081, backendService: svc.state.id }));
      assert.deepEqual([hc.step, pool.step, svc.step, listener.step], ["create", "create", "create", "create"]);
      assert.equal(hc.state.outputs.failureWindowSeconds, 19);
      assert.deepEqual(pool.state.outputs.trafficShares, { "127.0.6.40": 1 });
      for (const node of cluster.nodes) {
        assert.equal(await roundTrip(node.address, 24081, `hello via ${node.address}`), `hello via ${node.address}`);
      }
      for (const [type, name] of [["Listener", "e2e-81"], ["BackendService", "e2e-svc"], ["VirtualServerGroup", "e2e-pool"], ["HealthCheck", "e2e-check"]]) {
        await engine.destroy(type, name);
      }
    } finally {
      await new Promise((resolve) => echo.close(resolve));
    }
  });

  it("up: an update field updates in place; a listener port change replaces it, deleting first", async () => {
    const svc = await engine.up(goal("BackendService", "move-svc", { loadBalancer: lb, port: 24092 }));
    const first = await engine.up(goal("Listener", "move", { loadBalancer: lb, port: 24082, backendService: svc.state.id }));
    const same = await engine.up(goal("Listener", "move", { loadBalancer: lb, port: 24082, backendService: svc.state.id }));
    assert.equal(same.step, "same");

    const renamed = await engine.up(goal("Listener", "move", { loadBalancer: lb, port: 24082, backendService: svc.state.id, description: "edge" }));
    assert.equal(renamed.step, "update");
    assert.equal(renamed.state.id, first.state.id);

    const preview = await engine.preview(goal("Listener", "move", { loadBalancer: lb, port: 24083, backendService: svc.state.id }));
    assert.deepEqual(preview.diff, { changes: "some", replaces: ["port"], deleteBeforeReplace: true });
    const moved = await engine.up(goal("Listener", "move", { loadBalancer: lb, port: 24083, backendService: svc.state.id }));
    assert.equal(moved.step, "replace");
    assert.notEqual(moved.state.id, first.state.id, "a replacement gets a new id");
    for (const endpoint of cluster.endpoints) {
      assert.equal(await admin.get(endpoint, TEST_TOKEN, "listeners", first.state.id), undefined);
      assert.equal((await admin.get(endpoint, TEST_TOKEN, "listeners", moved.state.id))?.spec.port, 24083);
    }
    await engine.destroy("Listener", "move");
    await engine.destroy("BackendService", "move-svc");
  });

  it("create: rolled back when one node is down; the error names the node", async () => {
    const down = { ...lb, endpoints: [...lb.endpoints, DEAD_ENDPOINT] };
    let objectId = "";
    await assert.rejects(engine.up(goal("HealthCheck", "down-check", { loadBalancer: down })), (error: Error) => {
      assert.match(error.message, /creating health check down-check \((down-check-[0-9a-f]{8})\) failed on 1 of 4 nodes/);
      objectId = /\((down-check-[0-9a-f]{8})\)/.exec(error.message)?.[1] ?? "";
      assert.ok(error.message.includes(`${DEAD_ENDPOINT}: unreachable`));
      assert.match(error.message, /rolled back \(deleted again\) on/);
      return true;
    });
    for (const endpoint of cluster.endpoints) assert.equal(await admin.get(endpoint, TEST_TOKEN, "health-checks", objectId), undefined);
    assert.equal(engine.state.has(urnOf("HealthCheck", "down-check")), false);
  });

  it("refresh: sees an out-of-band change on one node, and the next up repairs it", async () => {
    const created = await engine.up(goal("VirtualServerGroup", "drift-pool", { loadBalancer: lb, members: [{ address: "10.0.0.1" }, { address: "10.0.0.2" }] }));
    const id = created.state.id;
    const drifted = await admin.put(cluster.endpoints[1], TEST_TOKEN, "server-groups", id, {
      type: "virtual",
      name: "drift-pool",
      members: [{ address: "10.0.0.1", weight: 90 }, { address: "10.0.0.2" }],
    });
    const refreshed = await engine.refresh("VirtualServerGroup", "drift-pool");
    const divergent = refreshed?.outputs.divergentNodes as DivergentNode[];
    assert.deepEqual(divergent, [{ endpoint: cluster.endpoints[1], problem: "different", detail: `differs in members (revision ${drifted.stored.revision})` }]);

    const repair = await engine.up(goal("VirtualServerGroup", "drift-pool", { loadBalancer: lb, members: [{ address: "10.0.0.1" }, { address: "10.0.0.2" }] }));
    assert.equal(repair.step, "update");
    assert.deepEqual(repair.state.outputs.divergentNodes, []);
    const weights = (await admin.get(cluster.endpoints[1], TEST_TOKEN, "server-groups", id))?.spec.members as { weight: number }[];
    assert.deepEqual(weights.map((m) => m.weight), [10, 10]);
    const quiet = await engine.up(goal("VirtualServerGroup", "drift-pool", { loadBalancer: lb, members: [{ address: "10.0.0.1" }, { address: "10.0.0.2" }] }));
    assert.equal(quiet.step, "same");

    for (const endpoint of cluster.endpoints) await admin.remove(endpoint, TEST_TOKEN, "server-groups", id);
    assert.equal(await engine.refresh("VirtualServerGroup", "drift-pool"), undefined, "gone from every node: gone from the state");
  });

  it("delete: a backend service a listener uses is refused, naming the listener", async () => {
    const svc = await engine.up(goal("BackendService", "held-svc", { loadBalancer: lb, port: 24093 }));
    const listener = await engine.up(goal("Listener", "held-84", { loadBalancer: lb, port: 24084, backendService: svc.state.id }));
    await assert.rejects(engine.destroy("BackendService", "held-svc"), (error: Error) => {
      assert.match(error.message, new RegExp(`backend service ${svc.state.id} is used by listener ${listener.state.id}`));
      return true;
    });
    assert.ok(engine.state.has(urnOf("BackendService", "held-svc")));
    await engine.destroy("Listener", "held-84");
    await engine.destroy("BackendService", "held-svc");
  });

  it("an HTTPS node: verified against the connection's caCertificate inside the host; another CA is refused, naming the node", async () => {
    const ca = makeCertificateAuthority();
    const dir = await tempStateDir("engine-tls");
    const issued = issueNodeCertificate(ca, { commonName: "engine-tls", ipAddresses: ["127.0.6.31"] });
    const tls = { certFile: path.join(dir, "admin.crt"), keyFile: path.join(dir, "admin.key") };
    await fs.writeFile(tls.certFile, issued.certificatePem);
    await fs.writeFile(tls.keyFile, issued.privateKeyPem, { mode: 0o600 });
    const secure = await startNode({ label: "engine-tls", admin: { host: "127.0.6.31", tls }, dataPlane: { listenAddress: "127.0.6.31" } });
    try {
      const conn = { endpoints: [secure.url], token: HTTPS_NODE_TOKEN, caCertificate: ca.certificatePem };
      const hc = await engine.up(goal("HealthCheck", "tls-check", { loadBalancer: conn, timeoutSeconds: 6 }));
      assert.equal(hc.step, "create");
      assert.equal(secure.node.store.get("health-checks", hc.state.id)?.spec.timeoutSeconds, 6);
      assert.deepEqual((await engine.refresh("HealthCheck", "tls-check"))?.outputs.divergentNodes, []);

      const stranger = { ...conn, caCertificate: makeCertificateAuthority().certificatePem };
      await assert.rejects(engine.up(goal("HealthCheck", "tls-stranger", { loadBalancer: stranger })), (error: Error) => {
        assert.ok(error.message.includes(`${secure.url}: TLS: the node's certificate was not signed by the connection's CA (caCertificate)`), error.message);
        return true;
      });
      await engine.destroy("HealthCheck", "tls-check");
      assert.equal(secure.node.store.get("health-checks", hc.state.id), undefined);
    } finally {
      await secure.node.close({ graceMs: 0 });
    }
  });

  it("the admin token never comes back unmasked, in any answer or in the host's log", async () => {
    await engine.up(goal("HealthCheck", "secret-check", { loadBalancer: lb }));
    await engine.up(goal("HealthCheck", "secret-check", { loadBalancer: lb, timeoutSeconds: 7 }));
    await engine.refresh("HealthCheck", "secret-check");
    await engine.destroy("HealthCheck", "secret-check");
    assert.ok(engine.answers.length > 10);
    const leaks = engine.answers.flatMap((answer, i) => unmasked(answer, TEST_TOKEN, `answer[${i}]`));
    assert.deepEqual(leaks, []);
    const marked = engine.answers.filter((answer) => JSON.stringify(answer).includes(SECRET_SIG));
    assert.ok(marked.length > 0, "the token is there, marked secret");
    assert.ok(!host.stderr.includes(TEST_TOKEN));
  });
});
