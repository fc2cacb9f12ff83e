import { checkConnection, containsUnknown, isUnknown, type CheckFailure, type LoadBalancerConnection } from "../model";
import { secret } from "./secrets";

/**
 * The `loadBalancer` input every resource takes: the LoadBalancer's `connection` output
 * (`{ endpoints, token, hashSeed?, subnets?, caCertificate? }`). It decides where a resource is pushed, so a
 * change of nodes or token is a change of the resource: `update` pushes it to every node,
 * which is how a node added to the load balancer receives the whole configuration.
 */

export interface CheckedConnection {
  /** The value to keep in the inputs (unknown passes through at preview). */
  readonly value: unknown;
  readonly failures: CheckFailure[];
  /** The declared subnets, when known: server group members must lie inside them. */
  readonly subnets?: string[];
}

const PROPERTY = "loadBalancer";

export function checkLoadBalancerInput(raw: unknown): CheckedConnection {
  if (raw === undefined || raw === null) {
    return {
      value: raw,
      failures: [{ property: PROPERTY, reason: `${PROPERTY} is required: pass the LoadBalancer's connection output` }],
    };
  }
  if (isUnknown(raw)) return { value: raw, failures: [] };
  const result = checkConnection(raw);
  const failures = result.failures.map((f) => ({
    property: f.property === "" ? PROPERTY : `${PROPERTY}.${f.property}`,
    reason: f.property === "" ? `${PROPERTY} ${f.reason}` : `${PROPERTY}.${f.reason}`,
  }));
  const value = result.inputs as Partial<LoadBalancerConnection>;
  if (failures.length === 0 && Array.isArray(value.endpoints)) failures.push(...duplicateEndpoints(value.endpoints));
  const subnets =
    failures.length === 0 && Array.isArray(value.subnets) && !containsUnknown(value.subnets) ? [...value.subnets] : undefined;
  return { value, failures, subnets };
}

function duplicateEndpoints(endpoints: readonly string[]): CheckFailure[] {
  const seen = new Map<string, number>();
  const failures: CheckFailure[] = [];
  endpoints.forEach((endpoint, index) => {
    if (isUnknown(endpoint)) return;
    const key = normalizeEndpoint(endpoint);
    const first = seen.get(key);
    if (first === undefined) seen.set(key, index);
    else {
      const property = `${PROPERTY}.endpoints[${index}]`;
      failures.push({ property, reason: `${property} repeats endpoints[${first}] (${endpoint}): each node is listed once` });
    }
  });
  return failures;
}

/** `http://127.0.1.1:9180/` and `http://127.0.1.1:9180` are one node. */
export function normalizeEndpoint(endpoint: string): string {
  return endpoint.replace(/\/+$/, "");
}

/** The connection of a resource being created, updated, read or deleted: fully known and valid, or an error. */
export function requireConnection(raw: unknown): LoadBalancerConnection {
  const checked = checkLoadBalancerInput(raw);
  if (checked.failures.length > 0) {
    throw new Error(`invalid loadBalancer connection: ${checked.failures.map((f) => f.reason).join("; ")}`);
  }
  if (containsUnknown(checked.value)) throw new Error("the loadBalancer connection is not known yet");
  const conn = checked.value as LoadBalancerConnection;
  return { ...conn, endpoints: conn.endpoints.map(normalizeEndpoint) };
}

/** The connection as outputs and stored inputs carry it: token and seed marked secret. */
export function connectionForState(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const conn = value as Record<string, unknown>;
  const out: Record<string, unknown> = { ...conn };
  if (conn.token !== undefined && !isUnknown(conn.token)) out.token = secret(conn.token);
  if (conn.hashSeed !== undefined && !isUnknown(conn.hashSeed)) out.hashSeed = secret(conn.hashSeed);
  return out;
}

/**
 * Whether two connections address the same nodes, with the same credentials, in the same
 * generation. Endpoint order does not matter. A new `generation` means a node container was
 * replaced (it may have come back with an empty state), so it is a change: the update pushes the
 * object to every node again. A new CA is a change too: the stored connection is what a later
 * read or delete dials with, so it must hold the CA the nodes' certificates now verify against.
 * Subnets only constrain `check`, and the seed is configured on the nodes themselves, so neither
 * is pushed and neither is a change.
 */
export function sameTarget(a: unknown, b: unknown): boolean {
  const x = a as Partial<LoadBalancerConnection> | undefined;
  const y = b as Partial<LoadBalancerConnection> | undefined;
  if (x === undefined || y === undefined || x === null || y === null) return x === y;
  if (isUnknown(x) || isUnknown(y)) return false;
  if (!Array.isArray(x.endpoints) || !Array.isArray(y.endpoints)) return false;
  if (containsUnknown(x.endpoints) || containsUnknown(y.endpoints) || isUnknown(x.token) || isUnknown(y.token)) return false;
  if (isUnknown(x.generation) || isUnknown(y.generation) || x.generation !== y.generation) return false;
  if (isUnknown(x.caCertificate) || isUnknown(y.caCertificate) || x.caCertificate !== y.caCertificate) return false;
  const ex = [...new Set(x.endpoints.map(normalizeEndpoint))].sort();
  const ey = [...new Set(y.endpoints.map(normalizeEndpoint))].sort();
  return x.token === y.token && ex.length === ey.length && ex.every((e, i) => e === ey[i]);
}
