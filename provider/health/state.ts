/**
 * The health state machine of one probed member, as a pure function.
 *
 * Modelled on Envoy's `health_checker_base_impl.cc` (consecutive success/failure counters that
 * flip a host after a threshold, with a freshly added host passing on its first success) and
 * HAProxy's `check.c` (probe results reported with layer-4 codes `L4OK`, `L4TOUT`, `L4CON`).
 *
 * The rules are the contract in docs/DESIGN.md ("Probe"):
 * - a member flips to Unhealthy after `unhealthyThreshold` consecutive failures and back to
 *   Healthy after `healthyThreshold` consecutive successes;
 * - a NEW member (`Initial`) takes traffic after its FIRST successful probe: waiting for
 *   `healthyThreshold` successes would keep every member of a freshly deployed group, or of a
 *   restarted node, out of service for `interval × (healthyThreshold − 1)` for no reason;
 * - an `Initial` member that keeps failing becomes Unhealthy after `unhealthyThreshold`
 *   consecutive failures, exactly as a Healthy one would.
 *
 * No clocks, sockets or randomness here: the impure scheduler lives in
 * `provider/forwarder/health/monitor.ts`.
 */

/** The state machine's state: a member's health as shown by `GET /v1/status`. */
export type HealthState = "Initial" | "Healthy" | "Unhealthy";

/** What one probe result did to the member's state. */
export type HealthTransition = "none" | "became-healthy" | "became-unhealthy";

/**
 * Result codes, named as in HAProxy (`check.c`, `HCHK_STATUS_L4*`, `HCHK_STATUS_L7RSP`):
 * - `L4OK`: the TCP handshake completed; for UDP, no ICMP error within the timeout, or the
 *   expected answer;
 * - `L4TOUT`: no handshake (TCP) or no answer to `udpRequest` (UDP) within the probe timeout;
 * - `L4CON`: refused (for UDP, an ICMP port-unreachable), reset, or the host/network is unreachable;
 * - `L7RSP`: a UDP answer other than `udpExpectedResponse`.
 */
export type ProbeCode = "L4OK" | "L4TOUT" | "L4CON" | "L7RSP";

/** The result of one probe. `ok` is true exactly when `code` is `L4OK`. */
export interface ProbeOutcome {
  readonly ok: boolean;
  readonly code: ProbeCode;
  /** Human-readable detail, e.g. "connected" or "ECONNREFUSED: connect ECONNREFUSED 127.0.3.1:80". */
  readonly description: string;
  /** Time from the start of the probe to its result, in milliseconds. */
  readonly latencyMs: number;
}

/**
 * A member's health: its state, the counters that drive the next transition, and the last probe
 * (kept by the health monitor, which owns the clock; the state machine neither reads nor sets it).
 */
export interface MemberHealth {
  readonly state: HealthState;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly lastProbe?: {
    readonly code: ProbeCode;
    readonly description: string;
    readonly latencyMs: number;
    /** When the probe finished, epoch ms. */
    readonly at: number;
  };
}

export interface HealthThresholds {
  /** Consecutive successes that bring an Unhealthy member back (an Initial one needs one). */
  readonly healthyThreshold: number;
  /** Consecutive failures that take a member (Initial or Healthy) out of service. */
  readonly unhealthyThreshold: number;
}

/** The status of a member that has not been probed yet. */
export const INITIAL_HEALTH: MemberHealth = Object.freeze({
  state: "Initial",
  consecutiveSuccesses: 0,
  consecutiveFailures: 0,
});

/**
 * Throws a RangeError naming the first threshold that is not a positive safe integer.
 * A threshold of 0 would make a member flip without any probe, so it is a programming error,
 * not something to clamp silently.
 */
export function assertValidThresholds(thresholds: HealthThresholds): void {
  for (const name of ["healthyThreshold", "unhealthyThreshold"] as const) {
    const value = thresholds[name];
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
    }
  }
}

/**
 * Applies one probe result to a member's status.
 *
 * Counters count the current run: a success resets the failure counter and vice versa.
 * They keep counting past the threshold (so the status page can show "12 consecutive
 * failures"); the transition is reported only on the probe that crosses the threshold.
 */
export function nextHealth(
  status: MemberHealth,
  result: ProbeOutcome,
  thresholds: HealthThresholds,
): { status: MemberHealth; transition: HealthTransition } {
  assertValidThresholds(thresholds);

  if (result.ok) {
    const consecutiveSuccesses = status.consecutiveSuccesses + 1;
    const becomesHealthy =
      status.state === "Initial" ||
      (status.state === "Unhealthy" && consecutiveSuccesses >= thresholds.healthyThreshold);
    return {
      status: {
        state: becomesHealthy ? "Healthy" : status.state,
        consecutiveSuccesses,
        consecutiveFailures: 0,
      },
      transition: becomesHealthy ? "became-healthy" : "none",
    };
  }

  const consecutiveFailures = status.consecutiveFailures + 1;
  const becomesUnhealthy =
    status.state !== "Unhealthy" && consecutiveFailures >= thresholds.unhealthyThreshold;
  return {
    status: {
      state: becomesUnhealthy ? "Unhealthy" : status.state,
      consecutiveSuccesses: 0,
      consecutiveFailures,
    },
    transition: becomesUnhealthy ? "became-unhealthy" : "none",
  };
}
