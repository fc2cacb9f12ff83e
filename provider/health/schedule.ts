/**
 * Pure timing helpers for health probing: jittered delays, the spread of the first probes, and
 * the failure/success windows documented in docs/DESIGN.md.
 *
 * Randomness is injected (`random` returns a number in [0, 1), like `Math.random`) so that
 * tests are exact. Jitter keeps the probes of many members, and of many forwarder nodes, from
 * hitting a backend in lockstep (Envoy `interval_jitter_percent`, HAProxy `spread-checks`).
 */

/** Default jitter: each delay is the interval ± 15%. */
export const DEFAULT_JITTER_PERCENT = 15;

/**
 * Default floor of every delay between two probes of one member. A zero (or tiny) interval
 * would otherwise probe in a tight loop against a refusing port, which answers instantly.
 */
export const DEFAULT_MIN_DELAY_MS = 100;

/** The first probes of a freshly configured set of members all start within this window. */
export const MAX_INITIAL_SPREAD_MS = 1000;

export interface JitterOptions {
  /** Half-width of the jitter band as a percentage of the interval, 0-100. Default 15. */
  readonly jitterPercent?: number;
  /** No delay is ever shorter than this. Default 100 ms. */
  readonly minDelayMs?: number;
}

/** Clamps a random draw into [0, 1] so that a misbehaving source cannot escape the bounds. */
function unit(random: () => number): number {
  const r = random();
  return Number.isFinite(r) ? Math.min(1, Math.max(0, r)) : 0.5;
}

function assertNonNegativeFinite(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`${name} must be a finite number >= 0, got ${String(value)}`);
  }
}

/**
 * The wait before the next probe of a member, measured from the end of its previous probe:
 * `intervalMs × (1 ± jitterPercent/100)`, never below `minDelayMs`.
 */
export function nextDelayMs(intervalMs: number, random: () => number, opts: JitterOptions = {}): number {
  const jitterPercent = opts.jitterPercent ?? DEFAULT_JITTER_PERCENT;
  const minDelayMs = opts.minDelayMs ?? DEFAULT_MIN_DELAY_MS;
  assertNonNegativeFinite("intervalMs", intervalMs);
  assertNonNegativeFinite("minDelayMs", minDelayMs);
  if (!Number.isFinite(jitterPercent) || jitterPercent < 0 || jitterPercent > 100) {
    throw new RangeError(`jitterPercent must be between 0 and 100, got ${String(jitterPercent)}`);
  }
  const factor = 1 + (jitterPercent / 100) * (2 * unit(random) - 1);
  return Math.max(minDelayMs, Math.round(intervalMs * factor));
}

/**
 * The delay before the FIRST probe of the `index`-th of `count` members that were just added.
 *
 * A restarted node (or a new server group) should learn its members' health quickly, not one
 * whole interval later, yet without opening `count` connections in the same millisecond.
 * The first probes are therefore spread over `min(intervalMs, 1000)` ms: member `index` gets
 * the slot `[index, index + 1) × window / count`, at a random point inside it.
 */
export function initialDelayMs(index: number, count: number, intervalMs: number, random: () => number): number {
  if (!Number.isSafeInteger(count) || count < 1) {
    throw new RangeError(`count must be a positive integer, got ${String(count)}`);
  }
  if (!Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`index must be an integer in [0, ${count - 1}], got ${String(index)}`);
  }
  assertNonNegativeFinite("intervalMs", intervalMs);
  const windowMs = Math.min(intervalMs, MAX_INITIAL_SPREAD_MS);
  const slotMs = windowMs / count;
  // Math.min guards against floating-point rounding past the end of the window.
  return Math.min(windowMs, Math.floor(slotMs * (index + unit(random))));
}

/** The health-check fields that the windows depend on (a HealthCheck resource's outputs). */
export interface HealthCheckTiming {
  readonly timeoutSeconds: number;
  readonly intervalSeconds: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

/**
 * docs/DESIGN.md: how long a failure takes to take a member out of service, in the worst case where
 * every probe times out: `timeout × unhealthyThreshold + interval × (unhealthyThreshold − 1)`.
 *
 * It counts from the first failing probe. The failure may have happened up to one jittered
 * interval before that probe started (the member was fine at the previous probe), and a
 * refused connection fails at once rather than after `timeout`.
 */
export function failureWindowSeconds(hc: HealthCheckTiming): number {
  return failureWindow(hc.timeoutSeconds, hc.intervalSeconds, hc.unhealthyThreshold);
}

/**
 * docs/DESIGN.md: how long a recovery takes to bring a member back: `interval × (healthyThreshold − 1)`
 * (a TCP probe's own response time is negligible). Counted from the first successful probe.
 */
export function successWindowSeconds(hc: HealthCheckTiming): number {
  return successWindow(hc.intervalSeconds, hc.healthyThreshold);
}

/** The same windows in milliseconds, for a probe target (`provider/forwarder/health/monitor.ts`). */
export function failureWindowMs(t: {
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly unhealthyThreshold: number;
}): number {
  return failureWindow(t.timeoutMs, t.intervalMs, t.unhealthyThreshold);
}

export function successWindowMs(t: { readonly intervalMs: number; readonly healthyThreshold: number }): number {
  return successWindow(t.intervalMs, t.healthyThreshold);
}

// The formulas are linear, so one implementation serves seconds and milliseconds alike.
function failureWindow(timeout: number, interval: number, unhealthyThreshold: number): number {
  return timeout * unhealthyThreshold + interval * (unhealthyThreshold - 1);
}

function successWindow(interval: number, healthyThreshold: number): number {
  return interval * (healthyThreshold - 1);
}
