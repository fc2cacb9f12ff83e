import { z } from "zod";
import { describeValue, Fields } from "./fields";
import { isUnknown } from "./unknown";

/**
 * TCP and UDP in the model: the transports, the UDP health check's payloads and the rules that
 * tie a resource's fields to its protocol. The rules between resources (a listener binds a
 * service of its own protocol) need both objects, so the node checks them (store/rules.ts).
 */

export const TRANSPORTS = ["TCP", "UDP"] as const;
export type Transport = (typeof TRANSPORTS)[number];

/**
 * A UDP session's idle timeout when the service sets none. AWS NLB's UDP idle timeout (120 s)
 * is the anchor: the same kind of product, and short enough that a table full of one-shot DNS
 * clients empties quickly; IPVS (300 s) and nginx stream's proxy_timeout (10 min) keep state
 * longer for the same traffic. docs/udp.md compares them.
 */
export const UDP_SESSION_TIMEOUT_DEFAULT_SECONDS = 120;
export const UDP_SESSION_TIMEOUT_RANGE = { min: 1, max: 3600 } as const;

/** A UDP check's request and expected answer: one datagram each, counted in UTF-8 bytes. */
export const UDP_PAYLOAD_BYTES = { min: 1, max: 500 } as const;

/** `udpRequest` / `udpExpectedResponse`: text of 1-500 UTF-8 bytes (what goes on the wire). */
export function udpPayload(f: Fields) {
  const { min, max } = UDP_PAYLOAD_BYTES;
  const allowed = `text of ${min} to ${max} bytes (UTF-8)`;
  const message = (issue: { readonly input?: unknown }) =>
    issue.input === undefined ? `is required: ${allowed}` : `must be ${allowed} (got ${describeValue(issue.input)})`;
  return f.maybeUnknown(
    z
      .string({ error: message })
      .min(min, { error: message })
      .refine((text) => Buffer.byteLength(text, "utf8") <= max, { error: message }),
  );
}

interface HealthCheckLike {
  readonly protocol?: unknown;
  readonly udpRequest?: unknown;
  readonly udpExpectedResponse?: unknown;
}

/**
 * The payloads belong to UDP checks, and an expected answer needs a request to answer:
 * without `udpRequest` the check sends an empty datagram and reads only ICMP errors.
 */
export function refineHealthCheckProtocol(check: HealthCheckLike, refine: z.RefinementCtx): void {
  if (isUnknown(check.protocol)) return;
  if (check.protocol !== "UDP") {
    for (const field of ["udpRequest", "udpExpectedResponse"] as const) {
      if (check[field] === undefined) continue;
      refine.addIssue({
        code: "custom",
        path: [field],
        message: `is only for UDP health checks (protocol is ${describeValue(check.protocol)}): remove it or set protocol "UDP"`,
      });
    }
    return;
  }
  if (check.udpExpectedResponse !== undefined && check.udpRequest === undefined) {
    refine.addIssue({
      code: "custom",
      path: ["udpExpectedResponse"],
      message: "needs udpRequest: the check sends udpRequest and compares the answer with this; without a request there is no answer to compare",
    });
  }
}

interface BackendServiceLike {
  readonly protocol?: unknown;
  readonly proxyProtocol?: unknown;
  readonly udpSessionTimeoutSeconds?: unknown;
}

/** PROXY protocol headers start a TCP stream, and only UDP services have sessions. */
export function refineServiceProtocol(service: BackendServiceLike, refine: z.RefinementCtx): void {
  if (isUnknown(service.protocol)) return;
  if (service.protocol === "UDP" && service.proxyProtocol !== undefined && service.proxyProtocol !== "off" && !isUnknown(service.proxyProtocol)) {
    refine.addIssue({
      code: "custom",
      path: ["proxyProtocol"],
      message: `must be "off" for a UDP backend service: PROXY protocol is TCP only (got ${describeValue(service.proxyProtocol)})`,
    });
  }
  if (service.protocol !== "UDP" && service.udpSessionTimeoutSeconds !== undefined) {
    refine.addIssue({
      code: "custom",
      path: ["udpSessionTimeoutSeconds"],
      message: `is only for UDP backend services (protocol is ${describeValue(service.protocol)}): TCP connections use idleTimeoutSeconds`,
    });
  }
}
