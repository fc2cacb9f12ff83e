/**
 * One UDP health probe, after Alibaba Cloud's UDP health check: a datagram to the member's check
 * port from a connected socket, so that the kernel hands the socket the ICMP port-unreachable a
 * closed port answers with (Node reports it as ECONNREFUSED).
 *
 * - Without a request: an empty datagram. ICMP unreachable within the timeout: `L4CON`; silence
 *   or any answer: `L4OK`.
 * - With a request: the request is sent and only an answer passes, since Linux rate-limits ICMP
 *   under load and silence may hide a closed port. An answer equal to `expectedResponse` (or any
 *   answer when none is expected): `L4OK`; another answer: `L7RSP`; silence: `L4TOUT`.
 */
import * as dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { performance } from "node:perf_hooks";
import type { ProbeCode, ProbeOutcome } from "../../health/state";
import { clampTimeout, describeError } from "./prober";

export interface UdpProbePayload {
  /** Sent as the datagram; unset: an empty datagram, and silence passes. */
  readonly request?: string;
  /** With `request`: the answer must equal it; unset: any answer passes. */
  readonly expectedResponse?: string;
}

/** ICMP errors a connected UDP socket reports: each means the member cannot take datagrams. */
const UNREACHABLE_ERRNOS: ReadonlySet<string> = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "EHOSTDOWN"]);

/** How much of an unexpected answer a description quotes. */
const SHOWN_ANSWER_BYTES = 64;

/**
 * Probes `host:port` over UDP. `clock` measures `latencyMs`; `signal` aborts the probe (resolved
 * `L4CON` "probe aborted"). Never rejects, and leaves no socket or timer behind once it has resolved.
 */
export function probeUdp(
  host: string,
  port: number,
  timeoutMs: number,
  payload: UdpProbePayload = {},
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
  const request = payload.request === undefined ? Buffer.alloc(0) : Buffer.from(payload.request, "utf8");
  const expected = payload.expectedResponse === undefined ? undefined : Buffer.from(payload.expectedResponse, "utf8");

  return new Promise<ProbeOutcome>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let socket: dgram.Socket | undefined;

    const finish = (result: ProbeOutcome): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      try {
        socket?.close();
      } catch {
        // Closing a socket that never bound throws ERR_SOCKET_DGRAM_NOT_RUNNING: nothing is left open.
      }
      resolve(result);
    };
    const onAbort = (): void => finish(outcome("L4CON", "probe aborted"));

    const sock = dgram.createSocket(isIPv6(host) ? "udp6" : "udp4");
    socket = sock;
    // Errors after the outcome is known change nothing; without a listener they would crash the process.
    sock.on("error", (err: NodeJS.ErrnoException) => {
      const unreachable = err.code !== undefined && UNREACHABLE_ERRNOS.has(err.code);
      finish(outcome("L4CON", unreachable ? `ICMP unreachable (${describeError(err)})` : describeError(err)));
    });
    sock.on("message", (answer) => {
      if (expected === undefined || answer.equals(expected)) {
        finish(outcome("L4OK", payload.request === undefined ? "answered" : "answered as expected"));
      } else {
        finish(outcome("L7RSP", `answered ${quote(answer)}, expected ${quote(expected)}`));
      }
    });
    try {
      sock.connect(port, host, () => {
        if (settled) return;
        sock.send(request, (err) => {
          if (err) finish(outcome("L4CON", describeError(err)));
        });
      });
    } catch (err) {
      // A malformed target (port 70000, NaN) throws synchronously; it can never answer.
      finish(outcome("L4CON", `cannot probe ${host}:${port}: ${describeError(err)}`));
      return;
    }

    timer = setTimeout(() => {
      finish(
        payload.request === undefined
          ? outcome("L4OK", `no ICMP error within ${effectiveTimeout} ms`)
          : outcome("L4TOUT", `no answer within ${effectiveTimeout} ms`),
      );
    }, effectiveTimeout);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function quote(bytes: Buffer): string {
  const shown = JSON.stringify(bytes.subarray(0, SHOWN_ANSWER_BYTES).toString("utf8"));
  return bytes.length > SHOWN_ANSWER_BYTES ? `${shown}... (${bytes.length} bytes)` : shown;
}
