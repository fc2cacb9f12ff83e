/**
 * When to try a request again, and how long to wait. Pure: the random source is passed in.
 *
 * Retried: connection errors (refused, reset, timed out) and 5xx, because the node may be
 * restarting or momentarily overloaded and every admin write is idempotent given its
 * precondition. Never retried: 4xx, because the same request gets the same answer.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included (>= 1). */
  readonly attempts: number;
  /** Wait before the second attempt; each later wait doubles, with +-25% jitter. */
  readonly baseDelayMs: number;
  /** No single wait exceeds this. */
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 150, maxDelayMs: 2000 };

/** undici and Node socket error codes that mean "the request may not have reached the node, try again". */
const TRANSIENT_CODES = [
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
];

export function isTransientError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && TRANSIENT_CODES.includes(code)) return true;
  }
  return false;
}

export function isRetryableStatus(status: number): boolean {
  return status >= 500 && status <= 599;
}

/** The wait before attempt `attempt + 1` (attempt counts from 1), given `random()` in [0, 1). */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: () => number): number {
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, attempt - 1);
  const jittered = exponential * (0.75 + 0.5 * random());
  return Math.min(policy.maxDelayMs, Math.round(jittered));
}
