/**
 * Admin API fuzzing against a real `dnlb-forwarder` process: requests generated with fast-check
 * (random and mutated bodies, paths, methods, headers, huge and truncated bodies, wrong and
 * missing tokens), sent as raw bytes, one at a time.
 *
 * Invariants checked after every request:
 * - the node answers (a truncated request or CONNECT may be closed without an answer), and never
 *   with a 5xx; the process is still running;
 * - after every rejected request (any status other than 2xx), the state file is byte-identical
 *   and the stored configuration (the four `GET /v1/{kind}` lists) is unchanged.
 * At the end the node is restarted and must restore exactly what it held.
 *
 * Requests are drawn with `fc.sample` from a fixed seed (not `fc.assert`): the node's state moves
 * on with every accepted write, so a shrunk replay would not mean the same thing; instead every
 * violation is recorded with the request that caused it, and the seed replays the whole run.
 */
import { promises as fsp } from "node:fs";
import fc from "fast-check";
import { CliNode, jsonRequest, rawRequest, RELIABILITY_TOKEN } from "./support";

const KINDS = ["health-checks", "server-groups", "backend-services", "listeners"] as const;
type Kind = (typeof KINDS)[number];

export interface FuzzOptions {
  readonly requests: number;
  readonly seed: number;
  /** Listener ports of accepted writes are drawn from here (this suite's range). */
  readonly portBase: number;
}

export interface FuzzFigures {
  readonly requests: number;
  readonly seed: number;
  /** Status -> count ("none": closed without an answer). */
  readonly statuses: Record<string, number>;
  readonly accepted: number;
  readonly rejected: number;
  readonly hugeBodies: number;
  readonly truncatedBodies: number;
  readonly badTokens: number;
  /** Framing -> requests closed without an answer (all of them tolerated cases, see unanswerable). */
  readonly unanswered: Record<string, number>;
  readonly durationMs: number;
  readonly violations: string[];
}

type Framing = "exact" | "chunked" | "truncated" | "overdeclared" | "huge-declared" | "huge-chunked" | "bad-chunk" | "none";

interface Plan {
  readonly method: string;
  readonly path: string;
  readonly auth: string | undefined;
  readonly contentType: string | undefined;
  readonly conditional: [string, string] | undefined;
  readonly extraHeader: [string, string] | undefined;
  readonly body: Buffer;
  readonly framing: Framing;
}

function baseSpecs(portBase: number): Record<Kind, Record<string, unknown>> {
  return {
    "health-checks": { name: "hc-f", protocol: "TCP", port: 80, timeoutSeconds: 3, intervalSeconds: 5, unhealthyThreshold: 3, healthyThreshold: 3 },
    "server-groups": { type: "virtual", name: "pool-f", members: [{ address: "10.0.0.2", port: 80, weight: 10, enabled: true }] },
    "backend-services": {
      name: "svc-f",
      port: 8081,
      algorithm: "QuintupleHash",
      healthCheck: "hc-a",
      healthCheckEnabled: true,
      idleTimeoutSeconds: 900,
      drainingTimeoutSeconds: 300,
      proxyProtocol: "off",
    },
    listeners: { name: "l-f", protocol: "TCP", port: portBase + 2, backendService: "svc-a" },
  };
}

