import { z } from "zod";
import {
  BackendServiceSpec,
  HealthCheckSpec,
  ListenerSpec,
  modelSchemas,
  SchemaContext,
  ServerGroupSpec,
} from "./schemas";
import { UNKNOWN } from "./unknown";

/** A failure as Pulumi's `check` returns it: the property path and a reason naming value and range. */
export interface CheckFailure {
  readonly property: string;
  readonly reason: string;
}

export interface CheckResult<T = Record<string, unknown>> {
  /** Normalized inputs with every default filled (byte-identical for the same input), or the raw input on failure. */
  readonly inputs: T;
  readonly failures: CheckFailure[];
}

/** The resource kinds as the admin API names them in its paths. */
export const KINDS = ["health-checks", "server-groups", "backend-services", "listeners"] as const;
export type Kind = (typeof KINDS)[number];

/** `members[3].weight`: the notation Pulumi users read in failures. */
export function formatPath(path: readonly PropertyKey[]): string {
  let text = "";
  for (const part of path) {
    if (typeof part === "number") text += `[${part}]`;
    else text += text === "" ? String(part) : `.${String(part)}`;
  }
  return text;
}

type Issue = z.core.$ZodIssue;

function isUnknownOption(issues: readonly Issue[]): boolean {
  return (
    issues.length === 1 &&
    issues[0].code === "invalid_value" &&
    (issues[0] as z.core.$ZodIssueInvalidValue).values.includes(UNKNOWN)
  );
}

/** The option refused the value's very type (a list given where a count fits, say). */
function isTypeMismatch(issues: readonly Issue[]): boolean {
  return issues.every((issue) => issue.code === "invalid_type" && issue.path.length === 0);
}

/**
 * The one union option whose complaint is worth showing, if there is one: never the unknown
 * sentinel's; and when several remain, the only one that accepts the value's type (so a bad
 * `nodes[1].adminPort` is reported there, not as "nodes must be a count or a list").
 */
function relevantOption(options: readonly (readonly Issue[])[]): readonly Issue[] | undefined {
  const meaningful = options.filter((option) => !isUnknownOption(option));
  if (meaningful.length === 1) return meaningful[0];
  const fitting = meaningful.filter((option) => !isTypeMismatch(option));
  return fitting.length === 1 ? fitting[0] : undefined;
}

/**
 * Flattens zod issues into `{ property, reason }`. A preview-mode field is a union of the unknown
 * sentinel and the real schema; when it fails, only the real schema's complaint is worth showing.
 */
export function toFailures(issues: readonly Issue[], prefix: readonly PropertyKey[] = []): CheckFailure[] {
  const failures: CheckFailure[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === "invalid_union" && issue.errors.length > 0) {
      const option = relevantOption(issue.errors);
      if (option !== undefined) {
        failures.push(...toFailures(option, path));
        continue;
      }
    }
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        const property = formatPath([...path, key]);
        failures.push({ property, reason: `${property} ${issue.message}` });
      }
      continue;
    }
    const property = formatPath(path);
    failures.push({ property, reason: property === "" ? issue.message : `${property} ${issue.message}` });
  }
  return dedupe(failures);
}

function dedupe(failures: CheckFailure[]): CheckFailure[] {
  const seen = new Set<string>();
  return failures.filter((f) => {
    const key = `${f.property}\u0000${f.reason}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function parseWith(schema: z.ZodType, raw: unknown): CheckResult {
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { inputs: parsed.data as Record<string, unknown>, failures: [] };
  return { inputs: (raw ?? {}) as Record<string, unknown>, failures: toFailures(parsed.error.issues) };
}

export interface CheckContext extends SchemaContext {
  /** Used when `name` is not given: the Pulumi resource name. */
  readonly defaultName?: string;
}

function withName(raw: Record<string, unknown>, ctx: CheckContext): Record<string, unknown> {
  // Anything but an object (null, the unknown sentinel) is left for the schema to judge.
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  return raw.name === undefined && ctx.defaultName !== undefined ? { ...raw, name: ctx.defaultName } : raw;
}

/** Preview-mode validation of a resource's own fields (unknowns pass), as `check` needs it. */
export function checkHealthCheck(raw: Record<string, unknown>, ctx: CheckContext = {}): CheckResult {
  return parseWith(modelSchemas({ allowUnknown: true }, ctx).healthCheck, withName(raw, ctx));
}

export function checkVirtualServerGroup(raw: Record<string, unknown>, ctx: CheckContext = {}): CheckResult {
  return parseWith(modelSchemas({ allowUnknown: true }, ctx).virtualServerGroup, withName(raw, ctx));
}

export function checkHighAvailabilityGroup(raw: Record<string, unknown>, ctx: CheckContext = {}): CheckResult {
  return parseWith(modelSchemas({ allowUnknown: true }, ctx).highAvailabilityGroup, withName(raw, ctx));
}

export function checkBackendService(raw: Record<string, unknown>, ctx: CheckContext = {}): CheckResult {
  return parseWith(modelSchemas({ allowUnknown: true }, ctx).backendService, withName(raw, ctx));
}

export function checkListener(raw: Record<string, unknown>, ctx: CheckContext = {}): CheckResult {
  return parseWith(modelSchemas({ allowUnknown: true }, ctx).listener, withName(raw, ctx));
}

export function checkConnection(raw: unknown): CheckResult {
  return parseWith(modelSchemas({ allowUnknown: true }).connection, raw);
}

export function checkLoadBalancerArgs(raw: Record<string, unknown>): CheckResult {
  return parseWith(modelSchemas({ allowUnknown: false }).loadBalancer, raw);
}

export interface SpecOf {
  "health-checks": HealthCheckSpec;
  "server-groups": ServerGroupSpec;
  "backend-services": BackendServiceSpec;
  listeners: ListenerSpec;
}

export type SpecResult<T> = { readonly ok: true; readonly spec: T } | { readonly ok: false; readonly failures: CheckFailure[] };

/**
 * Strict validation for the admin API: no unknowns, same ranges and messages as `check`.
 * The node does not know the load balancer's subnets: the provider enforces that rule.
 */
export function parseSpec<K extends Kind>(kind: K, body: unknown): SpecResult<SpecOf[K]> {
  const schemas = modelSchemas({ allowUnknown: false });
  // Read only the one schema needed: each is built when read.
  const schema = {
    "health-checks": () => schemas.healthCheck,
    "server-groups": () => schemas.serverGroup,
    "backend-services": () => schemas.backendService,
    listeners: () => schemas.listener,
  }[kind]();
  const parsed = schema.safeParse(body);
  return parsed.success
    ? { ok: true, spec: parsed.data as SpecOf[K] }
    : { ok: false, failures: toFailures(parsed.error.issues) };
}
