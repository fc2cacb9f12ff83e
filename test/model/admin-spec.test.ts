import { strict as assert } from "node:assert";
import {
  CheckResult,
  checkBackendService,
  checkHealthCheck,
  checkHighAvailabilityGroup,
  checkListener,
  checkVirtualServerGroup,
  Kind,
  parseSpec,
  SpecResult,
} from "../../provider/model";

/** parseSpec: the admin API's strict mode (docs/DESIGN.md "Admin API"). */

const SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

function failuresOf<T>(result: SpecResult<T>) {
  assert.ok(!result.ok, `expected a refusal, got ${JSON.stringify(result)}`);
  return result.failures;
}

function refused<T>(result: SpecResult<T>, property: string, ...words: string[]): void {
  const failures = failuresOf(result);
  assert.deepEqual(
    failures.map((f) => f.property),
    [property],
    `expected one failure at ${property}, got ${JSON.stringify(failures)}`,
  );
  for (const word of words) assert.ok(failures[0].reason.includes(word), `${failures[0].reason} should contain ${word}`);
}

describe("model: parseSpec (admin API, strict)", () => {
  describe("server groups are tagged with their type", () => {
    it('stores a "virtual" group with its defaults', () => {
      const result = parseSpec("server-groups", { type: "virtual", name: "vsg", members: [{ address: "::ffff:10.0.0.1" }] });
      assert.ok(result.ok);
      assert.deepEqual(result.spec, { type: "virtual", name: "vsg", members: [{ address: "10.0.0.1", weight: 10, enabled: true }] });
    });

    it('stores a "high-availability" group with its defaults', () => {
      const result = parseSpec("server-groups", { type: "high-availability", name: "ha", members: [{ address: "fd00:0::1" }] });
      assert.ok(result.ok);
      assert.deepEqual(result.spec, { type: "high-availability", name: "ha", members: [{ address: "fd00::1", enabled: true }] });
    });

    it("refuses a missing or unknown type, naming the choices and the value", () => {
      const members = [{ address: "10.0.0.1" }];
      refused(parseSpec("server-groups", { name: "g", members }), "type", '"virtual" or "high-availability"', "(got nothing)");
      refused(parseSpec("server-groups", { type: "ha", name: "g", members }), "type", '"virtual" or "high-availability"', '(got "ha")');
    });

    it("refuses a body that is not an object, without throwing", () => {
      for (const body of [null, [], "x", 5]) {
        refused(parseSpec("server-groups", body), "", "must be an object", `(got ${JSON.stringify(body)})`);
        refused(parseSpec("health-checks", body), "", "must be an object", `(got ${JSON.stringify(body)})`);
      }
    });

    it("applies each type's own rules", () => {
      const message = "members of a high-availability group take no weight/port";
      refused(
        parseSpec("server-groups", { type: "high-availability", name: "g", members: [{ address: "10.0.0.1", weight: 5 }] }),
        "members[0].weight",
        message,
      );
      refused(
        parseSpec("server-groups", { type: "high-availability", name: "g", members: [{ address: "10.0.0.1", port: 80 }] }),
        "members[0].port",
        message,
      );
      refused(
        parseSpec("server-groups", { type: "virtual", name: "g", members: [{ address: "10.0.0.1", weight: 101 }] }),
        "members[0].weight",
        "from 1 to 100",
        "(got 101)",
      );
      refused(
        parseSpec("server-groups", { type: "virtual", name: "g", members: [{ address: "10.0.0.1" }, { address: "::ffff:10.0.0.1" }] }),
        "members[1]",
        "repeats members[0]",
      );
    });

    it("names unknown fields, as check does", () => {
      refused(parseSpec("server-groups", { type: "virtual", name: "g", members: [{ address: "10.0.0.1" }], extra: 1 }), "extra", "is not a field");
      refused(parseSpec("server-groups", { type: "virtual", name: "g", members: [{ address: "10.0.0.1", wieght: 1 }] }), "members[0].wieght", "is not a field", "weight");
      refused(parseSpec("health-checks", { name: "hc", timeoutSecond: 5 }), "timeoutSecond", "is not a field of a HealthCheck", "timeoutSeconds");
    });

    it("requires a name: the provider always sends one", () => {
      refused(parseSpec("listeners", { port: 80, backendService: "bs" }), "name", "is required");
    });
  });

  describe("the unknown sentinel is refused: a node never stores a value Pulumi did not know", () => {
    const cases: [string, Kind, Record<string, unknown>, string][] = [
      ["a number field", "health-checks", { name: "hc", timeoutSeconds: SENTINEL }, "timeoutSeconds"],
      ["an enum field", "backend-services", { name: "bs", port: 80, algorithm: SENTINEL }, "algorithm"],
      ["a boolean", "backend-services", { name: "bs", port: 80, healthCheckEnabled: SENTINEL }, "healthCheckEnabled"],
      ["the name", "listeners", { name: SENTINEL, port: 80, backendService: "bs" }, "name"],
      ["a member address", "server-groups", { type: "virtual", name: "g", members: [{ address: SENTINEL }] }, "members[0].address"],
      ["a member port", "server-groups", { type: "virtual", name: "g", members: [{ address: "10.0.0.1", port: SENTINEL }] }, "members[0].port"],
      ["a whole member", "server-groups", { type: "virtual", name: "g", members: [{ address: "10.0.0.1" }, SENTINEL] }, "members[1]"],
      ["the members list", "server-groups", { type: "high-availability", name: "g", members: SENTINEL }, "members"],
    ];
    for (const [what, kind, body, property] of cases) {
      it(`in ${what}`, () => refused(parseSpec(kind, body), property, `(got "${SENTINEL}")`));
    }

    it("as the type tag or the whole body", () => {
      refused(parseSpec("server-groups", { type: SENTINEL, name: "g", members: [] }), "type", `(got "${SENTINEL}")`);
      refused(parseSpec("listeners", SENTINEL), "", `(got "${SENTINEL}")`);
    });
  });

  describe("failures have the same paths and messages as check", () => {
    const pairs: [string, Kind, Record<string, unknown>, (raw: Record<string, unknown>) => CheckResult][] = [
      ["HealthCheck", "health-checks", { name: "hc", protocol: "HTTP", timeoutSeconds: 61, port: "80" }, (raw) => checkHealthCheck(raw)],
      [
        "BackendService",
        "backend-services",
        { name: "b c", port: 0, algorithm: "RoundRobin", proxyProtocol: "v3", drainingTimeoutSeconds: -1 },
        (raw) => checkBackendService(raw),
      ],
      ["Listener", "listeners", { name: "ln", protocol: "SCTP", port: 65536, backendService: "" }, (raw) => checkListener(raw)],
      [
        "VirtualServerGroup",
        "server-groups",
        { name: "g", members: [{ address: "example.com" }, { address: "10.0.0.2", weight: 2.5, port: "80" }, { address: "10.0.0.3", enabled: 1 }] },
        (raw) => checkVirtualServerGroup(raw),
      ],
      [
        "HighAvailabilityGroup",
        "server-groups",
        { name: "g", description: "x".repeat(257), members: [{ address: "10.0.0.1", weight: 1 }, { address: "10.0.0.256" }] },
        (raw) => checkHighAvailabilityGroup(raw),
      ],
    ];
    for (const [title, kind, raw, check] of pairs) {
      it(`${title}: several failures at once`, () => {
        const checked = check(raw);
        assert.ok(checked.failures.length >= 3, `the example must fail several ways: ${JSON.stringify(checked.failures)}`);
        const type = title === "VirtualServerGroup" ? "virtual" : title === "HighAvailabilityGroup" ? "high-availability" : undefined;
        const strict = parseSpec(kind, type ? { type, ...raw } : raw);
        assert.deepEqual(failuresOf(strict), checked.failures);
      });
    }
  });

  it("does not know the load balancer's subnets: that rule is the provider's", () => {
    assert.ok(parseSpec("server-groups", { type: "virtual", name: "g", members: [{ address: "203.0.113.9" }] }).ok);
  });
});