const token = RELIABILITY_TOKEN;
const headerText = fc.string({ unit: "binary-ascii", maxLength: 40 });
const tokenChars = fc.string({ unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/="), minLength: 1, maxLength: 40 });

function mutate(spec: Record<string, unknown>): fc.Arbitrary<unknown> {
  const keys = Object.keys(spec);
  const key = fc.constantFrom(...keys);
  const weird = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.integer({ min: -1_000_000, max: 1_000_000 }),
    fc.constantFrom(0, -1, 1.5, 65536, 1e308, -0, "", " ", "TCP ", "tcp", "UDP", null, true, "10.0.0.999", "::ffff:10.0.0.1", "web.internal", "a".repeat(300)),
    fc.string({ unit: "binary", maxLength: 60 }),
  );
  return fc.oneof(
    { weight: 8, arbitrary: fc.constant(spec) },
    key.map((k) => Object.fromEntries(Object.entries(spec).filter(([name]) => name !== k))),
    fc.tuple(key, weird).map(([k, v]) => ({ ...spec, [k]: v })),
    fc.tuple(fc.string({ maxLength: 12 }), weird).map(([k, v]) => ({ ...spec, [k]: v })),
    fc.constantFrom({ ...spec, id: "x" }, { ...spec, revision: 7 }, [spec], { spec }),
    fc.constant({ ...spec, members: Array.from({ length: 1001 }, (_, i) => ({ address: `10.1.${i >> 8}.${i & 255}` })) }),
    fc.jsonValue({ maxDepth: 4 }),
  );
}

export function planArbitrary(portBase: number): fc.Arbitrary<Plan> {
  return fc.constantFrom(...KINDS).chain((k) => planFor(k, portBase));
}

/** Requests that mostly aim at one kind (path and body agree), so that some writes get through. */
function planFor(target: Kind, portBase: number): fc.Arbitrary<Plan> {
  const specs = baseSpecs(portBase);
  const kind = fc.oneof({ weight: 12, arbitrary: fc.constant(target) }, { weight: 3, arbitrary: fc.constantFrom(...KINDS) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });
  const id = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom("hc-a", "pool-a", "svc-a", "l-a") },
    { weight: 6, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,12}$/) },
    fc.string({ maxLength: 30 }).map(encodeURIComponent),
    fc.constantFrom("..", "%2e%2e", "a%00b", "x".repeat(101), "-lead", "a/b", "%F0%9F%92%A9", "a?b=c", "a#frag"),
  );
  const path = fc.oneof(
    { weight: 10, arbitrary: fc.tuple(kind, id).map(([k, i]) => `/v1/${k}/${i}`) },
    { weight: 2, arbitrary: kind.map((k) => `/v1/${k}`) },
    { weight: 2, arbitrary: fc.constantFrom("/v1/status", "/metrics", "/healthz", "/", "/v1", "/v1/", "*", "//v1//listeners", "/v1/listeners/l-a/extra", "/V1/LISTENERS") },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }).map((s) => `/${s}`) },
  );
  const pathWithQuery = fc.tuple(path, fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.string({ maxLength: 20 }).map(encodeURIComponent))).map(([p, q]) => (q === null ? p : `${p}?${q}`));
  const method = fc.oneof(
    { weight: 10, arbitrary: fc.constantFrom("GET", "PUT", "PUT", "PUT", "DELETE", "HEAD") },
    { weight: 2, arbitrary: fc.constantFrom("POST", "PATCH", "OPTIONS", "TRACE", "CONNECT", "put", "PROPFIND") },
    { weight: 1, arbitrary: fc.stringMatching(/^[A-Z]{1,12}$/) },
  );
  const auth = fc.oneof(
    { weight: 12, arbitrary: fc.constantFrom(`Bearer ${token}`, `bearer ${token}`) },
    {
      weight: 6,
      arbitrary: fc.oneof(
        fc.constant(undefined),
        fc.constantFrom("Bearer", "Bearer ", `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Bearer  ${token}`, `Basic ${Buffer.from(`u:${token}`).toString("base64")}`, token, `Bearer ${token.toUpperCase()}`),
        tokenChars.map((t) => `Bearer ${t}`),
        headerText,
      ),
    },
  );
  const contentType = fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom("application/json", undefined, "application/json; charset=utf-8") },
    { weight: 2, arbitrary: fc.oneof(fc.constantFrom("text/plain", "application/merge-patch+json", "application/json; charset=utf-16", "multipart/form-data", ""), headerText) },
  );
  // fc.option's `freq` is the odds of *no* value: freq 4 = absent 1 time in 4. We want the opposite.
  const sometimes = <T>(arb: fc.Arbitrary<T>, presentOneIn: number) => fc.oneof({ weight: presentOneIn - 1, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: arb });
  const conditional = sometimes(
    fc.tuple(fc.constantFrom("If-Match", "If-None-Match"), fc.oneof(fc.constantFrom("*", '"1"', 'W/"2"', "3", '"1", "2"', '""', "W/", '"x"', "-1", "99999999999999999999"), headerText)),
    4,
  );
  const extraHeader = sometimes(fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), headerText), 5);
  const bodyKind = fc.oneof({ weight: 6, arbitrary: fc.constant(target) }, { weight: 1, arbitrary: fc.constantFrom(...KINDS) });
  const jsonBody = fc
    .tuple(bodyKind, fc.integer({ min: 0, max: 40 }))
    .chain(([k, portOffset]) => {
      const spec = k === "listeners" ? { ...specs[k], port: portBase + 2 + portOffset } : specs[k];
      return mutate(spec);
    })
    .map((v) => Buffer.from(JSON.stringify(v) ?? "null"));
  const body = fc.oneof(
    { weight: 10, arbitrary: jsonBody },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constantFrom(Buffer.alloc(0), Buffer.from("{"), Buffer.from('{"name":'), Buffer.from("\ufeff{}"), Buffer.from('{"__proto__":{"polluted":true},"name":"x"}'), Buffer.from('{"constructor":{"prototype":{"polluted":true}}}'), Buffer.from("[".repeat(50_000) + "]".repeat(50_000))) },
  );
  const framing = fc.oneof(
    { weight: 14, arbitrary: fc.constant<Framing>("exact") },
    { weight: 2, arbitrary: fc.constantFrom<Framing>("chunked", "none") },
    { weight: 2, arbitrary: fc.constantFrom<Framing>("truncated", "overdeclared", "bad-chunk") },
    { weight: 1, arbitrary: fc.constantFrom<Framing>("huge-declared", "huge-chunked") },
  );
  return fc.record({ method, path: pathWithQuery, auth, contentType, conditional, extraHeader, body, framing });
}

