import { strict as assert } from "node:assert";
import {
  ANY_ENTITY,
  entityTag,
  errorBody,
  objectPath,
  parseEntityTags,
  presentObject,
  readErrorBody,
  readObject,
  readObjectList,
} from "../../provider/protocol";

/** What the node writes, the client must read back unchanged: both sides use these functions. */

describe("protocol: the admin API's wire format", () => {
  it("reads back every entity tag it writes, and * as any object", () => {
    for (const revision of [1, 7, 123456789012345]) assert.deepEqual(parseEntityTags(entityTag(revision)), [revision]);
    assert.equal(entityTag(3), '"3"');
    assert.equal(parseEntityTags(ANY_ENTITY), "*");
    assert.equal(parseEntityTags('"3'), undefined);
  });

  it("shows a stored object flat and reads it back as id, revision and spec", () => {
    const stored = { id: "web-1a2b3c4d", revision: 5, spec: { name: "web", port: 80 } };
    const shown = presentObject(stored);
    assert.deepEqual(shown, { id: "web-1a2b3c4d", revision: 5, name: "web", port: 80 });
    assert.deepEqual(readObject(JSON.parse(JSON.stringify(shown)), "web-1a2b3c4d"), stored);
    assert.deepEqual(readObjectList({ items: [shown] }), [stored]);
    assert.deepEqual(readObjectList([shown]), [stored]);
    assert.throws(() => readObject({ id: "x" }, "x"), /unexpected admin API answer for x/);
  });

  it("reads back the error body a node sends, and nothing from a body of another shape", () => {
    const body = errorBody("in_use", "backend service web is used by listener web-80", [{ path: "", message: "used" }]);
    assert.deepEqual(readErrorBody(JSON.parse(JSON.stringify(body))), body.error);
    assert.equal(readErrorBody("<html>bad gateway</html>"), undefined);
    assert.equal(readErrorBody(undefined), undefined);
  });

  it("keeps ids path-safe in object paths", () => {
    assert.equal(objectPath("listeners", "web-80"), "/v1/listeners/web-80");
    assert.equal(objectPath("health-checks", "a/b"), "/v1/health-checks/a%2Fb");
  });
});
