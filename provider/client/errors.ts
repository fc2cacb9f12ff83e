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

export type NodeError = NodeHttpError | NodeUnreachableError;

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

export function isNodeHttpError(value: unknown): value is NodeHttpError {
  return value instanceof Error && value.name === "NodeHttpError";
}

export function isNodeUnreachableError(value: unknown): value is NodeUnreachableError {
  return value instanceof Error && value.name === "NodeUnreachableError";
}

export function isNodeError(value: unknown): value is NodeError {
  return isNodeHttpError(value) || isNodeUnreachableError(value);
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
