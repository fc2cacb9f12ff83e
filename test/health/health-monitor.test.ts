import { strict as assert } from "node:assert";
import { HealthMonitor, type ProbeTarget } from "../../provider/forwarder/health/monitor";
import type { HealthState, ProbeOutcome } from "../../provider/health";

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** A fake clock with timers, advanced by hand; epoch starts at 1_000_000 ms. */
class FakeTime {
  now = 1_000_000;
  private seq = 0;
  private timers: { at: number; seq: number; fn: () => void; cancelled: boolean }[] = [];

  readonly clock = (): number => this.now;

  readonly setTimer = (fn: () => void, ms: number): { cancel(): void } => {
    const timer = { at: this.now + ms, seq: this.seq++, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => void (timer.cancelled = true) };
  };

  pending(): number {
    return this.timers.filter((t) => !t.cancelled).length;
  }

  /** Runs every timer due within `ms`, in time order, letting promise callbacks run in between. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await flush();
    for (;;) {
      this.timers = this.timers.filter((t) => !t.cancelled);
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (due === undefined) break;
      this.timers.splice(this.timers.indexOf(due), 1);
      this.now = due.at;
      due.fn();
      await flush();
    }
    this.now = end;
  }
}

const OK: ProbeOutcome = { ok: true, code: "L4OK", description: "connected", latencyMs: 1 };
const REFUSED: ProbeOutcome = { ok: false, code: "L4CON", description: "ECONNREFUSED", latencyMs: 1 };

interface ProbeCall {
  host: string;
  port: number;
  timeoutMs: number;
  at: number;
  signal?: AbortSignal;
}

/**
 * A probe whose answer is set per "host:port" (up, down, or hanging), optionally taking
 * `durationMs` of fake time, and which records every call.
 */
class ScriptedProbe {
  readonly calls: ProbeCall[] = [];
  private readonly answers = new Map<string, ProbeOutcome | "hang" | "throw">();
  durationMs = 0;

  constructor(private readonly time: FakeTime) {}

  set(host: string, port: number, answer: ProbeOutcome | "hang" | "throw"): void {
    this.answers.set(`${host}:${port}`, answer);
  }

  callsTo(host: string, port: number): ProbeCall[] {
    return this.calls.filter((c) => c.host === host && c.port === port);
  }

