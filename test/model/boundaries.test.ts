import { strict as assert } from "node:assert";
import {
  CheckResult,
  checkBackendService,
  checkHealthCheck,
  checkHighAvailabilityGroup,
  checkListener,
  checkLoadBalancerArgs,
  checkVirtualServerGroup,
  Kind,
  parseSpec,
} from "../../provider/model";
import { type JsonPath, parentOf, valueAt, withValue, without } from "../support/json-paths";

/**
 * Every ranged field at min-1, min, max, max+1, a non-integer, a wrong type and when missing.
 * The ranges and defaults below are copied from the contract (docs/reference.md) as literal numbers, on purpose
 * never read from the schemas: a schema that drifts from the contract fails here.
 */

type Raw = Record<string, unknown>;

interface Resource {
  readonly title: string;
  /** Preview-mode `check` as the provider calls it (the Pulumi resource name as default name). */
  readonly check: (raw: Raw) => CheckResult;
  /** The admin API kind and server-group tag, to check that strict parsing fails the same way. */
  readonly kind?: Kind;
  readonly type?: "virtual" | "high-availability";
  /** A valid input; every row changes one field of a fresh copy. */
  readonly valid: () => Raw;
}

const fourMembers = () => [1, 2, 3, 4].map((i) => ({ address: `10.0.0.${i}`, port: 8080 }));

const HEALTH_CHECK: Resource = {
  title: "HealthCheck",
  check: (raw) => checkHealthCheck(raw, { defaultName: "hc" }),
  kind: "health-checks",
  valid: () => ({ name: "hc-1" }),
};
const UDP_HEALTH_CHECK: Resource = {
  title: "HealthCheck (UDP)",
  check: (raw) => checkHealthCheck(raw, { defaultName: "hc" }),
  kind: "health-checks",
  valid: () => ({ name: "hc-1", protocol: "UDP", udpRequest: "ping", udpExpectedResponse: "pong" }),
};
/** udpRequest cannot go missing while udpExpectedResponse is set: its rows start from a check without one. */
const UDP_REQUEST_CHECK: Resource = { ...UDP_HEALTH_CHECK, valid: () => ({ name: "hc-1", protocol: "UDP", udpRequest: "ping" }) };
const VIRTUAL_GROUP: Resource = {
  title: "VirtualServerGroup",
  check: (raw) => checkVirtualServerGroup(raw, { defaultName: "vsg" }),
  kind: "server-groups",
  type: "virtual",
  valid: () => ({ name: "vsg-1", members: fourMembers() }),
};
const HA_GROUP: Resource = {
  title: "HighAvailabilityGroup",
  check: (raw) => checkHighAvailabilityGroup(raw, { defaultName: "ha" }),
  kind: "server-groups",
  type: "high-availability",
  valid: () => ({ name: "ha-1", members: [{ address: "10.0.0.1" }, { address: "10.0.0.2" }] }),
};
const BACKEND_SERVICE: Resource = {
  title: "BackendService",
  check: (raw) => checkBackendService(raw, { defaultName: "bs" }),
  kind: "backend-services",
  valid: () => ({ name: "bs-1", port: 80 }),
};
const UDP_BACKEND_SERVICE: Resource = {
  title: "BackendService (UDP)",
  check: (raw) => checkBackendService(raw, { defaultName: "bs" }),
  kind: "backend-services",
  valid: () => ({ name: "bs-1", port: 53, protocol: "UDP" }),
};
const LISTENER: Resource = {
  title: "Listener",
  check: (raw) => checkListener(raw, { defaultName: "ln" }),
  kind: "listeners",
  valid: () => ({ name: "ln-1", port: 80, backendService: "bs-1" }),
};
const LOAD_BALANCER: Resource = {
  title: "LoadBalancer",
  check: (raw) => checkLoadBalancerArgs(raw),
  valid: () => ({ nodes: [{}, {}] }),
};

/** What happens when the field is left out. */
type WhenMissing = { readonly required: true } | { readonly defaultValue: unknown } | { readonly optional: true };

interface IntegerRow {
  readonly resource: Resource;
  readonly path: JsonPath;
  readonly min: number;
  readonly max: number;
  readonly missing: WhenMissing;
}

