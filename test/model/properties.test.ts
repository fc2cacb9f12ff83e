import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  CheckContext,
  CheckResult,
  checkBackendService,
  checkHealthCheck,
  checkHighAvailabilityGroup,
  checkListener,
  checkVirtualServerGroup,
  Kind,
  parseSpec,
  UNKNOWN,
} from "../../provider/model";
import { type JsonPath, parentOf, valueAt, withValue } from "../support/json-paths";

/**
 * Properties over generated valid inputs: Pulumi's unknown sentinel passes anywhere, `check` is
 * deterministic and idempotent, and the admin API agrees with `check`.
 */

type Raw = Record<string, unknown>;

// Pinned here, not imported: a test that reads the constant could not notice it changing.
const SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
const SUBNETS = ["10.0.0.0/8", "fd00::/8"];
/**
 * Runs per property. Every `check` builds its zod schema afresh (about 1 ms here: the model keeps
 * no schema at module level, for Pulumi's closure serialization), so runs are counted to keep the
 * whole file within a few seconds on a busy 2-core machine.
 */
const RUNS = 60;

// ---- generators of valid inputs (ranges from docs/reference.md) -----------------------------------------

const nameArb = fc.string({ unit: fc.constantFrom(..."abcXYZ019-_负载均衡后端"), minLength: 1, maxLength: 32 });
const descriptionArb = fc.string({ maxLength: 40 });
const portArb = fc.integer({ min: 1, max: 65535 });

/**
 * A member address inside SUBNETS, identified by `id` and written in one of several equivalent
 * forms, so that uniqueness is decided on `id` without trusting the model's canonicalization.
 */
const addressArb = fc
  .record({ v6: fc.boolean(), id: fc.integer({ min: 0, max: 0xffffff }), form: fc.nat(3) })
  .map(({ v6, id, form }) => {
    const [a, b, c] = [id >> 16, (id >> 8) & 255, id & 255];
    if (!v6) return { id: `4:${id}`, text: form % 2 === 0 ? `10.${a}.${b}.${c}` : `::ffff:10.${a}.${b}.${c}` };
    const [hi, lo] = [(id >> 16).toString(16), (id & 0xffff).toString(16)];
    const text = [`fd00::${hi}:${lo}`, `fd00:0:0:0:0:0:${hi}:${lo}`, `FD00::${hi.toUpperCase()}:${lo.toUpperCase()}`, `fd00:0000::${hi.padStart(4, "0")}:${lo}`][form];
    return { id: `6:${id}`, text };
  });

/** Records whose optional keys are sometimes left out. */
function optionalRecord<T extends Record<string, fc.Arbitrary<unknown>>>(model: T, requiredKeys: (keyof T & string)[]) {
  return fc.record(model, { requiredKeys }) as fc.Arbitrary<Raw>;
}

const virtualMembersArb = fc
  .uniqueArray(
    fc.record(
      { address: addressArb, port: fc.option(portArb, { nil: undefined }), weight: fc.option(fc.integer({ min: 1, max: 100 }), { nil: undefined }), enabled: fc.option(fc.boolean(), { nil: undefined }) },
    ),
    { minLength: 1, maxLength: 6, selector: (m) => `${m.address.id}|${m.port ?? ""}` },
  )
  .map((members) =>
    members.map(({ address, ...rest }) => {
      const member: Raw = { address: address.text };
      for (const [key, value] of Object.entries(rest)) if (value !== undefined) member[key] = value;
      return member;
    }),
  );

const haMembersArb = fc
  .uniqueArray(fc.record({ address: addressArb, enabled: fc.option(fc.boolean(), { nil: undefined }) }), {
    minLength: 1,
    maxLength: 6,
    selector: (m) => m.address.id,
  })
  .map((members) => members.map(({ address, enabled }) => (enabled === undefined ? { address: address.text } : { address: address.text, enabled })));

interface Resource {
  readonly title: string;
  readonly check: (raw: Raw, ctx: CheckContext) => CheckResult;
  readonly kind: Kind;
  readonly type?: "virtual" | "high-availability";
  readonly arb: fc.Arbitrary<Raw>;
  /** Fields `check` fills when they are left out, and member fields filled in every member. */
  readonly defaults: readonly string[];
  readonly memberDefaults: readonly string[];
}

