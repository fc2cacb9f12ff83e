import { strict as assert } from "node:assert";
import {
  backendServiceProvider,
  healthCheckProvider,
  highAvailabilityGroupProvider,
  listenerProvider,
  virtualServerGroupProvider,
} from "../../provider/resources";
import { UNKNOWN } from "../../provider/model";
import { SECRET_SIG, SECRET_SIG_KEY } from "../../provider/resources/secrets";

const TOKEN = "check-test-token-0123456789";
const connection = { endpoints: ["http://127.0.6.1:24001", "http://127.0.6.2:24002"], token: TOKEN };

type Inputs = Record<string, unknown>;

async function check(provider: typeof healthCheckProvider, news: Inputs, olds: Inputs = {}) {
  assert.ok(provider.check);
  const result = await provider.check(olds, news);
  return { inputs: (result.inputs ?? {}) as Inputs, failures: result.failures ?? [] };
}

describe("provider check", () => {
  it("fills defaults and the name from the resource name, and makes an id from it", async () => {
    const { inputs, failures } = await check(healthCheckProvider, { __resourceName: "web", loadBalancer: connection });
    assert.deepEqual(failures, []);
    assert.equal(inputs.name, "web");
    assert.equal(inputs.protocol, "TCP");
    assert.equal(inputs.timeoutSeconds, 3);
    assert.equal(inputs.intervalSeconds, 5);
    assert.equal(inputs.unhealthyThreshold, 3);
    assert.equal(inputs.healthyThreshold, 3);
    assert.match(String(inputs.objectId), /^web-[0-9a-f]{8}$/);
  });

  it("keeps the id from the old inputs, and makes a new one without them (a replacement)", async () => {
    const first = await check(healthCheckProvider, { __resourceName: "web", loadBalancer: connection });
    const again = await check(healthCheckProvider, { __resourceName: "web", loadBalancer: connection, timeoutSeconds: 9 }, first.inputs);
    assert.equal(again.inputs.objectId, first.inputs.objectId);
    const replacement = await check(healthCheckProvider, { __resourceName: "web", loadBalancer: connection });
    assert.notEqual(replacement.inputs.objectId, first.inputs.objectId);
  });

  it("gives the same normalized inputs for the same input (no churn later)", async () => {
    const news = { __resourceName: "pool", loadBalancer: connection, members: [{ address: "10.0.0.1", port: 80 }] };
    const a = await check(virtualServerGroupProvider, news);
    const b = await check(virtualServerGroupProvider, news, a.inputs);
    const { flowsMoved, ...rest } = b.inputs;
    assert.equal(JSON.stringify(a.inputs), JSON.stringify(rest));
    assert.equal(flowsMoved, "this change moves no flows");
  });

  it("marks the admin token secret in the inputs it returns", async () => {
    const { inputs } = await check(listenerProvider, { __resourceName: "l", loadBalancer: connection, port: 24080, backendService: "svc-1" });
    const lb = inputs.loadBalancer as { token: unknown; endpoints: unknown };
    assert.deepEqual(lb.token, { [SECRET_SIG_KEY]: SECRET_SIG, value: TOKEN });
    assert.deepEqual(lb.endpoints, connection.endpoints);
  });

  const failing: [string, typeof healthCheckProvider, Inputs, string, RegExp][] = [
    ["timeout above range", healthCheckProvider, { timeoutSeconds: 61 }, "timeoutSeconds", /from 2 to 60 \(got 61\)/],
    ["interval below range", healthCheckProvider, { intervalSeconds: 4 }, "intervalSeconds", /from 5 to 300 \(got 4\)/],
    ["non-integer threshold", healthCheckProvider, { healthyThreshold: 2.5 }, "healthyThreshold", /from 1 to 5 \(got 2.5\)/],
    ["HTTP health check", healthCheckProvider, { protocol: "HTTP" }, "protocol", /one of "TCP", "UDP" \(got "HTTP"\)/],
    ["an expected UDP answer without a request", healthCheckProvider, { protocol: "UDP", udpExpectedResponse: "pong" }, "udpExpectedResponse", /needs udpRequest/],
    ["PROXY protocol on a UDP service", backendServiceProvider, { port: 53, protocol: "UDP", proxyProtocol: "v1" }, "proxyProtocol", /PROXY protocol is TCP only/],
    ["UDP session timeout too long", backendServiceProvider, { port: 53, protocol: "UDP", udpSessionTimeoutSeconds: 3601 }, "udpSessionTimeoutSeconds", /from 1 to 3600/],
    ["a typo", healthCheckProvider, { timeoutSecond: 3 }, "timeoutSecond", /not a field of a HealthCheck/],
    ["member weight 0", virtualServerGroupProvider, { members: [{ address: "10.0.0.1", weight: 0 }] }, "members[0].weight", /from 1 to 100 \(got 0\)/],
    ["member hostname", virtualServerGroupProvider, { members: [{ address: "db.example.com" }] }, "members[0].address", /not a hostname/],
    ["no members", virtualServerGroupProvider, { members: [] }, "members", /1 to 1000/],
    ["HA member weight", highAvailabilityGroupProvider, { members: [{ address: "10.0.0.1", weight: 5 }] }, "members[0].weight", /take no weight\/port/],
    ["service port 0", backendServiceProvider, { port: 0 }, "port", /from 1 to 65535 \(got 0\)/],
    ["unknown algorithm", backendServiceProvider, { port: 80, algorithm: "RoundRobin" }, "algorithm", /"IpHash", "QuintupleHash"/],
    ["idle timeout too long", backendServiceProvider, { port: 80, idleTimeoutSeconds: 86401 }, "idleTimeoutSeconds", /from 1 to 86400/],
    ["listener without service", listenerProvider, { port: 24080 }, "backendService", /is required/],
    ["listener port 70000", listenerProvider, { port: 70000, backendService: "s" }, "port", /from 1 to 65535 \(got 70000\)/],
  ];
  for (const [title, provider, fields, property, reason] of failing) {
    it(`fails on ${title}, naming ${property} and the range`, async () => {
      const { failures } = await check(provider, { __resourceName: "r", loadBalancer: connection, ...fields });
      const failure = failures.find((f) => f.property === property);
      assert.ok(failure, `no failure for ${property} in ${JSON.stringify(failures)}`);
      assert.match(failure.reason, reason);
    });
  }

  it("lets unknown values through at preview, anywhere", async () => {
    const { failures, inputs } = await check(virtualServerGroupProvider, {
      __resourceName: "pool",
      loadBalancer: UNKNOWN,
      members: [{ address: UNKNOWN, port: UNKNOWN, weight: UNKNOWN }, { address: "10.0.0.2" }],
    });
    assert.deepEqual(failures, []);
    assert.equal(inputs.loadBalancer, UNKNOWN);
    assert.equal((inputs.members as Inputs[])[0].weight, UNKNOWN);
    const hc = await check(healthCheckProvider, { __resourceName: "hc", loadBalancer: { endpoints: [UNKNOWN], token: UNKNOWN }, timeoutSeconds: UNKNOWN });
    assert.deepEqual(hc.failures, []);
  });

  it("asks for an explicit name when the resource name is not a valid one", async () => {
    const { failures } = await check(healthCheckProvider, { __resourceName: "web.80 check", loadBalancer: connection });
    assert.equal(failures.length, 1);
    assert.equal(failures[0].property, "name");
    assert.match(failures[0].reason, /"web\.80 check" is not a valid name .*set name explicitly/);
    const named = await check(healthCheckProvider, { __resourceName: "web.80 check", name: "web-80", loadBalancer: connection });
    assert.deepEqual(named.failures, []);
    assert.match(String(named.inputs.objectId), /^web\.80-check-[0-9a-f]{8}$/);
  });

  it("accepts Chinese resource names as names, and still makes a path-safe id", async () => {
    const { failures, inputs } = await check(healthCheckProvider, { __resourceName: "健康检查", loadBalancer: connection });
    assert.deepEqual(failures, []);
    assert.equal(inputs.name, "健康检查");
    assert.match(String(inputs.objectId), /^health-check-[0-9a-f]{8}$/);
  });

  it("names an id from a Chinese resource name after the resource type, the same way for every type", async () => {
    const cases = [
      [healthCheckProvider, "health-check"],
      [virtualServerGroupProvider, "server-group"],
      [highAvailabilityGroupProvider, "server-group"],
      [backendServiceProvider, "backend-service"],
      [listenerProvider, "listener"],
    ] as const;
    for (const [provider, base] of cases) {
      const { inputs } = await check(provider, { __resourceName: "网关", loadBalancer: connection });
      assert.match(String(inputs.objectId), new RegExp(`^${base}-[0-9a-f]{8}$`));
    }
  });

  it("validates the connection: missing, malformed, repeated nodes", async () => {
    const missing = await check(healthCheckProvider, { __resourceName: "hc" });
    assert.deepEqual(missing.failures.map((f) => f.property), ["loadBalancer"]);
    const bad = await check(healthCheckProvider, { __resourceName: "hc", loadBalancer: { endpoints: ["127.0.6.1:24001"], token: TOKEN } });
    assert.equal(bad.failures[0].property, "loadBalancer.endpoints[0]");
    assert.match(bad.failures[0].reason, /admin API URL/);
    const repeated = await check(healthCheckProvider, {
      __resourceName: "hc",
      loadBalancer: { endpoints: ["http://127.0.6.1:24001", "http://127.0.6.1:24001/"], token: TOKEN },
    });
    assert.equal(repeated.failures[0].property, "loadBalancer.endpoints[1]");
    assert.match(repeated.failures[0].reason, /repeats endpoints\[0\]/);
  });

  it("refuses members outside the load balancer's subnets, naming the member", async () => {
    const lb = { ...connection, subnets: ["10.0.0.0/16"] };
    const { failures } = await check(virtualServerGroupProvider, {
      __resourceName: "pool",
      loadBalancer: lb,
      members: [{ address: "10.0.1.5" }, { address: "192.168.1.5" }],
    });
    assert.deepEqual(failures.map((f) => f.property), ["members[1].address"]);
    assert.match(failures[0].reason, /192\.168\.1\.5.*outside the load balancer's subnets \(10\.0\.0\.0\/16\)/);
    const ha = await check(highAvailabilityGroupProvider, { __resourceName: "ha", loadBalancer: lb, members: [{ address: "172.16.0.1" }] });
    assert.deepEqual(ha.failures.map((f) => f.property), ["members[0].address"]);
  });
});

describe("provider check: flows moved", () => {
  const members = (n: number, weight = 10) => Array.from({ length: n }, (_, i) => ({ address: `10.0.0.${i + 1}`, port: 8080, weight }));

  async function moved(before: Inputs[], after: Inputs[], provider = virtualServerGroupProvider): Promise<unknown> {
    const old = await check(provider, { __resourceName: "pool", loadBalancer: connection, members: before });
    const next = await check(provider, { __resourceName: "pool", loadBalancer: connection, members: after }, old.inputs);
    assert.deepEqual(next.failures, []);
    return next.inputs.flowsMoved;
  }

  it("says how many flows removing one of four members moves (about a quarter)", async () => {
    const text = String(await moved(members(4), members(3)));
    const percent = Number(/moves ([\d.]+)% of flows/.exec(text)?.[1]);
    assert.ok(percent >= 25 && percent < 30, text);
  });

  it("says a reordering or a no-op moves no flows", async () => {
    assert.equal(await moved(members(4), [...members(4)].reverse()), "this change moves no flows");
  });

  it("counts a disabled member as removed, and a weight change as a partial move", async () => {
    const disabled = members(4).map((m, i) => (i === 0 ? { ...m, enabled: false } : m));
    const percent = Number(/([\d.]+)%/.exec(String(await moved(members(4), disabled)))?.[1]);
    assert.ok(percent >= 25 && percent < 30);
    const heavier = members(4).map((m, i) => (i === 0 ? { ...m, weight: 20 } : m));
    const shift = Number(/([\d.]+)%/.exec(String(await moved(members(4), heavier)))?.[1]);
    // The member's share grows from 1/4 to 2/5: at least 15% of flows must move to it.
    assert.ok(shift >= 15 && shift < 25, `moved ${shift}%`);
  });

  it("is absent on create and while members are unknown", async () => {
    const created = await check(virtualServerGroupProvider, { __resourceName: "pool", loadBalancer: connection, members: members(2) });
    assert.equal(created.inputs.flowsMoved, undefined);
    assert.equal(await moved(members(2), [{ address: UNKNOWN }]), undefined);
  });

  it("treats high-availability members as equal", async () => {
    const text = String(await moved([{ address: "10.0.0.1" }, { address: "10.0.0.2" }], [{ address: "10.0.0.1" }], highAvailabilityGroupProvider));
    assert.match(text, /moves 5\d\.\d% of flows/);
  });
});
