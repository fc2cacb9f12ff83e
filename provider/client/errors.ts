import type { ErrorDetail } from "../protocol";

/**
 * What went wrong talking to one node, in words that name the node, so that a Pulumi error reads
 * "http://127.0.1.2:9180: HTTP 409 in_use: backend service web is used by listener web-80".
 *
 * These are plain `Error` objects with extra fields, made by factory functions, not subclasses:
 * Pulumi's closure serializer rewrites a class as an old-style constructor function, so a
 * subclass of Error ends up calling `Error.call(this, message)`, which sets no message and no
 * stack. Tell them apart with the guards below, never with `instanceof`.
 */

/** The node answered with an HTTP error (the admin API's `{ error: { code, message, details } }`). */
export interface NodeHttpError extends Error {
  readonly name: "NodeHttpError";
  readonly endpoint: string;
  readonly status: number;
  /** The node's stable error code (`in_use`, `precondition_failed`, ...); "" when the body had none. */
  readonly code: string;
  readonly nodeMessage: string;
  readonly details: readonly ErrorDetail[];
}

/** The node could not be reached, or did not answer in time, after every retry. */
export interface NodeUnreachableError extends Error {
  readonly name: "NodeUnreachableError";
  readonly endpoint: string;
  readonly attempts: number;
}

/**
 * The node's TLS certificate did not verify (or the node does not speak TLS). Never retried: the
 * same certificate fails the same way every time.
 */
export interface NodeTlsError extends Error {
  readonly name: "NodeTlsError";
  readonly endpoint: string;
  /** The TLS error code, such as UNABLE_TO_VERIFY_LEAF_SIGNATURE. */
  readonly code: string;
}

export type NodeError = NodeHttpError | NodeUnreachableError | NodeTlsError;

export function nodeHttpError(
  endpoint: string,
  status: number,
  code: string,
  nodeMessage: string,
  details: readonly ErrorDetail[] = [],
): NodeHttpError {
  const error = new Error(`${endpoint}: HTTP ${status}${code ? ` ${code}` : ""}: ${nodeMessage}${formatDetails(nodeMessage, details)}`);
  return Object.assign(error, { name: "NodeHttpError" as const, endpoint, status, code, nodeMessage, details });
}

export function nodeUnreachableError(endpoint: string, cause: unknown, attempts: number): NodeUnreachableError {
  const error = new Error(`${endpoint}: unreachable after ${attempts} attempt${attempts === 1 ? "" : "s"} (${describeCause(cause)})`, { cause });
  return Object.assign(error, { name: "NodeUnreachableError" as const, endpoint, attempts });
}

/** What a TLS failure means for the operator; `signer` says who the certificate must chain to. */
type TlsReading = (signer: string) => string;

const NOT_SIGNED: TlsReading = (signer) => `the node's certificate was not signed by ${signer}`;

/** TLS error codes (OpenSSL's, as Node reports them) that retrying cannot fix, in words. */
const TLS_FAILURES: Readonly<Record<string, TlsReading>> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: NOT_SIGNED,
  UNABLE_TO_GET_ISSUER_CERT: NOT_SIGNED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: NOT_SIGNED,
  DEPTH_ZERO_SELF_SIGNED_CERT: (signer) => `the node's certificate is self-signed, not signed by ${signer}`,
  SELF_SIGNED_CERT_IN_CHAIN: (signer) => `the node's certificate chains to a self-signed CA that is not ${signer}`,
  CERT_SIGNATURE_FAILURE: (signer) => `the node's certificate signature does not verify against ${signer}`,
  ERR_TLS_CERT_ALTNAME_INVALID: () =>
    "the node's certificate does not name this endpoint's host (its subjectAltName lacks it): issue it for the address the provider dials",
  CERT_HAS_EXPIRED: () => "the node's certificate has expired",
  CERT_NOT_YET_VALID: () => "the node's certificate is not valid yet (are the clocks of this host and the node's apart?)",
  ERR_SSL_WRONG_VERSION_NUMBER: () => "the node does not speak TLS on this port (was it started with --tls-cert-file and --tls-key-file?)",
};

/** The TLS failure code in `error` or its causes, or undefined when it is not a TLS failure. */
export function tlsFailure(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && Object.hasOwn(TLS_FAILURES, code)) return code;
  }
  return undefined;
}

/** `pinnedCa`: the connection gave a caCertificate (else the host's trusted CAs were used). */
export function nodeTlsError(endpoint: string, cause: unknown, code: string, pinnedCa: boolean): NodeTlsError {
  const signer = pinnedCa ? "the connection's CA (caCertificate)" : "a CA this host trusts: set the connection's caCertificate to the CA that issued it";
  const reading = TLS_FAILURES[code]?.(signer) ?? describeCause(cause);
  const error = new Error(`${endpoint}: TLS: ${reading} (${code})`, { cause });
  return Object.assign(error, { name: "NodeTlsError" as const, endpoint, code });
}

export function isNodeTlsError(value: unknown): value is NodeTlsError {
  return value instanceof Error && value.name === "NodeTlsError";
}

export function isNodeHttpError(value: unknown): value is NodeHttpError {
  return value instanceof Error && value.name === "NodeHttpError";
}

export function isNodeUnreachableError(value: unknown): value is NodeUnreachableError {
  return value instanceof Error && value.name === "NodeUnreachableError";
}

export function isNodeError(value: unknown): value is NodeError {
  return isNodeHttpError(value) || isNodeUnreachableError(value) || isNodeTlsError(value);
}

function formatDetails(nodeMessage: string, details: readonly ErrorDetail[]): string {
  // The node's message usually summarizes its details already; add only what it leaves out.
  const missing = details.filter((d) => d.message !== "" && !nodeMessage.includes(d.message));
  if (missing.length === 0) return "";
  return ` (${missing.map((d) => (d.path ? `${d.path}: ${d.message}` : d.message)).join("; ")})`;
}

/** undici errors carry a `code` such as ECONNREFUSED or UND_ERR_CONNECT_TIMEOUT: the useful part. */
export function describeCause(cause: unknown): string {
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" && !cause.message.includes(code) ? `${code}: ${cause.message}` : cause.message;
  }
  return String(cause);
}