const RESOURCES: Resource[] = [
  {
    title: "HealthCheck",
    check: checkHealthCheck,
    kind: "health-checks",
    arb: optionalRecord(
      {
        name: nameArb,
        description: descriptionArb,
        protocol: fc.constant("TCP"),
        port: portArb,
        timeoutSeconds: fc.integer({ min: 2, max: 60 }),
        intervalSeconds: fc.integer({ min: 5, max: 300 }),
        unhealthyThreshold: fc.integer({ min: 1, max: 5 }),
        healthyThreshold: fc.integer({ min: 1, max: 5 }),
      },
      [],
    ),
    defaults: ["name", "protocol", "timeoutSeconds", "intervalSeconds", "unhealthyThreshold", "healthyThreshold"],
    memberDefaults: [],
  },
  {
    title: "VirtualServerGroup",
    check: checkVirtualServerGroup,
    kind: "server-groups",
    type: "virtual",
    arb: optionalRecord({ name: nameArb, description: descriptionArb, members: virtualMembersArb }, ["members"]),
    defaults: ["name"],
    memberDefaults: ["weight", "enabled"],
  },
  {
    title: "HighAvailabilityGroup",
    check: checkHighAvailabilityGroup,
    kind: "server-groups",
    type: "high-availability",
    arb: optionalRecord({ name: nameArb, description: descriptionArb, members: haMembersArb }, ["members"]),
    defaults: ["name"],
    memberDefaults: ["enabled"],
  },
  {
    title: "BackendService",
    check: checkBackendService,
    kind: "backend-services",
    arb: optionalRecord(
      {
        name: nameArb,
        description: descriptionArb,
        protocol: fc.constant("TCP"),
        port: portArb,
        algorithm: fc.constantFrom("IpHash", "QuintupleHash"),
        healthCheck: fc.constantFrom("hc-1", "a.b_c-9"),
        healthCheckEnabled: fc.boolean(),
        serverGroup: fc.constantFrom("vsg-1", "ha.2"),
        idleTimeoutSeconds: fc.integer({ min: 1, max: 86400 }),
        drainingTimeoutSeconds: fc.integer({ min: 0, max: 3600 }),
        proxyProtocol: fc.constantFrom("off", "v1", "v2"),
      },
      ["port"],
    ),
    defaults: ["name", "protocol", "algorithm", "healthCheckEnabled", "idleTimeoutSeconds", "drainingTimeoutSeconds", "proxyProtocol"],
    memberDefaults: [],
  },
  {
    title: "Listener",
    check: checkListener,
    kind: "listeners",
    arb: optionalRecord({ name: nameArb, description: descriptionArb, protocol: fc.constant("TCP"), port: portArb, backendService: fc.constant("bs-1") }, [
      "port",
      "backendService",
    ]),
    defaults: ["name", "protocol"],
    memberDefaults: [],
  },
];

// ---- tree helpers ------------------------------------------------------------------------------

/** Every position in a JSON value: fields, lists, list entries, leaves. */
function positions(value: unknown, prefix: JsonPath = []): JsonPath[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => [[...prefix, i], ...positions(v, [...prefix, i])]);
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...positions(v, [...prefix, k])]);
  }
  return [];
}

const isPrefix = (a: JsonPath, b: JsonPath) => a.length <= b.length && a.every((k, i) => b[i] === k);

/** Replaces the chosen positions with the sentinel (outermost first; inner ones then vanish). */
function withUnknowns(raw: Raw, chosen: readonly JsonPath[]): { raw: Raw; replaced: JsonPath[] } {
  const copy = structuredClone(raw);
  const replaced: JsonPath[] = [];
  for (const path of [...chosen].sort((a, b) => a.length - b.length)) {
    if (replaced.some((r) => isPrefix(r, path))) continue;
    parentOf(copy, path)[path[path.length - 1]] = SENTINEL;
    replaced.push(path);
  }
  return { raw: copy, replaced };
}

/** A deterministic shuffle of every object's keys, at every depth. */
function shuffleKeys(value: unknown, seed: number): unknown {
  if (Array.isArray(value)) return value.map((v, i) => shuffleKeys(v, seed + i));
  if (value === null || typeof value !== "object") return value;
  const entries = Object.entries(value);
  let s = seed >>> 0 || 1;
  for (let i = entries.length - 1; i > 0; i--) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    const j = s % (i + 1);
    [entries[i], entries[j]] = [entries[j], entries[i]];
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, shuffleKeys(v, s + k.length)]));
}

/** A valid input plus a random set of its positions to make unknown, and whether subnets are. */
function withUnknownPositions(resource: Resource) {
  return resource.arb.chain((raw) =>
    fc.record({
      raw: fc.constant(raw),
      chosen: fc.subarray(positions(raw)),
      subnets: fc.constantFrom<readonly string[] | typeof UNKNOWN>(SUBNETS, [SENTINEL, SUBNETS[0]], UNKNOWN),
    }),
  );
}

const ctx = (subnets?: CheckContext["subnets"]): CheckContext => ({ defaultName: "res", subnets });

// ---- properties -------------------------------------------------------------------------------