const HUGE = Buffer.alloc(2 * 1024 * 1024 + 17, "a");

/** The request bytes, and whether to end our side after them (a truncated request). */
function render(plan: Plan, host: string): { bytes: Buffer; halfClose: boolean } {
  const head = [`${plan.method} ${plan.path} HTTP/1.1`, `Host: ${host}`, "Connection: close"];
  if (plan.auth !== undefined) head.push(`Authorization: ${plan.auth}`);
  if (plan.contentType !== undefined) head.push(`Content-Type: ${plan.contentType}`);
  if (plan.conditional) head.push(`${plan.conditional[0]}: ${plan.conditional[1]}`);
  if (plan.extraHeader) head.push(`${plan.extraHeader[0]}: ${plan.extraHeader[1]}`);
  const chunked = (body: Buffer) => Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from("\r\n0\r\n\r\n")]);
  let body: Buffer;
  let halfClose = false;
  switch (plan.framing) {
    case "exact":
      head.push(`Content-Length: ${plan.body.length}`);
      body = plan.body;
      break;
    case "none":
      body = Buffer.alloc(0);
      break;
    case "chunked":
      head.push("Transfer-Encoding: chunked");
      body = chunked(plan.body);
      break;
    case "truncated":
      head.push(`Content-Length: ${plan.body.length + 10}`);
      body = plan.body;
      halfClose = true;
      break;
    case "overdeclared":
      head.push("Content-Length: 1048000");
      body = plan.body.subarray(0, 100);
      halfClose = true;
      break;
    case "huge-declared":
      head.push(`Content-Length: ${HUGE.length}`);
      body = HUGE;
      break;
    case "huge-chunked":
      head.push("Transfer-Encoding: chunked");
      body = chunked(HUGE);
      break;
    case "bad-chunk":
      head.push("Transfer-Encoding: chunked");
      body = Buffer.concat([Buffer.from("zz\r\n"), plan.body.subarray(0, 50), Buffer.from("\r\n")]);
      break;
  }
  return { bytes: Buffer.concat([Buffer.from(head.join("\r\n") + "\r\n\r\n", "latin1"), body]), halfClose };
}

function describePlan(plan: Plan): string {
  const body = plan.body.length > 120 ? `${plan.body.subarray(0, 120).toString("latin1")}... (${plan.body.length} bytes)` : plan.body.toString("latin1");
  return `${plan.method} ${plan.path} framing=${plan.framing} auth=${JSON.stringify(plan.auth?.slice(0, 30))} ct=${JSON.stringify(plan.contentType)} cond=${JSON.stringify(plan.conditional)} body=${JSON.stringify(body)}`;
}

/**
 * Requests that may end without an answer: truncated ones (we hung up) and broken chunked framing
 * after a request the node had started to serve (Node's parser fails mid-body, after the response
 * began). Every other request, huge uploads to routes that refuse them and CONNECT included, must
 * be answered: the node drains a body it refuses before answering (lingering close). None of these
 * may change anything or cost a 5xx; they are counted in `unanswered`.
 */
function unanswerable(plan: Plan, halfClose: boolean): boolean {
  return halfClose || plan.framing === "bad-chunk";
}

/** What the node holds: the four lists as one string. */
export async function storedConfiguration(node: CliNode): Promise<string> {
  const parts: string[] = [];
  for (const kind of KINDS) {
    const answer = await jsonRequest(node.base, "GET", `/v1/${kind}`);
    if (answer.status !== 200) throw new Error(`GET /v1/${kind}: ${answer.status} ${answer.body}`);
    parts.push(answer.body);
  }
  return parts.join("\n");
}