const REQUIRED = { required: true } as const;
const OPTIONAL = { optional: true } as const;

// docs/reference.md, one row per ranged integer field.
const INTEGER_ROWS: IntegerRow[] = [
  { resource: HEALTH_CHECK, path: ["port"], min: 1, max: 65535, missing: OPTIONAL },
  { resource: HEALTH_CHECK, path: ["timeoutSeconds"], min: 2, max: 60, missing: { defaultValue: 3 } },
  { resource: HEALTH_CHECK, path: ["intervalSeconds"], min: 5, max: 300, missing: { defaultValue: 5 } },
  { resource: HEALTH_CHECK, path: ["unhealthyThreshold"], min: 1, max: 5, missing: { defaultValue: 3 } },
  { resource: HEALTH_CHECK, path: ["healthyThreshold"], min: 1, max: 5, missing: { defaultValue: 3 } },
  { resource: VIRTUAL_GROUP, path: ["members", 3, "port"], min: 1, max: 65535, missing: OPTIONAL },
  { resource: VIRTUAL_GROUP, path: ["members", 3, "weight"], min: 1, max: 100, missing: { defaultValue: 10 } },
  { resource: BACKEND_SERVICE, path: ["port"], min: 1, max: 65535, missing: REQUIRED },
  { resource: BACKEND_SERVICE, path: ["idleTimeoutSeconds"], min: 1, max: 86400, missing: { defaultValue: 900 } },
  { resource: BACKEND_SERVICE, path: ["drainingTimeoutSeconds"], min: 0, max: 3600, missing: { defaultValue: 300 } },
  // Unset stays unset in the spec: the node applies 120 s to UDP services (TCP specs keep their bytes).
  { resource: UDP_BACKEND_SERVICE, path: ["udpSessionTimeoutSeconds"], min: 1, max: 3600, missing: OPTIONAL },
  { resource: LISTENER, path: ["port"], min: 1, max: 65535, missing: REQUIRED },
  { resource: LOAD_BALANCER, path: ["nodes"], min: 1, max: 16, missing: { defaultValue: 2 } },
  { resource: LOAD_BALANCER, path: ["nodes", 1, "adminPort"], min: 1, max: 65535, missing: OPTIONAL },
];

interface ListRow {
  readonly resource: Resource;
  readonly path: JsonPath;
  readonly min: number;
  readonly max: number;
  readonly entry: (i: number) => unknown;
  readonly missing: WhenMissing;
}

/** Distinct addresses for big member lists: 10.0.x.y. */
const address = (i: number) => `10.0.${i >> 8}.${i & 255}`;

const LIST_ROWS: ListRow[] = [
  { resource: VIRTUAL_GROUP, path: ["members"], min: 1, max: 1000, entry: (i) => ({ address: address(i) }), missing: REQUIRED },
  { resource: HA_GROUP, path: ["members"], min: 1, max: 1000, entry: (i) => ({ address: address(i) }), missing: REQUIRED },
  { resource: LOAD_BALANCER, path: ["nodes"], min: 1, max: 16, entry: () => ({}), missing: { defaultValue: 2 } },
];

interface TextRow {
  readonly resource: Resource;
  readonly path: JsonPath;
  /** Shortest allowed length (undefined: the empty string is allowed). */
  readonly min?: number;
  readonly max: number;
  /** Words the reason uses for the range. */
  readonly range: string;
  readonly missing: WhenMissing;
}

const RESOURCES = [HEALTH_CHECK, VIRTUAL_GROUP, HA_GROUP, BACKEND_SERVICE, LISTENER];
const TEXT_ROWS: TextRow[] = [
  ...RESOURCES.flatMap((resource): TextRow[] => [
    // Missing: the provider's check fills the Pulumi resource name.
    { resource, path: ["name"], min: 1, max: 32, range: "1-32 characters", missing: { defaultValue: defaultNameOf(resource) } },
    { resource, path: ["description"], max: 256, range: "at most 256 characters", missing: OPTIONAL },
  ]),
  // ASCII here, so characters are bytes; rules.test.ts counts multi-byte text.
  { resource: UDP_HEALTH_CHECK, path: ["udpExpectedResponse"], min: 1, max: 500, range: "1 to 500 bytes", missing: OPTIONAL },
  { resource: UDP_REQUEST_CHECK, path: ["udpRequest"], min: 1, max: 500, range: "1 to 500 bytes", missing: OPTIONAL },
];


