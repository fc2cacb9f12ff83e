import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  INITIAL_HEALTH,
  nextHealth,
  type HealthState,
  type MemberHealth,
  type HealthTransition,
  type ProbeOutcome,
} from "../../provider/health";

const OK: ProbeOutcome = { ok: true, code: "L4OK", description: "connected", latencyMs: 1 };
const REFUSED: ProbeOutcome = { ok: false, code: "L4CON", description: "ECONNREFUSED", latencyMs: 1 };
const TIMEOUT: ProbeOutcome = { ok: false, code: "L4TOUT", description: "no TCP handshake", latencyMs: 3000 };

/** "+" a successful probe, "x" a refused one, "t" a timeout. */
const PROBES: Record<string, ProbeOutcome> = { "+": OK, x: REFUSED, t: TIMEOUT };

/** Expected state after each probe: I(nitial), H(ealthy), U(nhealthy); "!" marks a transition. */
const STATES: Record<string, HealthState> = { I: "Initial", H: "Healthy", U: "Unhealthy" };

interface Case {
  name: string;
  from: HealthState;
  healthy: number;
  unhealthy: number;
  probes: string;
  expect: string;
}

// Each row: start state, thresholds, probe sequence, expected state after each probe.
// "H!" after an Unhealthy/Initial state means the probe reported "became-healthy".
const CASES: Case[] = [
  { name: "a new member is Healthy after its first success", from: "Initial", healthy: 3, unhealthy: 3, probes: "+", expect: "H!" },
  { name: "a new member ignores healthyThreshold (5)", from: "Initial", healthy: 5, unhealthy: 3, probes: "++", expect: "H! H" },
  { name: "a new member that fails stays Initial until unhealthyThreshold", from: "Initial", healthy: 3, unhealthy: 3, probes: "xxx", expect: "I I U!" },
  { name: "a new member with unhealthyThreshold 1 fails at once", from: "Initial", healthy: 3, unhealthy: 1, probes: "t", expect: "U!" },
  { name: "a new member that fails then succeeds becomes Healthy", from: "Initial", healthy: 3, unhealthy: 3, probes: "xx+", expect: "I I H!" },
  { name: "timeouts and refusals both count as failures", from: "Healthy", healthy: 3, unhealthy: 3, probes: "txt", expect: "H H U!" },
  { name: "a success resets the failure run", from: "Healthy", healthy: 3, unhealthy: 3, probes: "xx+xxx", expect: "H H H H H U!" },
  { name: "a healthy member stays healthy on success", from: "Healthy", healthy: 3, unhealthy: 3, probes: "+++", expect: "H H H" },
  { name: "unhealthyThreshold 1 flips on the first failure", from: "Healthy", healthy: 1, unhealthy: 1, probes: "x", expect: "U!" },
  { name: "unhealthyThreshold 5", from: "Healthy", healthy: 2, unhealthy: 5, probes: "xxxxx", expect: "H H H H U!" },
  { name: "an unhealthy member needs healthyThreshold successes", from: "Unhealthy", healthy: 3, unhealthy: 3, probes: "+++", expect: "U U H!" },
  { name: "a failure resets the success run", from: "Unhealthy", healthy: 3, unhealthy: 3, probes: "++x+++", expect: "U U U U U H!" },
  { name: "healthyThreshold 1 recovers on the first success", from: "Unhealthy", healthy: 1, unhealthy: 3, probes: "+", expect: "H!" },
  { name: "an unhealthy member that keeps failing reports no new transition", from: "Unhealthy", healthy: 3, unhealthy: 2, probes: "xxxx", expect: "U U U U" },
  { name: "flapping with thresholds 2/2", from: "Healthy", healthy: 2, unhealthy: 2, probes: "xx++xx", expect: "H U! U H! H U!" },
];