async function readState(node: CliNode): Promise<Buffer> {
  try {
    return await fsp.readFile(node.configFile);
  } catch {
    return Buffer.alloc(0);
  }
}

/** The objects the fuzz run starts from, so that references and rules are exercised. */
export async function seedConfiguration(node: CliNode, portBase: number): Promise<void> {
  const writes: [Kind, string, unknown][] = [
    ["health-checks", "hc-a", { name: "hc-a" }],
    ["server-groups", "pool-a", { type: "virtual", name: "pool-a", members: [{ address: "10.0.0.1", port: 80 }] }],
    ["backend-services", "svc-a", { name: "svc-a", port: 8080, healthCheck: "hc-a", serverGroup: "pool-a" }],
    ["listeners", "l-a", { name: "l-a", port: portBase + 1, backendService: "svc-a" }],
  ];
  for (const [kind, id, spec] of writes) {
    const answer = await jsonRequest(node.base, "PUT", `/v1/${kind}/${id}`, spec);
    if (answer.status !== 201 && answer.status !== 200) throw new Error(`seeding ${kind}/${id}: ${answer.status} ${answer.body}`);
  }
}

export async function runAdminFuzz(node: CliNode, opts: FuzzOptions): Promise<FuzzFigures> {
  const started = performance.now();
  const plans = fc.sample(planArbitrary(opts.portBase), { numRuns: opts.requests, seed: opts.seed });
  const statuses: Record<string, number> = {};
  const violations: string[] = [];
  let accepted = 0;
  let rejected = 0;
  let hugeBodies = 0;
  let truncatedBodies = 0;
  let badTokens = 0;
  const unanswered: Record<string, number> = {};
  let state = await readState(node);
  let stored = await storedConfiguration(node);
  const url = new URL(node.base);
  for (const [index, plan] of plans.entries()) {
    if (plan.framing.startsWith("huge")) hugeBodies++;
    if (plan.framing === "truncated" || plan.framing === "overdeclared") truncatedBodies++;
    if (plan.auth !== `Bearer ${token}` && plan.auth !== `bearer ${token}`) badTokens++;
    const { bytes, halfClose } = render(plan, url.host);
    let status: number | undefined;
    let ending = "";
    try {
      const answer = await rawRequest(url.hostname, Number(url.port), bytes, { halfClose, timeoutMs: 10_000 });
      status = answer.status;
      ending = ` (${answer.error ?? "closed"} after ${answer.ms.toFixed(0)} ms)`;
    } catch (error) {
      violations.push(`#${index} ${describePlan(plan)}: ${(error as Error).message}`);
    }
    const label = status === undefined ? "none" : String(status);
    statuses[label] = (statuses[label] ?? 0) + 1;
    if (!node.running) {
      violations.push(`#${index} the node exited after ${describePlan(plan)}:\n${node.output.slice(-2000)}`);
      break;
    }
    // See unanswerable(): the exchanges where a reset instead of an answer is tolerated (and counted).
    if (status === undefined) unanswered[plan.framing] = (unanswered[plan.framing] ?? 0) + 1;
    if (status === undefined && !unanswerable(plan, halfClose)) violations.push(`#${index} no answer${ending} to ${describePlan(plan)}`);
    if (status !== undefined && status >= 500) violations.push(`#${index} ${status} for ${describePlan(plan)}`);
    const nowState = await readState(node);
    const nowStored = await storedConfiguration(node);
    if (status !== undefined && status >= 200 && status < 300) {
      if (plan.method === "PUT" || plan.method === "DELETE") accepted++;
    } else {
      rejected++;
      if (!nowState.equals(state)) violations.push(`#${index} the state file changed after a rejected (${label}) ${describePlan(plan)}`);
      if (nowStored !== stored) violations.push(`#${index} the stored configuration changed after a rejected (${label}) ${describePlan(plan)}`);
    }
    state = nowState;
    stored = nowStored;
  }
  // What was acknowledged survives a restart exactly.
  await node.stop();
  await node.launch();
  const restored = await storedConfiguration(node);
  if (restored !== stored) violations.push(`after a restart the node holds a different configuration:\nbefore ${stored}\nafter ${restored}`);
  return {
    requests: plans.length,
    seed: opts.seed,
    statuses,
    accepted,
    rejected,
    hugeBodies,
    truncatedBodies,
    badTokens,
    unanswered,
    durationMs: performance.now() - started,
    violations,
  };
}
