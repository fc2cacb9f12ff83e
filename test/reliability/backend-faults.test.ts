import { strict as assert } from "node:assert";
import { blackholed, FaultBench, flapping, iptablesWorks, refusing, resetting, silent } from "./backend-faults";

/** Backend faults against a runtime with health-check times scaled by 0.05 (see backend-faults.ts). */
describe("reliability: backend faults", function () {
  this.timeout(30_000);
  let bench: FaultBench;

  before(async () => {
    bench = await FaultBench.start();
  });
  after(async () => bench?.close());

  it("a member flapping faster than the thresholds keeps its health, either way", async () => {
    const result = await flapping(bench, 9);
    assert.deepEqual(result.violations, []);
  });

  it("a member that accepts but never answers stays Healthy (a TCP check), and its clients are closed at idleTimeoutSeconds", async () => {
    const result = await silent(bench, 30);
    assert.deepEqual(result.violations, []);
  });

  it("a member that resets every connection: clients are served or reset (never hang), it turns Unhealthy (L4CON), then none fails", async () => {
    const result = await resetting(bench, 30);
    assert.deepEqual(result.violations, []);
  });

  it("a member that refuses: clients go to the next member until it is Unhealthy", async () => {
    const result = await refusing(bench, 30);
    assert.deepEqual(result.violations, []);
  });

  it("a member behind a SYN blackhole: L4TOUT, Unhealthy within the failure window, clients wait the connect timeout then go on", async function () {
    if (!iptablesWorks()) this.skip(); // needs root and netfilter; the report says when it was skipped
    const result = await blackholed(bench, 30);
    assert.deepEqual(result.violations, []);
  });
});
