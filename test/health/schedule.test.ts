import { strict as assert } from "node:assert";
import fc from "fast-check";
import {
  DEFAULT_MIN_DELAY_MS,
  failureWindowMs,
  failureWindowSeconds,
  initialDelayMs,
  nextDelayMs,
  successWindowMs,
  successWindowSeconds,
} from "../../provider/health";

const fixed = (r: number) => (): number => r;
const ALMOST_ONE = 1 - Number.EPSILON;

describe("health schedule: nextDelayMs", () => {
  it("jitters the interval by +/-15% by default", () => {
    assert.equal(nextDelayMs(5000, fixed(0)), 4250);
    assert.equal(nextDelayMs(5000, fixed(0.5)), 5000);
    assert.equal(nextDelayMs(5000, fixed(ALMOST_ONE)), 5750);
  });

  it("property: every delay lies within the jitter band", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1000, max: 300_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.integer({ min: 0, max: 100 }),
        (interval, r, jitterPercent) => {
          const d = nextDelayMs(interval, fixed(r), { jitterPercent });
          const spread = (interval * jitterPercent) / 100;
          assert.ok(d >= Math.max(DEFAULT_MIN_DELAY_MS, Math.floor(interval - spread)), `${d} too short`);
          assert.ok(d <= Math.ceil(interval + spread), `${d} too long`);
        },
      ),
    );
  });

  it("actually spreads: different draws give different delays", () => {
    const delays = new Set([0, 0.25, 0.5, 0.75].map((r) => nextDelayMs(5000, fixed(r))));
    assert.equal(delays.size, 4);
  });

  it("with jitterPercent 0 returns the interval itself", () => {
    assert.equal(nextDelayMs(5000, fixed(0), { jitterPercent: 0 }), 5000);
    assert.equal(nextDelayMs(5000, fixed(ALMOST_ONE), { jitterPercent: 0 }), 5000);
  });

  it("never goes below the floor (100 ms by default), so a zero interval cannot busy-loop", () => {
    assert.equal(DEFAULT_MIN_DELAY_MS, 100);
    assert.equal(nextDelayMs(0, fixed(0)), 100);
    assert.equal(nextDelayMs(0, fixed(ALMOST_ONE)), 100);
    assert.equal(nextDelayMs(110, fixed(0)), 100); // 110 - 15% = 93.5
    assert.equal(nextDelayMs(0, fixed(0.5), { minDelayMs: 250 }), 250);
  });

  it("keeps a misbehaving random source inside the band", () => {
    for (const r of [-3, 7, Number.NaN, Number.POSITIVE_INFINITY]) {
      const d = nextDelayMs(1000, fixed(r));
      assert.ok(d >= 850 && d <= 1150, `random ${r} gave ${d}`);
    }
  });

  it("rejects intervals and options that make no sense", () => {
    assert.throws(() => nextDelayMs(-1, fixed(0.5)), /intervalMs/);
    assert.throws(() => nextDelayMs(Number.NaN, fixed(0.5)), /intervalMs/);
    assert.throws(() => nextDelayMs(1000, fixed(0.5), { jitterPercent: 101 }), /jitterPercent/);
    assert.throws(() => nextDelayMs(1000, fixed(0.5), { minDelayMs: -5 }), /minDelayMs/);
  });
});

describe("health schedule: initialDelayMs", () => {
  it("spreads the first probes of many members over min(interval, 1 s), one slot each", () => {
    const count = 10;
    for (const r of [0, 0.5, ALMOST_ONE]) {
      const delays = Array.from({ length: count }, (_, i) => initialDelayMs(i, count, 5000, fixed(r)));
      delays.forEach((d, i) => {
        assert.ok(d >= i * 100 && d <= (i + 1) * 100, `member ${i} at ${d} ms (random ${r})`);
      });
    }
    // With a fixed draw the members come in index order, a slot apart.
    assert.deepEqual(
      Array.from({ length: 4 }, (_, i) => initialDelayMs(i, 4, 60_000, fixed(0.5))),
      [125, 375, 625, 875],
    );
  });

  it("uses the interval itself as the window when it is shorter than 1 s", () => {
    assert.equal(initialDelayMs(0, 1, 200, fixed(ALMOST_ONE)), 199);
    assert.equal(initialDelayMs(1, 2, 200, fixed(0)), 100);
  });

  it("a single new member is probed within 1 s even with a 300 s interval", () => {
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (r) => {
        const d = initialDelayMs(0, 1, 300_000, fixed(r));
        assert.ok(d >= 0 && d <= 1000);
      }),
    );
  });

  it("property: all first probes fall inside the window, in index order for a fixed draw", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2000 }),
        fc.integer({ min: 0, max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (count, interval, r) => {
          const window = Math.min(interval, 1000);
          let previous = -1;
          for (const i of [0, Math.floor(count / 2), count - 1]) {
            const d = initialDelayMs(i, count, interval, fixed(r));
            assert.ok(d >= 0 && d <= window, `${d} outside [0, ${window}]`);
            assert.ok(d >= previous);
            previous = d;
          }
        },
      ),
    );
  });

  it("rejects an index outside [0, count)", () => {
    assert.throws(() => initialDelayMs(3, 3, 1000, fixed(0.5)), /index/);
    assert.throws(() => initialDelayMs(-1, 3, 1000, fixed(0.5)), /index/);
    assert.throws(() => initialDelayMs(0, 0, 1000, fixed(0.5)), /count/);
  });
});

describe("health schedule: failure and success windows (docs/DESIGN.md)", () => {
  it("defaults (timeout 3, interval 5, thresholds 3/3): 19 s to fail, 10 s to recover", () => {
    const hc = { timeoutSeconds: 3, intervalSeconds: 5, unhealthyThreshold: 3, healthyThreshold: 3 };
    assert.equal(failureWindowSeconds(hc), 3 * 3 + 5 * 2);
    assert.equal(successWindowSeconds(hc), 5 * 2);
  });

  it("the extremes of the documented ranges", () => {
    const fastest = { timeoutSeconds: 2, intervalSeconds: 5, unhealthyThreshold: 1, healthyThreshold: 1 };
    assert.equal(failureWindowSeconds(fastest), 2);
    assert.equal(successWindowSeconds(fastest), 0);
    const slowest = { timeoutSeconds: 60, intervalSeconds: 300, unhealthyThreshold: 5, healthyThreshold: 5 };
    assert.equal(failureWindowSeconds(slowest), 60 * 5 + 300 * 4);
    assert.equal(successWindowSeconds(slowest), 300 * 4);
  });

  it("the millisecond forms agree with the second forms", () => {
    const t = { timeoutMs: 2000, intervalMs: 200, unhealthyThreshold: 2, healthyThreshold: 4 };
    assert.equal(failureWindowMs(t), 2000 * 2 + 200);
    assert.equal(successWindowMs(t), 600);
    assert.equal(
      failureWindowMs({ timeoutMs: 3000, intervalMs: 5000, unhealthyThreshold: 3 }),
      1000 * failureWindowSeconds({ timeoutSeconds: 3, intervalSeconds: 5, unhealthyThreshold: 3, healthyThreshold: 1 }),
    );
  });
});
