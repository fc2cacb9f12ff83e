/** The control part's pure rules: configuration -> members, probe targets and plans. */
import { strict as assert } from "node:assert";
import {
  DEFAULT_HEALTH_CHECK,
  planListeners,
  planService,
  probeTargets,
  resolveServices,
} from "../../provider/forwarder/runtime-model";
import type { HealthState } from "../../provider/forwarder/health-monitor";
import { modelSchemas } from "../../provider/model";
import { ConfigBuilder } from "./helpers/config";

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
    assert.deepEqual(service.check, { timeoutMs: 3000, intervalMs: 5000, healthyThreshold: 3, unhealthyThreshold: 3 });
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
    assert.deepEqual(sv.check, { timeoutMs: 1000, intervalMs: 3000, healthyThreshold: 3, unhealthyThreshold: 3 }, "scaled by 0.5");
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
      timeoutMs: 1000,
      intervalMs: 3000,
      healthyThreshold: 3,
      unhealthyThreshold: 3,
    });
  });

  const cases: { name: string; health: Record<string, HealthState | undefined>; enabled?: boolean[]; checks?: boolean; table: string[]; failOpen: boolean }[] = [
    { name: "all healthy", health: { a: "Healthy", b: "Healthy", c: "Healthy" }, table: ["a", "b", "c"], failOpen: false },
    { name: "Initial and Unhealthy are not eligible", health: { a: "Healthy", b: "Initial", c: "Unhealthy" }, table: ["a"], failOpen: false },
    { name: "a disabled healthy member is not eligible", health: { a: "Healthy", b: "Healthy", c: "Healthy" }, enabled: [true, false, true], table: ["a", "c"], failOpen: false },
    { name: "none healthy: fail open to the enabled members", health: { a: "Unhealthy", b: "Initial", c: "Unhealthy" }, enabled: [true, true, false], table: ["a", "b"], failOpen: true },
    { name: "no enabled member: empty table, not fail open", health: { a: "Healthy" }, enabled: [false, false, false], table: [], failOpen: false },
    { name: "health checks off: every enabled member", health: {}, enabled: [true, false, true], checks: false, table: ["a", "c"], failOpen: false },
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
      assert.equal(planned.failOpen, c.failOpen);
      assert.deepEqual(
        planned.plan.retained.map(name),
        ["a", "b", "c"].filter((_, i) => enabled[i]),
        "enabled members keep their connections",
      );
      assert.equal(planned.plan.drainingTimeoutMs, 7000);
      assert.equal(planned.plan.idleTimeoutMs, 9000);
      if (!c.failOpen) assert.deepEqual([...planned.eligible].map(name), c.table);
      else assert.equal(planned.eligible.size, 0);
    });
  }

  it("plans listeners, leaving out a backend service that does not exist", () => {
    const config = new ConfigBuilder()
      .service("s", { port: 80 })
      .listener("l1", { port: 1000, backendService: "s" })
      .listener("l2", { port: 1001, backendService: "gone" })
      .build();
    assert.deepEqual(planListeners(config.listeners, config.backendServices), [
      { id: "l1", port: 1000, serviceId: "s" },
      { id: "l2", port: 1001 },
    ]);
  });
});
