import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { renderReference } from "../../provider/model";

// Compiled to dist/test/model: the repository root is three levels up.
const REFERENCE = join(__dirname, "..", "..", "..", "docs", "reference.md");

describe("model: docs/reference.md", () => {
  it("is what the schemas render (run `npm run docs` after changing them)", () => {
    const onDisk = readFileSync(REFERENCE, "utf8");
    if (onDisk !== renderReference()) assert.fail("docs/reference.md is stale: run npm run docs");
  });

  it("rendering is deterministic", () => {
    assert.equal(renderReference(), renderReference());
  });

  // The rendered page states the contract's numbers, written here as literals; a few rows pinned as users read them.
  const rows: [string, RegExp][] = [
    ["timeoutSeconds", /^\| `timeoutSeconds` \| integer \| 2-60 \| `3` \|/m],
    ["intervalSeconds", /^\| `intervalSeconds` \| integer \| 5-300 \| `5` \|/m],
    ["members[].weight", /^\| `members\[\]\.weight` \| integer \| 1-100 \| `10` \|/m],
    ["members", /^\| `members` \| list of object \| 1-1000 entries \|/m],
    ["idleTimeoutSeconds", /^\| `idleTimeoutSeconds` \| integer \| 1-86400 \| `900` \|/m],
    ["drainingTimeoutSeconds", /^\| `drainingTimeoutSeconds` \| integer \| 0-3600 \| `300` \|/m],
    ["protocol (replace)", /^\| `protocol` \| `"TCP"` \\\| `"UDP"` \|  \| `"TCP"` \|  \| replace \|/m],
    ["udpSessionTimeoutSeconds", /^\| `udpSessionTimeoutSeconds` \| integer \| 1-3600 \|  \|.*unset: 120\. \|$/m],
    ["udpRequest", /^\| `udpRequest` \| string \| 1-500 bytes \(UTF-8\) \|  \|/m],
  ];
  for (const [field, pattern] of rows) {
    it(`states ${field} as the contract does`, () => assert.match(renderReference(), pattern));
  }

  it("lists no weight or port for high-availability members", () => {
    const section = renderReference().split("## HighAvailabilityGroup")[1].split("\n## ")[0];
    assert.match(section, /`members\[\]\.address`/);
    assert.doesNotMatch(section, /`members\[\]\.(weight|port)`/);
  });
});
