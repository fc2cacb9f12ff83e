import { strict as assert } from "node:assert";
import { PartialBench, type Fault, type Operation } from "./partial";

/**
 * One of three nodes answering 500 or down during create, update and delete, through Pulumi's
 * dynamic-provider host (see partial.ts).
 */
describe("reliability: partial failure under pulumi up", function () {
  this.timeout(60_000);
  let bench: PartialBench;

  before(async () => {
    bench = await PartialBench.start();
  });
  after(async () => bench?.close());

  const cases: [Operation, Fault][] = [
    ["create", "500"],
    ["create", "down"],
    ["update", "500"],
    ["update", "down"],
    ["delete", "500"],
    ["delete", "down"],
  ];
  for (const [operation, fault] of cases) {
    it(`${operation} with one node ${fault === "500" ? "answering 500" : "down"}: fails naming the node, the next run converges, no orphans`, async () => {
      const result = await bench.run(operation, fault);
      assert.deepEqual(result.violations, []);
    });
  }

  for (const fault of ["500", "down"] as Fault[]) {
    it(`a whole stack with one node refusing listeners (${fault}): stops at the listener, the next run completes and carries traffic, destroy leaves nothing`, async () => {
      const result = await bench.stack(fault);
      assert.deepEqual(result.violations, []);
    });
  }
});