describe("model: the unknown sentinel (pulumi preview)", () => {
  it("is the sentinel Pulumi uses", () => assert.equal(UNKNOWN, SENTINEL));

  for (const resource of RESOURCES) {
    it(`${resource.title}: any valid input with random positions unknown passes untouched, other defaults filled`, () => {
      fc.assert(
        fc.property(withUnknownPositions(resource), ({ raw: valid, chosen, subnets }) => {
          const { raw, replaced } = withUnknowns(valid, chosen);
          const result = resource.check(raw, ctx(subnets));
          assert.deepEqual(result.failures, []);
          for (const path of replaced) assert.equal(valueAt(result.inputs, path), SENTINEL, `unknown at ${path.join(".")} kept`);
          // Known leaves are kept (addresses in canonical form, checked elsewhere).
          for (const path of positions(raw)) {
            const given = valueAt(raw, path);
            if (typeof given === "object" || path[path.length - 1] === "address") continue;
            assert.deepEqual(valueAt(result.inputs, path), given, `value at ${path.join(".")} kept`);
          }
          for (const key of resource.defaults) assert.notEqual(result.inputs[key], undefined, `default ${key} filled`);
          const members = result.inputs.members;
          if (Array.isArray(members)) {
            for (const member of members) {
              if (member === SENTINEL) continue;
              for (const key of resource.memberDefaults) assert.notEqual((member as Raw)[key], undefined, `member default ${key} filled`);
            }
          }
        }),
        { numRuns: RUNS },
      );
    });
  }

  // The same rules, one chosen position at a time, as a reader would list them.
  it("passes in a number field, an enum field and a reference, filling the other defaults", () => {
    const result = checkHealthCheck({ timeoutSeconds: SENTINEL, protocol: SENTINEL }, ctx());
    assert.deepEqual(result.failures, []);
    assert.deepEqual(result.inputs, {
      name: "res",
      protocol: SENTINEL,
      timeoutSeconds: SENTINEL,
      intervalSeconds: 5,
      unhealthyThreshold: 3,
      healthyThreshold: 3,
    });
    const service = checkBackendService({ port: SENTINEL, algorithm: SENTINEL, healthCheck: SENTINEL }, ctx());
    assert.deepEqual(service.failures, []);
    assert.equal(service.inputs.port, SENTINEL);
    assert.equal(service.inputs.proxyProtocol, "off");
  });

  it("passes as a whole member and as the whole members list", () => {
    const one = checkVirtualServerGroup({ members: [{ address: "10.0.0.1" }, SENTINEL] }, ctx());
    assert.deepEqual(one.failures, []);
    assert.deepEqual(one.inputs.members, [{ address: "10.0.0.1", weight: 10, enabled: true }, SENTINEL]);
    const all = checkHighAvailabilityGroup({ members: SENTINEL }, ctx());
    assert.deepEqual(all.failures, []);
    assert.deepEqual(all.inputs, { name: "res", members: SENTINEL });
  });

  it("is never taken for a duplicate: unknown addresses or ports may differ once known", () => {
    const members = [
      { address: "10.0.0.1", port: 80 },
      { address: SENTINEL, port: 80 },
      { address: SENTINEL, port: 80 },
      { address: "10.0.0.1", port: SENTINEL },
      { address: "10.0.0.1", port: SENTINEL },
    ];
    assert.deepEqual(checkVirtualServerGroup({ members }, ctx()).failures, []);
    assert.deepEqual(checkHighAvailabilityGroup({ members: [{ address: SENTINEL }, { address: SENTINEL }] }, ctx()).failures, []);
  });

  it("in the load balancer's subnets (the whole list or one entry) skips the subnets rule", () => {
    const members = [{ address: "172.16.0.1" }];
    assert.deepEqual(checkVirtualServerGroup({ members }, ctx(UNKNOWN)).failures, []);
    assert.deepEqual(checkVirtualServerGroup({ members }, ctx([SENTINEL, "10.0.0.0/16"])).failures, [], "the unknown subnet may hold it");
    assert.equal(checkVirtualServerGroup({ members }, ctx(["10.0.0.0/16"])).failures.length, 1, "known subnets still apply");
  });

  it("as a member address inside the subnets rule is not judged", () => {
    assert.deepEqual(checkVirtualServerGroup({ members: [{ address: SENTINEL }] }, ctx(["10.0.0.0/16"])).failures, []);
  });

  it("does not hide real failures next to it", () => {
    const result = checkVirtualServerGroup({ members: [SENTINEL, { address: "10.0.0.1", weight: 0 }] }, ctx());
    assert.deepEqual(result.failures.map((f) => f.property), ["members[1].weight"]);
  });
});

