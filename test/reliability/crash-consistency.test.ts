import { strict as assert } from "node:assert";
import { runCrashConsistency } from "./crash";
import { CliNode } from "./support";

/**
 * kill -9 a real node (127.0.10.2) at random moments during configuration writes. 200 writes
 * here; `npm run reliability` makes 1,000. See crash.ts for what is checked after every kill.
 */
describe("reliability: crash consistency under kill -9", function () {
  this.timeout(90_000);
  let node: CliNode;

  before(async () => {
    // The data plane in the node's own process: restarts are quicker, and the store does not
    // depend on workers (`npm run reliability` runs the default).
    node = await CliNode.start({ address: "127.0.10.2", extraArgs: ["--workers", "0"] });
  });
  after(async () => node?.destroy());

  it("after every kill the state file holds an acknowledged revision or the in-flight one, never a half write", async () => {
    const figures = await runCrashConsistency(node, { writes: 200, seed: 7, maxKillDelayMs: 200, minKills: 8 });
    console.log(`      ${figures.kills} kills, ${figures.acknowledged} acknowledged writes, ${figures.tempFilesAfterKill} kills inside a write, ${(figures.durationMs / 1000).toFixed(1)} s`);
    assert.deepEqual(figures.violations, []);
    assert.ok(figures.writes >= 200);
    // Acknowledged writes are what the file is checked against. How many fit between two kills is
    // a matter of the machine's load, so the floor is per kill, not a total.
    assert.ok(figures.acknowledged >= 2 * figures.kills, `only ${figures.acknowledged} acknowledged writes over ${figures.kills} kills`);
  });
});
