import { strict as assert } from "node:assert";
import { adminLockout, type LockoutFigures } from "./admin-lockout";
import { CliNode } from "./support";

/** 1,000 slow clients against a real node's admin API on 127.0.10.70 (see admin-lockout.ts). */
describe("reliability: slow clients cannot lock out the admin API", function () {
  this.timeout(60_000);
  let node: CliNode;

  before(async () => {
    node = await CliNode.start({ address: "127.0.10.70" });
  });
  after(async () => {
    await node?.destroy();
  });

  function report(result: LockoutFigures): void {
    const f = result.figures;
    console.log(
      `      ${f.answeredWithin1s} of ${f.probes} answered within 1 s (p50 ${f.probeP50Ms} ms, max ${f.probeMaxMs} ms); ` +
        `flood opened ${f.floodConnectionsOpened}, ${f.floodClosedToMakeRoom} closed to make room, ${f.floodClosedWith408} with 408` +
        (f.slowConnectionEndedAfterMs === undefined ? "" : `; a slow connection got ${f.slowConnectionAnswer} after ${f.slowConnectionEndedAfterMs} ms`),
    );
  }

  it("1,000 from one address (which a prober shares): answers within 1 s, and a 408 at 15-16.5 s", async () => {
    const result = await adminLockout(node, "1,000 slow clients from one address", {
      connections: 1000,
      floodSources: ["127.0.10.71"],
      probeSources: ["127.0.10.71", "127.0.10.72"],
      timedSource: "127.0.10.73",
      durationMs: 15_000,
    });
    report(result);
    assert.deepEqual(result.violations.slice(0, 10), []);
  });

  it("1,000 from 40 addresses: answers within 1 s", async () => {
    const floodSources = Array.from({ length: 40 }, (_, i) => `127.0.13.${10 + i}`);
    const result = await adminLockout(node, "1,000 slow clients from 40 addresses", {
      connections: 1000,
      floodSources,
      probeSources: ["127.0.10.72", floodSources[0]],
      durationMs: 5_000,
    });
    report(result);
    assert.deepEqual(result.violations.slice(0, 10), []);
  });
});