  readonly probe = (host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<ProbeOutcome> => {
    this.calls.push({ host, port, timeoutMs, at: this.time.now, signal });
    const answer = this.answers.get(`${host}:${port}`) ?? REFUSED;
    if (answer === "throw") throw new Error("probe exploded");
    if (answer === "hang") return new Promise(() => undefined);
    if (this.durationMs === 0) return Promise.resolve(answer);
    return new Promise((resolve) => this.time.setTimer(() => resolve(answer), this.durationMs));
  };
}

interface Recorded {
  key: string;
  from: HealthState;
  to: HealthState;
  code: string;
  at: number;
}

function setup(random = 0.5): { time: FakeTime; probe: ScriptedProbe; monitor: HealthMonitor; transitions: Recorded[]; probes: string[] } {
  const time = new FakeTime();
  const probe = new ScriptedProbe(time);
  const monitor = new HealthMonitor({ probe: probe.probe, now: time.clock, random: () => random, setTimer: time.setTimer });
  const transitions: Recorded[] = [];
  const probes: string[] = [];
  monitor.on("transition", (key, from, to, outcome) => transitions.push({ key, from, to, code: outcome.code, at: time.now }));
  monitor.on("probe", (key, outcome) => probes.push(`${key}:${outcome.code}`));
  return { time, probe, monitor, transitions, probes };
}

function target(over: Partial<ProbeTarget> = {}): ProbeTarget {
  return {
    key: "svc|10.0.0.1|80",
    host: "10.0.0.1",
    port: 80,
    timeoutMs: 3000,
    intervalMs: 5000,
    healthyThreshold: 2,
    unhealthyThreshold: 3,
    ...over,
  };
}

describe("HealthMonitor (fake clock, scripted probe)", () => {
  it("a new target is Initial, probed within 1 s, and Healthy after its first success", async () => {
    const { time, probe, monitor, transitions } = setup();
    probe.set("10.0.0.1", 80, OK);
    monitor.setTargets([target()]);
    assert.deepEqual(monitor.get("svc|10.0.0.1|80"), { state: "Initial", consecutiveSuccesses: 0, consecutiveFailures: 0 });

    await time.advance(1000);
    assert.equal(probe.calls.length, 1);
    assert.equal(probe.calls[0]!.at, 1_000_500, "random 0.5 puts the single first probe in the middle of 1 s");
    assert.deepEqual(transitions, [{ key: "svc|10.0.0.1|80", from: "Initial", to: "Healthy", code: "L4OK", at: 1_000_500 }]);
    assert.deepEqual(monitor.get("svc|10.0.0.1|80"), {
      state: "Healthy",
      consecutiveSuccesses: 1,
      consecutiveFailures: 0,
      lastProbe: { code: "L4OK", description: "connected", latencyMs: 1, at: 1_000_500 },
    });
    monitor.close();
  });

  it("honours unhealthyThreshold and healthyThreshold, one transition each", async () => {
    const { time, probe, monitor, transitions, probes } = setup();
    const key = "svc|10.0.0.1|80";
    probe.set("10.0.0.1", 80, OK);
    monitor.setTargets([target({ unhealthyThreshold: 3, healthyThreshold: 2 })]);
    await time.advance(1000); // first probe: Healthy
    probe.set("10.0.0.1", 80, REFUSED);

    await time.advance(5000 * 2); // two failures
    assert.equal(monitor.get(key)?.state, "Healthy");
    assert.equal(monitor.get(key)?.consecutiveFailures, 2);
    await time.advance(5000); // third failure
    assert.equal(monitor.get(key)?.state, "Unhealthy");
    assert.equal(monitor.get(key)?.lastProbe?.description, "ECONNREFUSED");

    probe.set("10.0.0.1", 80, OK);
    await time.advance(5000);
    assert.equal(monitor.get(key)?.state, "Unhealthy", "one success is not enough with healthyThreshold 2");
    await time.advance(5000);
    assert.equal(monitor.get(key)?.state, "Healthy");

    assert.deepEqual(
      transitions.map((t) => [t.from, t.to, t.code, t.at - 1_000_500]),
      [
        ["Initial", "Healthy", "L4OK", 0],
        ["Healthy", "Unhealthy", "L4CON", 15_000],
        ["Unhealthy", "Healthy", "L4OK", 25_000],
      ],
    );
    assert.equal(probes.length, 6, "every probe is reported");
    monitor.close();
  });

  it("an Initial target that never answers becomes Unhealthy after unhealthyThreshold failures", async () => {
    const { time, monitor, transitions } = setup();
    monitor.setTargets([target({ unhealthyThreshold: 2 })]);
    await time.advance(1000);
    assert.equal(monitor.get("svc|10.0.0.1|80")?.state, "Initial");
    await time.advance(5000);
    assert.equal(monitor.get("svc|10.0.0.1|80")?.state, "Unhealthy");
    assert.deepEqual(transitions.map((t) => `${t.from}->${t.to}`), ["Initial->Unhealthy"]);
    monitor.close();
  });

  it("waits intervalMs from the END of a probe to the start of the next, with jitter", async () => {
    const { time, probe, monitor } = setup(0); // random 0: every delay is interval - 15%
    probe.set("10.0.0.1", 80, OK);
    probe.durationMs = 2000; // each probe takes 2 s
    monitor.setTargets([target({ intervalMs: 5000 })]);
    await time.advance(30_000);
    const starts = probe.calls.map((c) => c.at - 1_000_000);
    // first probe at 0 (random 0), then end (+2000) + 4250, repeatedly.
    assert.deepEqual(starts, [0, 6250, 12_500, 18_750, 25_000]);
    monitor.close();
  });

  it("keeps only one probe in flight per target", async () => {
    const { time, probe, monitor } = setup();
    probe.set("10.0.0.1", 80, "hang");
    monitor.setTargets([target()]);
    await time.advance(120_000);
    assert.equal(probe.calls.length, 1);
    assert.equal(monitor.get("svc|10.0.0.1|80")?.state, "Initial");
    monitor.close();
  });

  it("spreads the first probes of many targets over the first second", async () => {
    const { time, probe, monitor } = setup();
    const targets = Array.from({ length: 10 }, (_, i) => target({ key: `k${i}`, host: `10.0.0.${i + 1}` }));
    monitor.setTargets(targets);
    await time.advance(1000);
    const starts = probe.calls.map((c) => c.at - 1_000_000);
    assert.deepEqual(starts, [50, 150, 250, 350, 450, 550, 650, 750, 850, 950]);
    monitor.close();
  });

  it("keeps state across setTargets updates and uses the new parameters", async () => {
    const { time, probe, monitor, transitions } = setup();
    probe.set("10.0.0.1", 80, OK);
    monitor.setTargets([target()]);
    await time.advance(1000 + 5000); // two successes
    const before = monitor.get("svc|10.0.0.1|80");
    assert.equal(before?.state, "Healthy");
    assert.equal(before?.consecutiveSuccesses, 2);

    monitor.setTargets([target({ timeoutMs: 7000, unhealthyThreshold: 1, healthyThreshold: 5 })]);
    assert.deepEqual(monitor.get("svc|10.0.0.1|80"), before, "an update changes no state");
    assert.equal(transitions.length, 1, "no transition from an update");

    probe.set("10.0.0.1", 80, REFUSED);
    await time.advance(5000);
    assert.equal(probe.calls.at(-1)?.timeoutMs, 7000);
    assert.equal(monitor.get("svc|10.0.0.1|80")?.state, "Unhealthy", "the new unhealthyThreshold (1) applies");
    monitor.close();
  });

  it("a shorter interval shortens the current wait; a longer one applies after the next probe", async () => {
    const { time, probe, monitor } = setup();
    probe.set("10.0.0.1", 80, OK);
    monitor.setTargets([target({ intervalMs: 300_000 })]);
    await time.advance(1000); // first probe at +500; next due at +300 500
    monitor.setTargets([target({ intervalMs: 5000 })]);
    await time.advance(5000);
    assert.equal(probe.calls.length, 2);
    assert.equal(probe.calls[1]!.at - 1_000_000, 6000, "next probe one new interval after the update");

    monitor.setTargets([target({ intervalMs: 60_000 })]);
    await time.advance(5000);
    assert.equal(probe.calls.length, 3, "the pending probe is not postponed");
    await time.advance(59_999);
    assert.equal(probe.calls.length, 3);
    await time.advance(1);
    assert.equal(probe.calls.length, 4);
    monitor.close();
  });

  it("stops probing removed targets and ignores their in-flight results", async () => {
    const { time, probe, monitor, transitions, probes } = setup();
    probe.set("10.0.0.1", 80, OK);
    probe.set("10.0.0.2", 80, OK);
    probe.durationMs = 1000;
    const a = target({ key: "a", host: "10.0.0.1" });
    const b = target({ key: "b", host: "10.0.0.2" });
    monitor.setTargets([a, b]);
    // a starts at +250, b at +750; each takes 1 s. Remove b while its probe is in flight.
    await time.advance(800);
    assert.equal(probe.calls.length, 2);
    monitor.setTargets([a]);
    assert.equal(monitor.get("b"), undefined);
    assert.equal(probe.calls[1]!.signal?.aborted, true, "the in-flight probe of a removed target is aborted");

    await time.advance(60_000);
    assert.equal(probe.callsTo("10.0.0.2", 80).length, 1, "a removed target is never probed again");
    assert.ok(probe.callsTo("10.0.0.1", 80).length > 5);
    assert.ok(!probes.includes("b:L4OK"), "the in-flight result of a removed target is not reported");
    assert.deepEqual(transitions.map((t) => t.key), ["a"]);

    monitor.setTargets([a, b]);
    assert.deepEqual(monitor.get("b"), { state: "Initial", consecutiveSuccesses: 0, consecutiveFailures: 0 }, "re-added: fresh");
    monitor.close();
  });

  it("discards an in-flight result when the target's address changed meanwhile", async () => {
    const { time, probe, monitor, probes } = setup();
    probe.set("10.0.0.1", 80, OK);
    probe.set("10.0.0.1", 8080, REFUSED);
    probe.durationMs = 1000;
    monitor.setTargets([target()]);
    await time.advance(600); // probe to :80 in flight
    monitor.setTargets([target({ port: 8080 })]);
    await time.advance(1000);
    assert.deepEqual(probes, [], "the result from the old port is not counted");
    assert.equal(monitor.get("svc|10.0.0.1|80")?.state, "Initial");
    await time.advance(5000 + 1000);
    assert.deepEqual(probes, ["svc|10.0.0.1|80:L4CON"]);
    monitor.close();
  });

  it("counts a probe that throws or rejects as an L4CON failure", async () => {
    const { time, probe, monitor } = setup();
    probe.set("10.0.0.1", 80, "throw");
    monitor.setTargets([target({ unhealthyThreshold: 1 })]);
    await time.advance(1000);
    const health = monitor.get("svc|10.0.0.1|80");
    assert.equal(health?.state, "Unhealthy");
    assert.equal(health?.lastProbe?.code, "L4CON");
    assert.match(health?.lastProbe?.description ?? "", /probe exploded/);
    await time.advance(5000);
    assert.equal(probe.calls.length, 2, "probing goes on after a throwing probe");
    monitor.close();
  });

  it("rejects malformed targets and duplicate keys without changing anything", () => {
    const { time, monitor } = setup();
    monitor.setTargets([target()]);
    const bad: [Partial<ProbeTarget>, RegExp][] = [
      [{ port: 0 }, /port/],
      [{ intervalMs: 0 }, /intervalMs/],
      [{ timeoutMs: Number.NaN }, /timeoutMs/],
      [{ unhealthyThreshold: 0 }, /unhealthyThreshold/],
      [{ host: "" }, /host/],
    ];
    for (const [over, message] of bad) {
      assert.throws(() => monitor.setTargets([target({ key: "new", ...over })]), message);
    }
    assert.throws(() => monitor.setTargets([target(), target()]), /listed twice/);
    assert.notEqual(monitor.get("svc|10.0.0.1|80"), undefined, "the old set is untouched");
    assert.equal(monitor.get("new"), undefined);
    assert.equal(time.pending(), 1);
    monitor.close();
  });

  it("close() is idempotent, cancels timers, aborts probes and ignores late results", async () => {
    const { time, probe, monitor, probes } = setup();
    probe.set("10.0.0.1", 80, OK);
    probe.set("10.0.0.2", 80, "hang");
    monitor.setTargets([target({ key: "a", host: "10.0.0.1" }), target({ key: "b", host: "10.0.0.2" })]);
    probe.durationMs = 0;
    await time.advance(1000);
    assert.equal(probes.length, 1, "a answered, b hangs");
    assert.equal(time.pending(), 1, "a waits for its next probe");

    monitor.close();
    monitor.close();
    assert.equal(time.pending(), 0);
    assert.equal(probe.callsTo("10.0.0.2", 80)[0]?.signal?.aborted, true);
    assert.equal(monitor.get("a"), undefined);

    monitor.setTargets([target({ key: "c" })]);
    await time.advance(60_000);
    assert.equal(probe.calls.length, 2, "a closed monitor never probes again");
    assert.equal(probes.length, 1);
  });

  it("a listener may close the monitor from a probe event", async () => {
    const { time, probe, monitor, transitions } = setup();
    probe.set("10.0.0.1", 80, OK);
    monitor.on("probe", () => monitor.close());
    monitor.setTargets([target()]);
    await time.advance(10_000);
    assert.equal(probe.calls.length, 1);
    assert.equal(transitions.length, 0, "no transition is emitted after close");
    assert.equal(time.pending(), 0);
  });
});