describe("model: check is stable", () => {
  for (const resource of RESOURCES) {
    it(`${resource.title}: the same input, in any key order, gives byte-identical output; check(check(x)) = check(x)`, () => {
      fc.assert(
        fc.property(withUnknownPositions(resource), fc.integer(), ({ raw: valid, chosen, subnets }, seed) => {
          const { raw } = withUnknowns(valid, chosen);
          const first = resource.check(raw, ctx(subnets));
          assert.deepEqual(first.failures, []);
          const text = JSON.stringify(first.inputs);
          const shuffled = shuffleKeys(raw, seed) as Raw;
          assert.equal(JSON.stringify(resource.check(shuffled, ctx(subnets)).inputs), text, "key order of the input does not matter");
          const again = resource.check(first.inputs, ctx(subnets));
          assert.deepEqual(again.failures, []);
          assert.equal(JSON.stringify(again.inputs), text, "normalizing normalized inputs changes nothing");
        }),
        { numRuns: RUNS },
      );
    });
  }

  // Pins the defaults of docs/reference.md and the key order in one literal per resource.
  const golden: [string, () => CheckResult, string][] = [
    [
      "HealthCheck",
      () => checkHealthCheck({ healthyThreshold: 2, port: 8080 }, ctx()),
      '{"name":"res","protocol":"TCP","port":8080,"timeoutSeconds":3,"intervalSeconds":5,"unhealthyThreshold":3,"healthyThreshold":2}',
    ],
    [
      "VirtualServerGroup",
      () => checkVirtualServerGroup({ members: [{ enabled: false, address: "::ffff:10.0.0.2" }, { port: 81, address: "2001:0db8::1" }] }, ctx()),
      '{"name":"res","members":[{"address":"10.0.0.2","weight":10,"enabled":false},{"address":"2001:db8::1","port":81,"weight":10,"enabled":true}]}',
    ],
    [
      "HighAvailabilityGroup",
      () => checkHighAvailabilityGroup({ description: "", members: [{ address: "fd00:0::1" }] }, ctx()),
      '{"name":"res","description":"","members":[{"address":"fd00::1","enabled":true}]}',
    ],
    [
      "BackendService",
      () => checkBackendService({ serverGroup: "vsg-1", port: 443 }, ctx()),
      '{"name":"res","protocol":"TCP","port":443,"algorithm":"IpHash","healthCheckEnabled":true,"serverGroup":"vsg-1","idleTimeoutSeconds":900,"drainingTimeoutSeconds":300,"proxyProtocol":"off"}',
    ],
    ["Listener", () => checkListener({ backendService: "bs-1", port: 80 }, ctx()), '{"name":"res","protocol":"TCP","port":80,"backendService":"bs-1"}'],
  ];
  for (const [title, run, expected] of golden) {
    it(`${title}: normalized output is exactly ${expected.length} known bytes`, () => {
      const result = run();
      assert.deepEqual(result.failures, []);
      assert.equal(JSON.stringify(result.inputs), expected);
    });
  }
});

describe("model: the admin API agrees with check", () => {
  const tagged = (resource: Resource, raw: Raw) => (resource.type ? { type: resource.type, ...raw } : raw);

  for (const resource of RESOURCES) {
    it(`${resource.title}: a valid input gives the spec check normalizes it to`, () => {
      fc.assert(
        fc.property(resource.arb, (raw) => {
          const named = { ...raw, name: raw.name ?? "res" };
          const checked = resource.check(named, {});
          const strict = parseSpec(resource.kind, tagged(resource, named));
          assert.ok(strict.ok, JSON.stringify(strict));
          assert.deepEqual(strict.spec, tagged(resource, checked.inputs));
          const again = parseSpec(resource.kind, strict.spec);
          assert.ok(again.ok);
          assert.equal(JSON.stringify(again.spec), JSON.stringify(strict.spec), "the stored spec parses to itself");
        }),
        { numRuns: RUNS },
      );
    });

    it(`${resource.title}: one bad value anywhere gives the same failures at the same paths`, () => {
      const bad = fc.oneof(
        fc.integer({ min: -100000, max: 100000 }),
        fc.double({ noNaN: true }),
        fc.string({ maxLength: 5 }),
        fc.boolean(),
        fc.constant(null),
        fc.constant([]),
        fc.constant({}),
      );
      const mutated = resource.arb.chain((raw) => {
        const named = { ...raw, name: raw.name ?? "res" };
        return fc.record({ raw: fc.constant(named), at: fc.constantFrom(...positions(named)), value: bad });
      });
      fc.assert(
        fc.property(mutated, ({ raw, at, value }) => {
          const changed = withValue(raw, at, value);
          const checked = resource.check(changed, {});
          const strict = parseSpec(resource.kind, tagged(resource, changed));
          if (checked.failures.length === 0) {
            assert.ok(strict.ok, `check accepted ${JSON.stringify(changed)} but the admin API did not`);
          } else {
            assert.ok(!strict.ok, `check refused ${JSON.stringify(changed)} but the admin API did not`);
            assert.deepEqual(strict.failures, checked.failures);
          }
        }),
        { numRuns: RUNS },
      );
    });
  }
});
