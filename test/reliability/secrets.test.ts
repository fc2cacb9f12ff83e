import { strict as assert } from "node:assert";
import { nodeSecrets, pulumiStateSecrets } from "./secrets";

/** The admin token and hash seed never leak (see secrets.ts). */
describe("reliability: secrets", function () {
  this.timeout(60_000);

  it("never appear in a node's logs, /metrics, answers or start-up errors", async () => {
    const result = await nodeSecrets();
    assert.deepEqual(result.violations, []);
  });

  it("are only ever marked secret in what the providers give the Pulumi engine", async () => {
    const result = await pulumiStateSecrets();
    assert.deepEqual(result.violations, []);
  });
});
