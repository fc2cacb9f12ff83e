/**
 * One TCP health probe: connect, and on success close with a RST, as LVS (keepalived
 * TCP_CHECK) does. The member's application never sees a byte (no PROXY header either) and
 * the member's kernel keeps no TIME_WAIT entry for the probe, so frequent probes of many
 * members cost the backends nothing but a handshake.
 *
 * Results use HAProxy's layer-4 codes (see `provider/health/state.ts`).
 */
import * as net from "node:net";
import { performance } from "node:perf_hooks";
import type { ProbeCode, ProbeOutcome } from "../../health/state";

const MAX_TIMER_MS = 2 ** 31 - 1;

/** errno codes that mean "no answer in time" rather than "actively refused / unreachable". */
const TIMEOUT_ERRNOS: ReadonlySet<string> = new Set(["ETIMEDOUT"]);

/**
 * Probes `host:port` with a TCP connect that must complete within `timeoutMs` (at least 1 ms).
 *
 * - handshake completed: `L4OK`, the socket is reset (`resetAndDestroy`), not closed with FIN;
 * - connection refused, reset, host or network unreachable: `L4CON`, with the errno in the
 *   description;
 * - no handshake within `timeoutMs`: `L4TOUT`.
 *
 * `clock` (default `performance.now`) measures `latencyMs`. `signal` aborts the probe (the
 * health monitor aborts in-flight probes when it closes, so that a probe to a black-holed host
 * does not hold the process open for up to a minute); an aborted probe resolves `L4CON`
 * "probe aborted". Never rejects, and leaves no socket or timer behind once it has resolved.
 */
export function probeTcp(
  host: string,
  port: number,
  timeoutMs: number,
  clock: () => number = () => performance.now(),
  signal?: AbortSignal,
): Promise<ProbeOutcome> {
  const effectiveTimeout = clampTimeout(timeoutMs);
  const started = clock();
  const outcome = (code: ProbeCode, description: string): ProbeOutcome => ({
    ok: code === "L4OK",
    code,
    description,
    latencyMs: Math.max(0, clock() - started),
  });

  if (signal?.aborted) return Promise.resolve(outcome("L4CON", "probe aborted"));

  return new Promise<ProbeOutcome>((resolve) => {
    let socket: net.Socket | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (result: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      resolve(result);
    };
    const onAbort = (): void => {
      socket?.destroy();
      finish(outcome("L4CON", "probe aborted"));
    };

    try {
      socket = net.connect({ host, port });
    } catch (err) {
      // A malformed target (e.g. port 70000 or NaN) throws synchronously; it can never connect.
      finish(outcome("L4CON", `cannot probe ${host}:${port}: ${describeError(err)}`));
      return;
    }
    const sock = socket;

    // Errors that arrive after the probe has resolved (e.g. from the reset itself) change
    // nothing: the outcome is already known, and without a listener they would crash the process.
    sock.on("error", (err: NodeJS.ErrnoException) => {
      sock.destroy();
      const code = err.code !== undefined && TIMEOUT_ERRNOS.has(err.code) ? "L4TOUT" : "L4CON";
      finish(outcome(code, describeError(err)));
    });
    sock.once("connect", () => {
      const result = outcome("L4OK", "connected");
      sock.resetAndDestroy();
      finish(result);
    });

    timer = setTimeout(() => {
      sock.destroy();
      finish(outcome("L4TOUT", `no TCP handshake within ${effectiveTimeout} ms`));
    }, effectiveTimeout);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** setTimeout fires after 1 ms for NaN and overflows past 2^31-1 ms: keep the timeout meaningful. */
export function clampTimeout(timeoutMs: number): number {
  if (Number.isNaN(timeoutMs)) return 1;
  return Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(timeoutMs)));
}

export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code !== undefined && !err.message.startsWith(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
