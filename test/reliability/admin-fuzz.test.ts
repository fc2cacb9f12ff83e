import { strict as assert } from "node:assert";
import { runAdminFuzz, seedConfiguration } from "./fuzz";
import { CliNode, rawRequest, RELIABILITY_TOKEN } from "./support";

/**
 * Admin API fuzzing against a real node (127.0.10.1): a few hundred generated requests here;
 * `npm run reliability` sends thousands. See fuzz.ts for the invariants.
 */
describe("reliability: admin API fuzzing", function () {
  this.timeout(90_000);
  let node: CliNode;

  before(async () => {
    node = await CliNode.start({ address: "127.0.10.1" });
    await seedConfiguration(node, 26000);
  });
  after(async () => node?.destroy());

  it("survives generated requests without a 5xx, and a rejected request changes nothing", async () => {
    const figures = await runAdminFuzz(node, { requests: 300, seed: 20261122, portBase: 26000 });
    assert.deepEqual(figures.violations, []);
    assert.equal(figures.requests, 300);
    // The generator must reach the interesting paths, or the test proves little.
    assert.ok(figures.accepted >= 3, `accepted writes: ${figures.accepted}`);
    assert.ok(figures.statuses["400"] >= 30, `400s: ${figures.statuses["400"]}`);
    assert.ok(figures.statuses["401"] >= 20, `401s: ${figures.statuses["401"]}`);
    assert.ok(figures.hugeBodies >= 3 && figures.truncatedBodies >= 3, JSON.stringify(figures));
    assert.ok(node.running);
  });

  // BUG: a body nested 5,000 arrays deep (10 KB) is a 500 "internal", not a 400: describeValue
  // (provider/model/fields.ts:21) catches JSON.stringify's RangeError (stack overflow) and falls
  // back to String(value), which overflows the same way (Array.prototype.join recursion), so
  // parseSpec throws. Found by the fuzz run (3,000 requests: 3 such 500s). Fix: in that catch,
  // return a fixed text such as "a value too deeply nested to show" instead of String(value).
  it("a deeply nested body is refused with 400, not 500", async () => {
    const url = new URL(node.base);
    for (const depth of [5_000, 50_000]) {
      const body = "[".repeat(depth) + "]".repeat(depth);
      const request = `PUT /v1/health-checks/deep HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${RELIABILITY_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const answer = await rawRequest(url.hostname, Number(url.port), Buffer.from(request));
      assert.equal(answer.status, 400, answer.body);
    }
  });

  // BUG: an early answer (401, 404, 405) to a request still uploading a body over 1 MiB with
  // `Connection: close` is often lost on a busy machine: 3-5 of 10 such clients got EPIPE or
  // ECONNRESET instead of the answer at load average ~4, none when the machine was quiet (a race,
  // so this test fails only sometimes before the fix; the 413 path was fine in every run). Node's server destroys the socket once the response is written
  // (destroySoon) while the client is still sending, and the kernel resets the connection.
  // Fix: when the body is not complete, drain it (bounded, as discardRest does) before ending the
  // response, for every early answer (RFC 9112 section 9.6, lingering close).
  it("an early answer to a large upload reaches the client", async () => {
    const url = new URL(node.base);
    const huge = Buffer.alloc(2 * 1024 * 1024, "a");
    for (const [target, auth, status] of [["/nothing", true, 404], ["/metrics", true, 405], ["/v1/listeners/x", false, 401]] as const) {
      for (let i = 0; i < 10; i++) {
        const head = `PUT ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${auth ? `Authorization: Bearer ${RELIABILITY_TOKEN}\r\n` : ""}Content-Length: ${huge.length}\r\n\r\n`;
        const answer = await rawRequest(url.hostname, Number(url.port), Buffer.concat([Buffer.from(head), huge]));
        assert.equal(answer.status, status, `${target} attempt ${i}: ${answer.error ?? ""}`);
      }
    }
  });

  // BUG: a request that Node's HTTP parser refuses (a control character in a header, headers over
  // 16 KiB, a malformed request line or chunk size) gets Node's default answer, "400 Bad Request"
  // or "431" with an empty body, not the JSON error shape docs/admin-api.md promises for every
  // error. admin-server.ts installs no 'clientError' handler. Fix: server.on("clientError", ...)
  // writing the JSON error (400 invalid_input / 431) with Connection: close, then socket.end().
  it("answers requests the HTTP parser refuses with the JSON error shape", async () => {
    const url = new URL(node.base);
    const requests: [string, number][] = [
      ["GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n", 400],
      [`GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`, 431],
      ["GARBAGE\r\n\r\n", 400],
      ["PUT /v1/health-checks/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ];
    for (const [request, status] of requests) {
      const answer = await rawRequest(url.hostname, Number(url.port), Buffer.from(request, "latin1"));
      assert.equal(answer.status, status);
      const body = JSON.parse(answer.body) as { error: { code: string; message: string; details: unknown[] } };
      assert.equal(typeof body.error.code, "string");
      assert.ok(Array.isArray(body.error.details));
    }
  });
});
