import { strict as assert } from "node:assert";
import { ApiError } from "../../provider/forwarder/errors";
import { readEntityTagsHeader } from "../../provider/forwarder/admin/http";

describe("admin API: If-Match and If-None-Match", () => {
  it("parses *, quoted, weak, bare and listed revisions, and refuses anything else", () => {
    assert.equal(readEntityTagsHeader("If-Match", undefined), undefined);
    assert.equal(readEntityTagsHeader("If-Match", " * "), "*");
    assert.deepEqual(readEntityTagsHeader("If-Match", '"3"'), [3]);
    assert.deepEqual(readEntityTagsHeader("If-Match", 'W/"3", 4 ,"5"'), [3, 4, 5]);
    for (const bad of ["", "abc", '"3', "3.5", '"-1"', "**"]) {
      assert.throws(() => readEntityTagsHeader("If-Match", bad), (e: unknown) => e instanceof ApiError && e.code === "invalid_input", bad);
    }
  });
});
