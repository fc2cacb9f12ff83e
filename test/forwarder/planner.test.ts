/** The control part's pure rules: configuration -> members, probe targets and plans. */
import { strict as assert } from "node:assert";
import {
  DEFAULT_HEALTH_CHECK,
  planListeners,
  planService,
  probeTargets,
  resolveServices,
} from "../../provider/forwarder/runtime/planner";
import type { HealthState } from "../../provider/forwarder/health/monitor";
import { buildRoute, MemberBucket, type RouteMember, type ServiceRoute } from "../../provider/forwarder/dataplane/routes";
import { FlowHasher, Maglev } from "../../provider/hashing";
import { modelSchemas } from "../../provider/model";
import { sourceAddress } from "./helpers/clients";
import { ConfigBuilder } from "./helpers/config";
import { TEST_HASH_SEED } from "./helpers/runtime";

describe("runtime model", () => {
  it("uses the HealthCheck schema's defaults for a service without a health check", () => {
    const parsed = modelSchemas({ allowUnknown: false }).healthCheck.parse({ name: "d" });
    assert.deepEqual(
      {
        timeoutSeconds: parsed.timeoutSeconds,
        intervalSeconds: parsed.intervalSeconds,
        unhealthyThreshold: parsed.unhealthyThreshold,
        healthyThreshold: parsed.healthyThreshold,
      },
      DEFAULT_HEALTH_CHECK,
    );
    const [service] = resolveServices(
      new ConfigBuilder().virtualGroup("g", { members: [{ address: "10.0.0.1" }] }).service("s", { port: 80, serverGroup: "g" }).build(),
    );
    assert.deepEqual(service.check, { method: { protocol: "TCP" }, timeoutMs: 3000, intervalMs: 5000, healthyThreshold: 3, unhealthyThreshold: 3 });
  });

  it("resolves member ports, weights and probe ports for virtual and high-availability groups", () => {
    const config = new ConfigBuilder()
      .healthCheck("hc", { port: 9000, timeoutSeconds: 2, intervalSeconds: 6 })
      .virtualGroup("gv", {
        members: [
          { address: "10.0.0.2", port: 8080, weight: 30 },
          { address: "10.0.0.1" },
          // The same member as the one above (port unset = the service port): listed once.
          { address: "10.0.0.1", port: 80, weight: 99 },
          { address: "fd00::1", enabled: false },
        ],
      })
      .haGroup("gh", { members: [{ address: "10.0.1.1" }, { address: "10.0.1.2" }] })
      .service("sv", { port: 80, serverGroup: "gv", healthCheck: "hc" })
      .service("sh", { port: 443, serverGroup: "gh" })
      .build();
    const [sv, sh] = resolveServices(config, 0.5);
    assert.deepEqual(
      sv.members.map((m) => [m.key, m.port, m.weight, m.enabled, m.probePort, m.probeKey]),
      [
        ["10.0.0.1:80", 80, 10, true, 9000, "sv|10.0.0.1:80"],
        ["10.0.0.2:8080", 8080, 30, true, 9000, "sv|10.0.0.2:8080"],
        ["[fd00::1]:80", 80, 10, false, 9000, "sv|[fd00::1]:80"],
      ],
    );
    assert.deepEqual(sv.check, { method: { protocol: "TCP" }, timeoutMs: 1000, intervalMs: 3000, healthyThreshold: 3, unhealthyThreshold: 3 }, "scaled by 0.5");
    assert.deepEqual(
      sh.members.map((m) => [m.key, m.port, m.weight, m.probePort]),
      [
        ["10.0.1.1:443", 443, 1, 443],
        ["10.0.1.2:443", 443, 1, 443],
      ],
    );
    const targets = probeTargets([sv, sh]);
    assert.equal(targets.length, 5, "disabled members are probed too");
    assert.deepEqual(targets[2], {
      key: "sv|[fd00::1]:80",
      host: "fd00::1",
      port: 9000,
      method: { protocol: "TCP" },
      timeoutMs: 1000,
      intervalMs: 3000,
      healthyThreshold: 3,
      unhealthyThreshold: 3,
    });
  });

  // `table`: the members the table is sized and built over (the enabled ones); `traffic`: the
  // plan's `eligible` (who takes new connections); `eligible`: what status shows as eligible.
  const cases: {
    name: string;
    health: Record<string, HealthState | undefined>;
    enabled?: boolean[];
    checks?: boolean;
    table: string[];
    traffic: string[];
    failOpen: boolean;
  }[] = [
    { name: "all healthy", health: { a: "Healthy", b: "Healthy", c: "Healthy" }, table: ["a", "b", "c"], traffic: ["a", "b", "c"], failOpen: false },
    { name: "Initial and Unhealthy are not eligible", health: { a: "Healthy", b: "Initial", c: "Unhealthy" }, table: ["a", "b", "c"], traffic: ["a"], failOpen: false },
    { name: "a disabled healthy member is out of the table", health: { a: "Healthy", b: "Healthy", c: "Healthy" }, enabled: [true, false, true], table: ["a", "c"], traffic: ["a", "c"], failOpen: false },
    { name: "a disabled member is out even when it is the only healthy one", health: { a: "Unhealthy", b: "Healthy", c: "Healthy" }, enabled: [true, true, false], table: ["a", "b"], traffic: ["b"], failOpen: false },
    { name: "none healthy: fail open to the enabled members", health: { a: "Unhealthy", b: "Initial", c: "Unhealthy" }, enabled: [true, true, false], table: ["a", "b"], traffic: ["a", "b"], failOpen: true },
    { name: "no enabled member: empty table, not fail open", health: { a: "Healthy" }, enabled: [false, false, false], table: [], traffic: [], failOpen: false },
    { name: "health checks off: every enabled member", health: {}, enabled: [true, false, true], checks: false, table: ["a", "c"], traffic: ["a", "c"], failOpen: false },
  ];
  for (const c of cases) {
    it(`plans eligibility: ${c.name}`, () => {
      const enabled = c.enabled ?? [true, true, true];
      const config = new ConfigBuilder()
        .virtualGroup("g", { members: ["a", "b", "c"].map((n, i) => ({ address: `10.0.0.${i + 1}`, enabled: enabled[i] })) })
        .service("s", { port: 80, serverGroup: "g", healthCheckEnabled: c.checks ?? true, drainingTimeoutSeconds: 7, idleTimeoutSeconds: 9 })
        .build();
      const [service] = resolveServices(config);
      const name = (key: string): string => "abc"[Number(key.split(".")[3].split(":")[0]) - 1];
      const planned = planService(service, (probeKey) => c.health[name(probeKey.split("|")[1])]);
      assert.deepEqual(planned.plan.table.map((m) => name(m.key)), c.table);
      assert.deepEqual((planned.plan.eligible ?? []).map(name), c.traffic);
      assert.equal(planned.failOpen, c.failOpen);
      assert.deepEqual(
        planned.plan.retained.map(name),
        ["a", "b", "c"].filter((_, i) => enabled[i]),
        "enabled members keep their connections",
      );
      assert.equal(planned.plan.drainingTimeoutMs, 7000);
      assert.equal(planned.plan.idleTimeoutMs, 9000);
      if (!c.failOpen) assert.deepEqual([...planned.eligible].map(name), c.traffic);
      else assert.equal(planned.eligible.size, 0, "status shows no member as eligible while failing open");
      // The plan crosses to worker processes over IPC as JSON.
      assert.deepEqual(JSON.parse(JSON.stringify(planned.plan)), planned.plan);
    });
  }

  describe("a health flip among 10 members, as the data plane builds the plan's table", () => {
    const N = 10;
    const CLIENTS = 20_000;
    const addresses = Array.from({ length: N }, (_, i) => `10.0.7.${i + 1}`);
    const config = new ConfigBuilder()
      .virtualGroup("g", { members: addresses.map((address, i) => ({ address, weight: 10 + 9 * i })) })
      .service("s", { port: 80, serverGroup: "g", algorithm: "IpHash" })
      .build();
    const [service] = resolveServices(config);
    const hasher = new FlowHasher(TEST_HASH_SEED);
    const clientHashes = Array.from({ length: CLIENTS }, (_, i) => hasher.ipHash(sourceAddress(i, 5)));
    const settings = { idleTimeoutMs: 1000, udpSessionTimeoutMs: 1000, drainingTimeoutMs: 1000 };
    const buckets = new Map<string, MemberBucket>();
    const bucketOf = (key: string): MemberBucket => buckets.get(key) ?? buckets.set(key, new MemberBucket("s", key)).get(key) as MemberBucket;

    function route(unhealthy: ReadonlySet<string>, previous?: ServiceRoute): { route: ServiceRoute; built: boolean } {
      const planned = planService(service, (probeKey) => (unhealthy.has(probeKey.split("|")[1]) ? "Unhealthy" : "Healthy"));
      return buildRoute(planned.plan, previous, settings, bucketOf);
    }

    /** The member each client lands on. */
    function landings(r: ServiceRoute): string[] {
      const table = r.table as Maglev<RouteMember>;
      return clientHashes.map((h) => (table.lookup(h) as RouteMember).key);
    }

    it("moves only the clients of the member that goes down, and exactly those come back", () => {
      const healthy = route(new Set());
      const before = landings(healthy.route);
      const keys = service.members.map((m) => m.key);
      let rebuiltWouldMove = 0;
      for (const down of keys) {
        const flipped = route(new Set([down]), healthy.route);
        assert.equal(flipped.built, true);
        assert.equal(flipped.route.table?.size, healthy.route.table?.size, "a health flip never resizes the table");
        const during = landings(flipped.route);
        const onDown = before.filter((k) => k === down).length;
        const stayed = before.filter((k, i) => k !== down && during[i] === k).length;
        assert.equal(stayed, CLIENTS - onDown, `${down} down: every client of another member stays where it was`);
        assert.ok(!during.includes(down), `${down} down: no client lands on it`);
        assert.ok(new Set(during.filter((_, i) => before[i] === down)).size >= N - 3, `${down} down: its clients spread over the others`);

        const recovered = route(new Set(), flipped.route);
        assert.deepEqual(landings(recovered.route), before, `${down} back: every client is where it was before the flip`);
        assert.equal(route(new Set(), recovered.route).built, false, "the same health again rebuilds nothing");

        // What a table rebuilt over the eligible members only (the forwarder before `eligible`) does.
        const rebuilt = Maglev.build(healthy.route.table?.members.filter((m) => m.key !== down) ?? []);
        rebuiltWouldMove += clientHashes.filter((h, i) => before[i] !== down && (rebuilt.lookup(h) as RouteMember).key !== before[i]).length;
      }
      console.log(`      ${N} flips over ${CLIENTS} clients: 0 clients of other members moved; a table rebuilt over the eligible members would have moved ${rebuiltWouldMove}`);
      assert.ok(rebuiltWouldMove > 0, "the scenario tells the two apart");
    });

    it("fails open to the table of all members, which is the all-healthy table", () => {
      const healthy = route(new Set());
      const allDown = route(new Set(service.members.map((m) => m.key)), healthy.route);
      assert.equal(allDown.built, false, "failing open keeps the all-healthy table");
      assert.deepEqual(landings(allDown.route), landings(healthy.route));
    });
  });

  it("a UDP service without a check gets a UDP check with the defaults; a TCP or UDP check it names is used as it is", () => {
    const config = new ConfigBuilder()
      .healthCheck("udp", { protocol: "UDP", udpRequest: "ping", udpExpectedResponse: "pong", port: 5353 })
      .healthCheck("tcp", { protocol: "TCP" })
      .virtualGroup("g1", { members: [{ address: "10.0.0.1" }] })
      .virtualGroup("g2", { members: [{ address: "10.0.0.2" }] })
      .virtualGroup("g3", { members: [{ address: "10.0.0.3" }] })
      .service("plain", { protocol: "UDP", port: 53, serverGroup: "g1" })
      .service("asked", { protocol: "UDP", port: 53, serverGroup: "g2", healthCheck: "udp" })
      .service("by-tcp", { protocol: "UDP", port: 53, serverGroup: "g3", healthCheck: "tcp" })
      .build();
    const services = resolveServices(config);
    assert.deepEqual(
      services.map((s) => [s.id, s.check?.method]),
      [
        ["plain", { protocol: "UDP" }],
        ["asked", { protocol: "UDP", request: "ping", expectedResponse: "pong" }],
        ["by-tcp", { protocol: "TCP" }],
      ],
    );
    assert.equal(services[0].check?.timeoutMs, DEFAULT_HEALTH_CHECK.timeoutSeconds * 1000);
    // The probe targets carry the method to the health monitor.
    assert.deepEqual(
      probeTargets(services).map((t) => [t.key, t.port, t.method]),
      [
        ["plain|10.0.0.1:53", 53, { protocol: "UDP" }],
        ["asked|10.0.0.2:53", 5353, { protocol: "UDP", request: "ping", expectedResponse: "pong" }],
        ["by-tcp|10.0.0.3:53", 53, { protocol: "TCP" }],
      ],
    );
  });

  it("plans a UDP service's protocol and session timeout (unset: 120 s); a TCP service's plan has none", () => {
    const config = new ConfigBuilder()
      .virtualGroup("g", { members: [{ address: "10.0.0.1" }] })
      .service("dns", { protocol: "UDP", port: 53, serverGroup: "g" })
      .service("syslog", { protocol: "UDP", port: 514, udpSessionTimeoutSeconds: 30 })
      .service("web", { port: 80 })
      .build();
    const plans = resolveServices(config).map((s) => planService(s, () => "Healthy").plan);
    assert.deepEqual(
      plans.map((p) => [p.id, p.protocol, p.udpSessionTimeoutMs]),
      [
        ["dns", "UDP", 120_000],
        ["syslog", "UDP", 30_000],
        ["web", "TCP", undefined],
      ],
    );
    assert.ok(!("udpSessionTimeoutMs" in plans[2]));
  });

  it("plans a TCP and a UDP listener on one port as two listeners, each with its protocol", () => {
    const config = new ConfigBuilder()
      .service("web", { port: 80 })
      .service("dns", { protocol: "UDP", port: 53 })
      .listener("dns-tcp", { port: 53, backendService: "web" })
      .listener("dns-udp", { protocol: "UDP", port: 53, backendService: "dns" })
      .build();
    assert.deepEqual(planListeners(config.listeners, config.backendServices), [
      { id: "dns-tcp", protocol: "TCP", port: 53, serviceId: "web" },
      { id: "dns-udp", protocol: "UDP", port: 53, serviceId: "dns" },
    ]);
  });

  it("plans listeners, leaving out a backend service that does not exist", () => {
    const config = new ConfigBuilder()
      .service("s", { port: 80 })
      .listener("l1", { port: 1000, backendService: "s" })
      .listener("l2", { port: 1001, backendService: "gone" })
      .build();
    assert.deepEqual(planListeners(config.listeners, config.backendServices), [
      { id: "l1", protocol: "TCP", port: 1000, serviceId: "s" },
      { id: "l2", protocol: "TCP", port: 1001 },
    ]);
  });
});
