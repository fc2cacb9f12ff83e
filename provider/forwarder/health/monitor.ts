/**
 * The health monitor of one forwarder node: probes every member itself (as each director of an
 * LVS cluster does) and keeps each member's health with the pure state machine of
 * `provider/health/state.ts`.
 *
 * Scheduling, per target:
 * - at most one probe in flight;
 * - `intervalMs` is the wait from the END of one probe to the START of the next, with jitter
 *   (`nextDelayMs`), so a slow or timing-out member is never probed more often than a fast one;
 * - targets added together get their first probe spread over `min(interval, 1 s)`
 *   (`initialDelayMs`), so a restarted node learns its members' health within a second;
 * - `setTargets` reconciles: a target whose key is kept keeps its health and counters (docs/DESIGN.md:
 *   "a member keeps its state across configuration changes").
 *
 * Clock, randomness, timers and the probe itself are injected, so tests run on a fake clock.
 */
import { EventEmitter } from "node:events";
import { initialDelayMs, nextDelayMs } from "../../health/schedule";
import {
  assertValidThresholds,
  INITIAL_HEALTH,
  nextHealth,
  type HealthState,
  type MemberHealth,
  type ProbeOutcome,
} from "../../health/state";
import { probeTcp } from "./prober";
import { probeUdp, type UdpProbePayload } from "./udp-prober";

export type { HealthState, MemberHealth, ProbeOutcome } from "../../health/state";

/** How a target is probed: a TCP connect, or a UDP datagram (with an optional request and expected answer). */
export type ProbeMethod = { readonly protocol: "TCP" } | ({ readonly protocol: "UDP" } & UdpProbePayload);

export const TCP_PROBE: ProbeMethod = Object.freeze({ protocol: "TCP" });