function run(c: Case): { states: string; counters: MemberHealth[] } {
  let status: MemberHealth = { ...INITIAL_HEALTH, state: c.from };
  const states: string[] = [];
  const counters: MemberHealth[] = [];
  for (const p of c.probes) {
    const probe = PROBES[p];
    assert.ok(probe, `unknown probe symbol ${p}`);
    const step = nextHealth(status, probe, { healthyThreshold: c.healthy, unhealthyThreshold: c.unhealthy });
    const letter = Object.keys(STATES).find((k) => STATES[k] === step.status.state);
    const expectedTransition: HealthTransition =
      step.status.state === status.state ? "none" : step.status.state === "Healthy" ? "became-healthy" : "became-unhealthy";
    assert.equal(step.transition, expectedTransition, "the transition names the state change");
    states.push(`${letter}${step.transition === "none" ? "" : "!"}`);
    counters.push(step.status);
    status = step.status;
  }
  return { states: states.join(" "), counters };
}

describe("health state machine (nextHealth)", () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.from} ${c.probes} (healthy ${c.healthy}, unhealthy ${c.unhealthy}) -> ${c.expect}`, () => {
      assert.equal(run(c).states, c.expect);
    });
  }

  it("counts the current run of successes or failures", () => {
    const { counters } = run({ name: "", from: "Healthy", healthy: 2, unhealthy: 3, probes: "xx+++x", expect: "" });
    assert.deepEqual(
      counters.map((s) => [s.consecutiveSuccesses, s.consecutiveFailures]),
      [[0, 1], [0, 2], [1, 0], [2, 0], [3, 0], [0, 1]],
    );
  });

  it("keeps counting past the threshold without reporting the transition again", () => {
    const { counters, states } = run({ name: "", from: "Healthy", healthy: 2, unhealthy: 2, probes: "xxxxx", expect: "" });
    assert.equal(states, "H U! U U U");
    assert.equal(counters[4]?.consecutiveFailures, 5);
  });

  it("does not mutate its input", () => {
    const status: MemberHealth = Object.freeze({ state: "Healthy", consecutiveSuccesses: 4, consecutiveFailures: 0 });
    nextHealth(status, REFUSED, { healthyThreshold: 1, unhealthyThreshold: 1 });
    assert.deepEqual(status, { state: "Healthy", consecutiveSuccesses: 4, consecutiveFailures: 0 });
  });

  it("rejects thresholds that are not positive integers, naming the field", () => {
    for (const [healthyThreshold, unhealthyThreshold, field] of [
      [0, 3, "healthyThreshold"],
      [3, 0, "unhealthyThreshold"],
      [1.5, 3, "healthyThreshold"],
      [3, Number.NaN, "unhealthyThreshold"],
    ] as const) {
      assert.throws(
        () => nextHealth(INITIAL_HEALTH, OK, { healthyThreshold, unhealthyThreshold }),
        (err: unknown) => err instanceof RangeError && err.message.startsWith(field),
      );
    }
  });

  it("property: from Healthy, a member is Unhealthy exactly when the last U probes failed (since it was last Healthy)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.boolean(), { maxLength: 60 }),
        (healthyThreshold, unhealthyThreshold, results) => {
          let status: MemberHealth = { state: "Healthy", consecutiveSuccesses: 0, consecutiveFailures: 0 };
          // Reference model written independently: the state only flips at a run reaching a threshold.
          let model: HealthState = "Healthy";
          let run = 0;
          let last: boolean | undefined;
          for (const ok of results) {
            run = ok === last ? run + 1 : 1;
            last = ok;
            if (ok && run >= healthyThreshold) model = "Healthy";
            if (!ok && run >= unhealthyThreshold) model = "Unhealthy";
            const step = nextHealth(status, ok ? OK : REFUSED, { healthyThreshold, unhealthyThreshold });
            assert.equal(step.status.state, model);
            assert.equal(ok ? step.status.consecutiveSuccesses : step.status.consecutiveFailures, run);
            assert.equal(ok ? step.status.consecutiveFailures : step.status.consecutiveSuccesses, 0);
            assert.equal(step.transition !== "none", step.status.state !== status.state);
            status = step.status;
          }
        },
      ),
    );
  });
});