function defaultNameOf(resource: Resource): string {
  return { HealthCheck: "hc", VirtualServerGroup: "vsg", HighAvailabilityGroup: "ha", BackendService: "bs", Listener: "ln" }[
    resource.title
  ] as string;
}

// ---- helpers -------------------------------------------------------------------------------

function formatted(path: JsonPath): string {
  return path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? p : `.${p}`)).join("");
}

/** How a failure quotes the value given: JSON, cut at 80 characters. */
/** A list's size as a failure states it: the count, not the entries (a list of 1001 members does not fit a message). */
function entries(n: number): string {
  return n === 1 ? "1 entry" : `${n} entries`;
}

function quoted(value: unknown): string {
  const json = JSON.stringify(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

function expectAccepted(resource: Resource, raw: Raw, path: JsonPath, expected: unknown): void {
  const result = resource.check(raw);
  assert.deepEqual(result.failures, [], `${formatted(path)} = ${quoted(expected)} must be accepted`);
  assert.deepEqual(valueAt(result.inputs, path), expected);
  if (resource.kind !== undefined) {
    const strict = parseSpec(resource.kind, resource.type ? { type: resource.type, ...raw } : raw);
    assert.ok(strict.ok, `the admin API must accept what check accepts: ${JSON.stringify(strict)}`);
    assert.deepEqual(valueAt(strict.spec, path), expected);
  }
}

/** Exactly one failure, at `path`, whose reason starts with the path and contains every `words`. */
function expectRefused(resource: Resource, raw: Raw, path: JsonPath, words: readonly string[]): void {
  const property = formatted(path);
  const result = resource.check(raw);
  assert.deepEqual(
    result.failures.map((f) => f.property),
    [property],
    `expected one failure at ${property}, got ${JSON.stringify(result.failures)}`,
  );
  const reason = result.failures[0].reason;
  assert.ok(reason.startsWith(`${property} `), `reason names the property: ${reason}`);
  for (const word of words) assert.ok(reason.includes(word), `reason ${JSON.stringify(reason)} should contain ${JSON.stringify(word)}`);
  if (resource.kind !== undefined) {
    const strict = parseSpec(resource.kind, resource.type ? { type: resource.type, ...raw } : raw);
    assert.ok(!strict.ok, "the admin API must refuse what check refuses");
    assert.deepEqual(strict.failures, result.failures, "the admin API reports the same paths and messages");
  }
}

function expectMissing(resource: Resource, path: JsonPath, missing: WhenMissing, range: string): void {
  const raw = without(resource.valid(), path);
  if ("required" in missing) {
    expectRefused(resource, raw, path, ["is required", range]);
  } else if ("defaultValue" in missing) {
    const result = resource.check(raw);
    assert.deepEqual(result.failures, []);
    assert.deepEqual(valueAt(result.inputs, path), missing.defaultValue, `default of ${formatted(path)}`);
  } else {
    const result = resource.check(raw);
    assert.deepEqual(result.failures, []);
    assert.ok(!Object.hasOwn(parentOf(result.inputs, path), path[path.length - 1]), `${formatted(path)} stays unset`);
  }
}

// ---- the tables ------------------------------------------------------------------------------

describe("model: every ranged field at its boundaries", () => {
  for (const row of INTEGER_ROWS) {
    const { resource, path, min, max } = row;
    const range = `from ${min} to ${max}`;
    const at = (value: unknown) => withValue(resource.valid(), path, value);
    describe(`${resource.title} ${formatted(path)} (${min}-${max})`, () => {
      it(`refuses ${min - 1} (min-1)`, () => expectRefused(resource, at(min - 1), path, [range, `(got ${min - 1})`]));
      it(`accepts ${min} (min)`, () => expectAccepted(resource, at(min), path, min));
      it(`accepts ${max} (max)`, () => expectAccepted(resource, at(max), path, max));
      it(`refuses ${max + 1} (max+1)`, () => expectRefused(resource, at(max + 1), path, [range, `(got ${max + 1})`]));
      it(`refuses ${min + 0.5} (not an integer)`, () =>
        expectRefused(resource, at(min + 0.5), path, [range, `(got ${min + 0.5})`]));
      it(`refuses the string "5"`, () => expectRefused(resource, at("5"), path, [range, `(got "5")`]));
      it("refuses null", () => expectRefused(resource, at(null), path, [range, "(got null)"]));
      it(`when missing: ${JSON.stringify(row.missing)}`, () => expectMissing(resource, path, row.missing, range));
    });
  }

  for (const row of LIST_ROWS) {
    const { resource, path, min, max } = row;
    const range = `a list of ${min} to ${max}`;
    const list = (n: number) => Array.from({ length: n }, (_, i) => row.entry(i));
    const at = (value: unknown) => withValue(resource.valid(), path, value);
    describe(`${resource.title} ${formatted(path)} count (${min}-${max} entries)`, () => {
      it(`refuses ${min - 1} entries (min-1)`, () => expectRefused(resource, at(list(min - 1)), path, [range, `(got ${entries(min - 1)})`]));
      for (const [count, label] of [[min, "min"], [max, "max"]] as const) {
        it(`accepts ${count} entries (${label})`, () => {
          const raw = at(list(count));
          const result = resource.check(raw);
          assert.deepEqual(result.failures, []);
          assert.equal((valueAt(result.inputs, path) as unknown[]).length, count);
          if (resource.kind !== undefined) assert.ok(parseSpec(resource.kind, { type: resource.type, ...raw }).ok);
        });
      }
      it(`refuses ${max + 1} entries (max+1)`, () =>
        expectRefused(resource, at(list(max + 1)), path, [range, `(got ${entries(max + 1)})`]));
      it(`refuses the string "5"`, () => expectRefused(resource, at("5"), path, [range, `(got "5")`]));
      it(`when missing: ${JSON.stringify(row.missing)}`, () => expectMissing(resource, path, row.missing, range));
    });
  }

  for (const row of TEXT_ROWS) {
    const { resource, path, min, max, range } = row;
    const at = (value: unknown) => withValue(resource.valid(), path, value);
    describe(`${resource.title} ${formatted(path)} (${range})`, () => {
      if (min !== undefined) {
        const short = "n".repeat(min - 1);
        it(`refuses ${min - 1} characters (min-1)`, () => expectRefused(resource, at(short), path, [range, `(got ${quoted(short)})`]));
        it(`accepts ${min} character (min)`, () => expectAccepted(resource, at("n".repeat(min)), path, "n".repeat(min)));
      } else {
        it("accepts the empty string", () => expectAccepted(resource, at(""), path, ""));
      }
      it(`accepts ${max} characters (max)`, () => expectAccepted(resource, at("n".repeat(max)), path, "n".repeat(max)));
      it(`refuses ${max + 1} characters (max+1)`, () => {
        const long = "n".repeat(max + 1);
        expectRefused(resource, at(long), path, [range, `(got ${quoted(long)})`]);
      });
      it("refuses the number 5", () => expectRefused(resource, at(5), path, [range, "(got 5)"]));
      it(`when missing: ${JSON.stringify(row.missing)}`, () => expectMissing(resource, path, row.missing, range));
    });
  }

  it("a name is required when there is no Pulumi resource name to default to", () => {
    const result = checkHealthCheck({});
    assert.deepEqual(result.failures.map((f) => f.property), ["name"]);
    assert.match(result.failures[0].reason, /^name is required: 1-32 characters/);
  });

  it("reports every out-of-range field at once, each at its own path", () => {
    const result = checkVirtualServerGroup(
      { members: [{ address: "10.0.0.1", weight: 0 }, { address: "10.0.0.2", port: 70000 }, { address: "10.0.0.3", weight: 101 }] },
      { defaultName: "vsg" },
    );
    assert.deepEqual(result.failures.map((f) => f.property).sort(), ["members[0].weight", "members[1].port", "members[2].weight"]);
  });
});