/** The default probe: the method's prober. */
export function probeBy(method: ProbeMethod, host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeOutcome> {
  return method.protocol === "UDP"
    ? probeUdp(host, port, timeoutMs, method, undefined, signal)
    : probeTcp(host, port, timeoutMs, undefined, signal);
}

/** A probe in flight answers for the target only if the target is still probed the same way. */
function sameMethod(a: ProbeMethod, b: ProbeMethod): boolean {
  if (a.protocol === "TCP" || b.protocol === "TCP") return a.protocol === b.protocol;
  return a.request === b.request && a.expectedResponse === b.expectedResponse;
}

export interface ProbeTarget {
  /** Stable identity chosen by the caller, e.g. `${serviceId}|${address}|${port}`. */
  readonly key: string;
  /** Where to probe (the member's address and the check port). */
  readonly host: string;
  readonly port: number;
  /** Unset: a TCP connect. */
  readonly method?: ProbeMethod;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  readonly healthyThreshold: number;
  readonly unhealthyThreshold: number;
}

export interface HealthMonitorOptions {
  /**
   * Performs one probe; default `probeBy` (`probeTcp` or `probeUdp` by the target's method). It
   * receives an AbortSignal that fires when the target is removed or the monitor closes; a probe
   * may ignore it (its result is then ignored). A rejection counts as a failed probe (`L4CON`).
   */
  probe?: (host: string, port: number, timeoutMs: number, signal: AbortSignal | undefined, method: ProbeMethod) => Promise<ProbeOutcome>;
  /** Epoch milliseconds, for `lastProbe.at`; default `Date.now`. */
  now?: () => number;
  /** A number in [0, 1) for jitter; default `Math.random`. */
  random?: () => number;
  /** Default: an unref'd `setTimeout`, so that the monitor alone never keeps the process alive. */
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}

/** Event signatures, for `monitor.on(...)`. */
export interface HealthMonitorEvents {
  transition: [key: string, from: HealthState, to: HealthState, probe: ProbeOutcome];
  probe: [key: string, outcome: ProbeOutcome];
}

interface Entry {
  target: ProbeTarget;
  status: MemberHealth;
  lastProbe?: MemberHealth["lastProbe"];
  /** Set while waiting for the next probe. */
  timer?: { cancel(): void };
  /** When the pending timer fires (per `now`), to shorten the wait when the interval shrinks. */
  dueAt?: number;
  /** Set while a probe is in flight; a result whose controller is no longer this one is stale. */
  inFlight?: AbortController;
}

function defaultSetTimer(fn: () => void, ms: number): { cancel(): void } {
  const handle = setTimeout(fn, ms);
  handle.unref();
  return { cancel: () => clearTimeout(handle) };
}

/** The targets by key; throws (a RangeError naming the target) for one `setTargets` would refuse. */
export function checkTargets(targets: readonly ProbeTarget[]): Map<string, ProbeTarget> {
  const byKey = new Map<string, ProbeTarget>();
  for (const t of targets) {
    assertValidTarget(t);
    if (byKey.has(t.key)) throw new RangeError(`probe target ${JSON.stringify(t.key)} is listed twice`);
    byKey.set(t.key, { ...t });
  }
  return byKey;
}

function assertValidTarget(t: ProbeTarget): void {
  const where = `probe target ${JSON.stringify(t.key)}`;
  if (typeof t.key !== "string" || t.key.length === 0) throw new RangeError(`${where}: key must be a non-empty string`);
  if (typeof t.host !== "string" || t.host.length === 0) throw new RangeError(`${where}: host must be a non-empty string`);
  if (!Number.isInteger(t.port) || t.port < 1 || t.port > 65535) {
    throw new RangeError(`${where}: port must be an integer in 1-65535, got ${String(t.port)}`);
  }
  for (const name of ["timeoutMs", "intervalMs"] as const) {
    const value = t[name];
    if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${where}: ${name} must be > 0, got ${String(value)}`);
  }
  try {
    assertValidThresholds(t);
  } catch (err) {
    throw new RangeError(`${where}: ${(err as Error).message}`);
  }
}

function snapshot(entry: Entry): MemberHealth {
  const { state, consecutiveSuccesses, consecutiveFailures } = entry.status;
  return entry.lastProbe === undefined
    ? { state, consecutiveSuccesses, consecutiveFailures }
    : { state, consecutiveSuccesses, consecutiveFailures, lastProbe: entry.lastProbe };
}

export class HealthMonitor extends EventEmitter<HealthMonitorEvents> {
  private readonly probe: NonNullable<HealthMonitorOptions["probe"]>;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly setTimer: NonNullable<HealthMonitorOptions["setTimer"]>;
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(opts: HealthMonitorOptions = {}) {
    super();
    this.probe = opts.probe ?? ((host, port, timeoutMs, signal, method) => probeBy(method, host, port, timeoutMs, signal));
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.setTimer = opts.setTimer ?? defaultSetTimer;
  }

  /**
   * Makes `targets` the set of probed targets. Throws a RangeError (and changes nothing) if a
   * target is malformed or a key repeats. After `close()` it does nothing.
   *
   * - new key: state Initial, first probe within `min(intervalMs, 1 s)`;
   * - missing key: its timer is cancelled, its in-flight probe aborted and its result ignored;
   * - kept key: parameters replaced in place, health and counters kept. New thresholds apply
   *   from the next result; a shorter interval shortens the current wait; a probe in flight to
   *   a host, port or probe method that changed is discarded and the new one probed after one interval.
   */
  setTargets(targets: readonly ProbeTarget[]): void {
    if (this.closed) return;
    const next = checkTargets(targets);

    for (const [key, entry] of this.entries) {
      if (!next.has(key)) {
        this.stop(entry);
        this.entries.delete(key);
      }
    }

    const added: Entry[] = [];
    for (const target of next.values()) {
      const entry = this.entries.get(target.key);
      if (entry === undefined) {
        const fresh: Entry = { target, status: INITIAL_HEALTH };
        this.entries.set(target.key, fresh);
        added.push(fresh);
      } else {
        this.update(entry, target);
      }
    }
    added.forEach((entry, index) => {
      this.schedule(entry, initialDelayMs(index, added.length, entry.target.intervalMs, this.random));
    });
  }

  get(key: string): MemberHealth | undefined {
    const entry = this.entries.get(key);
    return entry === undefined ? undefined : snapshot(entry);
  }

  /** Idempotent. Cancels every timer and aborts every probe; results still arriving are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const entry of this.entries.values()) this.stop(entry);
    this.entries.clear();
  }

  private update(entry: Entry, target: ProbeTarget): void {
    const previous = entry.target;
    entry.target = target;
    if (entry.timer !== undefined && entry.dueAt !== undefined && target.intervalMs < previous.intervalMs) {
      const delay = nextDelayMs(target.intervalMs, this.random);
      if (this.now() + delay < entry.dueAt) {
        entry.timer.cancel();
        this.schedule(entry, delay);
      }
    }
  }

  private stop(entry: Entry): void {
    entry.timer?.cancel();
    entry.timer = undefined;
    entry.dueAt = undefined;
    entry.inFlight?.abort();
    entry.inFlight = undefined;
  }

  private schedule(entry: Entry, delayMs: number): void {
    entry.dueAt = this.now() + delayMs;
    entry.timer = this.setTimer(() => this.start(entry), delayMs);
  }

  private isCurrent(entry: Entry): boolean {
    return !this.closed && this.entries.get(entry.target.key) === entry;
  }

  private start(entry: Entry): void {
    entry.timer = undefined;
    entry.dueAt = undefined;
    if (!this.isCurrent(entry) || entry.inFlight !== undefined) return;
    const controller = new AbortController();
    entry.inFlight = controller;
    const { host, port, timeoutMs } = entry.target;
    const method = entry.target.method ?? TCP_PROBE;
    // Promise.resolve().then: a probe that throws synchronously is a failed probe, not a crash.
    Promise.resolve()
      .then(() => this.probe(host, port, timeoutMs, controller.signal, method))
      .then(
        (outcome) => this.finish(entry, controller, host, port, method, outcome),
        (err: unknown) =>
          this.finish(entry, controller, host, port, method, {
            ok: false,
            code: "L4CON",
            description: `probe failed: ${err instanceof Error ? err.message : String(err)}`,
            latencyMs: 0,
          }),
      );
  }

  private finish(entry: Entry, controller: AbortController, host: string, port: number, method: ProbeMethod, outcome: ProbeOutcome): void {
    if (!this.isCurrent(entry) || entry.inFlight !== controller) return;
    entry.inFlight = undefined;
    const { target } = entry;
    if (target.host !== host || target.port !== port || !sameMethod(target.method ?? TCP_PROBE, method)) {
      // The check address or method changed while this probe ran: its result says nothing about the new one.
      this.schedule(entry, nextDelayMs(target.intervalMs, this.random));
      return;
    }

    const from = entry.status.state;
    const { status, transition } = nextHealth(entry.status, outcome, target);
    entry.status = status;
    entry.lastProbe = {
      code: outcome.code,
      description: outcome.description,
      latencyMs: outcome.latencyMs,
      at: this.now(),
    };
    // Schedule before emitting: a listener that throws or calls setTargets/close must find
    // the entry in a consistent state (and removal cancels this timer).
    this.schedule(entry, nextDelayMs(target.intervalMs, this.random));

    this.emit("probe", target.key, outcome);
    if (transition !== "none" && this.isCurrent(entry)) {
      this.emit("transition", target.key, from, status.state, outcome);
    }
  }
}
