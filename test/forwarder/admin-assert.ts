import { strict as assert } from "node:assert";
import { readState, type Reply } from "./admin-fixture";

/** The one error shape, asserted field by field: `{ error: { code, message, details: [{ path, message }] } }`. */
export function assertError(reply: Reply, status: number, code: string): void {
  assert.equal(reply.status, status, `expected ${status} ${code}, got ${reply.status}: ${reply.text}`);
  assert.match(String(reply.headers["content-type"]), /^application\/json/);
  assert.deepEqual(Object.keys(reply.json ?? {}), ["error"], reply.text);
  const error = reply.json.error;
  assert.deepEqual(Object.keys(error).sort(), ["code", "details", "message"]);
  assert.equal(error.code, code, reply.text);
  assert.equal(typeof error.message, "string");
  assert.ok(error.message.length > 0);
  assert.ok(Array.isArray(error.details));
  for (const detail of error.details) {
    assert.deepEqual(Object.keys(detail).sort(), ["message", "path"]);
    assert.equal(typeof detail.path, "string");
    assert.equal(typeof detail.message, "string");
  }
}

/**
 * Sends a request that must be refused, and checks the refusal left the state file byte-identical
 * (or still absent).
 */
export async function assertRefused(
  stateDir: string,
  send: () => Promise<Reply>,
  status: number,
  code: string,
): Promise<Reply> {
  const before = await readState(stateDir).catch(() => undefined);
  const reply = await send();
  assertError(reply, status, code);
  const after = await readState(stateDir).catch(() => undefined);
  assert.deepEqual(after, before, "a refused request changed the state file");
  return reply;
}
