import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { Readable } from "node:stream";
import { ERROR_STATUS } from "../../provider/protocol";
import { freePort } from "../support/net";
import { call, readState, SEED, samples, startNode, TOKEN, type TestNode } from "./admin-fixture";
import { assertError, assertRefused } from "./admin-assert";

describe("docs/admin-api.md", () => {
  it("lists every error code with its status", async () => {
    const doc = await fs.readFile(path.resolve(__dirname, "../../../docs/admin-api.md"), "utf8");
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      assert.ok(doc.includes(`| \`${code}\` | ${status} |`), `docs/admin-api.md has no row for ${code} (${status})`);
    }
  });
});

describe("admin API: routes, bodies and statuses", function () {
  let t: TestNode;
  const put = (kind: string, id: string, body: unknown, headers?: Record<string, string>) =>
    call(t.url, "PUT", `/v1/${kind}/${id}`, { body, headers });

  beforeEach(async () => {
    t = await startNode({ label: "routes" });
  });
  afterEach(async () => {
    await t.node.close({ graceMs: 0 });
  });

  it("serves /healthz and /metrics without a token", async () => {
    const health = await call(t.url, "GET", "/healthz", { token: null });
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { ok: true });
    await call(t.url, "GET", "/v1/listeners");
    const metrics = await call(t.url, "GET", "/metrics", { token: null });
    assert.equal(metrics.status, 200);
    assert.match(String(metrics.headers["content-type"]), /^text\/plain/);
    assert.match(metrics.text, /dnlb_admin_requests_total\{route="\/v1\/listeners",method="GET",status="200"\} 1/);
    assert.match(metrics.text, /dnlb_admin_request_duration_seconds_bucket/);
    assert.match(metrics.text, /dnlb_config_objects\{kind="listeners"\} 0/);

    await put("health-checks", "hc", samples.healthCheck());
    await put("health-checks", "hc", samples.healthCheck());
    await put("health-checks", "hc", { name: "hc", timeoutSeconds: 1 });
    await call(t.url, "GET", "/v1/health-checks/hc", { token: "wrong-token-0123456789" });
    const after = (await call(t.url, "GET", "/metrics", { token: null })).text;
    assert.match(after, /dnlb_config_writes_total\{kind="health-checks",action="put",result="changed"\} 1/);
    assert.match(after, /dnlb_config_writes_total\{kind="health-checks",action="put",result="unchanged"\} 1/);
    assert.match(after, /dnlb_config_objects\{kind="health-checks"\} 1/);
    assert.match(after, /dnlb_admin_requests_total\{route="\/v1\/health-checks\/\{id\}",method="PUT",status="400"\} 1/);
    assert.match(after, /dnlb_admin_requests_total\{route="\/v1\/health-checks\/\{id\}",method="GET",status="401"\} 1/);
  });

  it("answers HEAD like GET, without a body", async () => {
    await put("health-checks", "hc", samples.healthCheck());
    const head = await call(t.url, "HEAD", "/v1/health-checks/hc");
    assert.equal(head.status, 200);
    assert.equal(head.headers.etag, '"1"');
    assert.equal(head.text, "");
    assert.equal((await call(t.url, "HEAD", "/v1/health-checks/none")).status, 404);
  });

  it("creates (201), reads, replaces (200, next revision) and lists objects as { id, revision, ...spec }", async () => {
    const created = await put("health-checks", "hc-1", samples.healthCheck());
    assert.equal(created.status, 201);
    assert.equal(created.headers.location, "/v1/health-checks/hc-1");
    assert.equal(created.headers.etag, '"1"');
    // Defaults are filled by the model's schema, exactly as `check` fills them.
    assert.deepEqual(created.json, {
      id: "hc-1",
      revision: 1,
      name: "hc",
      protocol: "TCP",
      timeoutSeconds: 2,
      intervalSeconds: 5,
      unhealthyThreshold: 3,
      healthyThreshold: 3,
    });

    const read = await call(t.url, "GET", "/v1/health-checks/hc-1");
    assert.equal(read.status, 200);
    assert.equal(read.headers.etag, '"1"');
    assert.deepEqual(read.json, created.json);

    const replaced = await put("health-checks", "hc-1", { ...samples.healthCheck(), timeoutSeconds: 4 });
    assert.equal(replaced.status, 200);
    assert.equal(replaced.headers.location, undefined);
    assert.equal(replaced.json.revision, 2);
    assert.equal(replaced.json.timeoutSeconds, 4);

    await put("health-checks", "a-first", samples.healthCheck("a"));
    const list = await call(t.url, "GET", "/v1/health-checks");
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.json.items.map((o: { id: string; revision: number }) => [o.id, o.revision]),
      [
        ["a-first", 3],
        ["hc-1", 2],
      ],
    );
    assert.deepEqual((await call(t.url, "GET", "/v1/listeners")).json, { items: [] });
  });

  it("never gives a revision twice: an object deleted and created again cannot match an old If-Match", async () => {
    assert.equal((await put("health-checks", "hc", samples.healthCheck())).json.revision, 1);
    assert.equal((await call(t.url, "DELETE", "/v1/health-checks/hc")).status, 204);
    const again = await put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 9 });
    assert.equal(again.status, 201);
    assert.equal(again.json.revision, 2, "revisions are the node's write sequence, kept across deletes");
    const stale = await put("health-checks", "hc", { ...samples.healthCheck(), timeoutSeconds: 4 }, { "if-match": '"1"' });
    assert.equal(stale.status, 412, "an If-Match naming the deleted object's revision is stale");
  });

  it("answers a PUT of the stored spec with 200 and the same revision, without writing the state file", async () => {
    await put("server-groups", "g", samples.serverGroup());
    const stat = await fs.stat(path.join(t.stateDir, "config.json"));
    const before = await readState(t.stateDir);
    // Same spec, written differently: defaults given explicitly, keys in another order.
    const again = await put("server-groups", "g", {
      members: [{ enabled: true, weight: 10, port: 23901, address: "127.0.5.9" }],
      name: "g",
      type: "virtual",
    });
    assert.equal(again.status, 200);
    assert.equal(again.json.revision, 1);
    assert.deepEqual(await readState(t.stateDir), before);
    assert.equal((await fs.stat(path.join(t.stateDir, "config.json"))).mtimeMs, stat.mtimeMs);
  });

  it("stores both server group types, and refuses weight/port on a high-availability member", async () => {
    const ha = await put("server-groups", "ha", samples.haGroup());
    assert.equal(ha.status, 201);
    assert.deepEqual(ha.json.members, [{ address: "127.0.5.9", enabled: true }]);
    const refused = await assertRefused(
      t.stateDir,
      () => put("server-groups", "ha", { ...samples.haGroup(), members: [{ address: "127.0.5.9", weight: 5 }] }),
      400,
      "invalid_input",
    );
    assert.deepEqual(
      refused.json.error.details.map((d: { path: string }) => d.path),
      ["members[0].weight"],
    );
    await assertRefused(t.stateDir, () => put("server-groups", "x", { name: "x", members: [] }), 400, "invalid_input");
  });

  it("deletes with 204, then answers 404 to GET and DELETE", async () => {
    await put("health-checks", "hc", samples.healthCheck());
    const deleted = await call(t.url, "DELETE", "/v1/health-checks/hc");
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, "");
    await assertRefused(t.stateDir, () => call(t.url, "GET", "/v1/health-checks/hc"), 404, "not_found");
    await assertRefused(t.stateDir, () => call(t.url, "DELETE", "/v1/health-checks/hc"), 404, "not_found");
    assert.equal(JSON.parse((await readState(t.stateDir)).toString()).objects["health-checks"].hc, undefined);
  });

  it("refuses invalid specs with 400 and one detail per field (path = property, message = reason)", async () => {
    const reply = await assertRefused(
      t.stateDir,
      () => put("health-checks", "hc", { name: "hc", timeoutSeconds: 61, intervalSekonds: 5 }),
      400,
      "invalid_input",
    );
    const details = reply.json.error.details as { path: string; message: string }[];
    assert.deepEqual(details.map((d) => d.path).sort(), ["intervalSekonds", "timeoutSeconds"]);
    const timeout = details.find((d) => d.path === "timeoutSeconds");
    assert.equal(timeout?.message, "timeoutSeconds must be an integer from 2 to 60 (got 61)");
    assert.match(reply.json.error.message, /timeoutSeconds must be an integer from 2 to 60 \(got 61\)/);

    const listener = await assertRefused(t.stateDir, () => put("listeners", "l", { name: "l", port: 0 }), 400, "invalid_input");
    assert.deepEqual(
      listener.json.error.details.map((d: { path: string }) => d.path).sort(),
      ["backendService", "port"],
    );
    await assertRefused(t.stateDir, () => put("listeners", "l", [1, 2]), 400, "invalid_input");
    await assertRefused(t.stateDir, () => put("listeners", "l", null), 400, "invalid_input");
  });

  it("refuses malformed JSON, an empty body and a non-JSON content type", async () => {
    await put("health-checks", "hc", samples.healthCheck());
    const send = (raw: string, type = "application/json") =>
      call(t.url, "PUT", "/v1/health-checks/hc", { raw, headers: { "content-type": type } });
    await assertRefused(t.stateDir, () => send('{"name": "hc",'), 400, "invalid_json");
    await assertRefused(t.stateDir, () => send(""), 400, "invalid_json");
    await assertRefused(t.stateDir, () => send('{"name":"hc"}', "text/plain"), 415, "unsupported_media_type");
    await assertRefused(t.stateDir, () => send('{"name":"hc"}', "application/json; charset=latin1"), 415, "unsupported_media_type");
    // No Content-Type at all is accepted (curl --data-binary without -H), and +json types are JSON.
    const untyped = await call(t.url, "PUT", "/v1/health-checks/hc2", { raw: JSON.stringify(samples.healthCheck()) });
    assert.equal(untyped.status, 201);
    const typed = await send(JSON.stringify(samples.healthCheck()), "application/merge-patch+json; charset=utf-8");
    assert.equal(typed.status, 200);
  });

  it("refuses a 2 MiB body with 413, declared or chunked, and stays up", async () => {
    const big = JSON.stringify({ name: "hc", description: "x".repeat(2 * 1024 * 1024) });
    await assertRefused(t.stateDir, () => put("health-checks", "hc", JSON.parse(big)), 413, "body_too_large");
    // Chunked: no Content-Length, so the node must count while reading.
    const chunked = async function* () {
      for (let i = 0; i < 32; i++) yield Buffer.alloc(64 * 1024, 0x20);
    };
    const reply = await assertRefused(
      t.stateDir,
      async () => {
        const { request } = await import("undici");
        const res = await request(`${t.url}/v1/health-checks/hc`, {
          method: "PUT",
          headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
          body: Readable.from(chunked()),
        });
        const text = await res.body.text();
        return { status: res.statusCode, headers: res.headers, text, json: JSON.parse(text) };
      },
      413,
      "body_too_large",
    );
    assert.match(reply.json.error.message, /1 MiB/);
    const health = await call(t.url, "GET", "/healthz");
    assert.equal(health.status, 200);
    // A body just under the limit is read (and refused for its content, not its size).
    const under = JSON.stringify({ name: "hc", description: "y".repeat(1024 * 1024 - 100) });
    await assertRefused(t.stateDir, () => call(t.url, "PUT", "/v1/health-checks/hc", { raw: under }), 400, "invalid_input");
  });

  it("lists a kind whether its path ends with a slash or not", async () => {
    await put("health-checks", "hc", samples.healthCheck());
    const plain = await call(t.url, "GET", "/v1/health-checks");
    const slashed = await call(t.url, "GET", "/v1/health-checks/");
    assert.equal(slashed.status, 200, slashed.text);
    assert.deepEqual(slashed.json, plain.json);
    assert.deepEqual(
      slashed.json.items.map((o: { id: string }) => o.id),
      ["hc"],
    );
    assert.equal((await call(t.url, "GET", "/v1/status/")).status, 200);
  });

  it("answers 404 for unknown paths and kinds, 400 for a malformed id, 405 with Allow for a wrong method", async () => {
    assertError(await call(t.url, "GET", "/nothing", { token: null }), 404, "not_found");
    assertError(await call(t.url, "GET", "/v1/widgets"), 404, "not_found");
    assertError(await call(t.url, "GET", "/v1/listeners/a/b"), 404, "not_found");
    const badId = await assertRefused(t.stateDir, () => put("listeners", "-bad", samples.listener("l", 23001)), 400, "invalid_input");
    assert.equal(badId.json.error.details[0].path, "id");
    assertError(await call(t.url, "GET", `/v1/listeners/${"a".repeat(101)}`), 400, "invalid_input");
    const post = await assertRefused(t.stateDir, () => call(t.url, "POST", "/v1/listeners/l", { body: {} }), 405, "method_not_allowed");
    assert.equal(post.headers.allow, "GET, HEAD, PUT, DELETE");
    const putList = await call(t.url, "PUT", "/v1/listeners", { body: {} });
    assertError(putList, 405, "method_not_allowed");
    assert.equal(putList.headers.allow, "GET, HEAD");
    assertError(await call(t.url, "DELETE", "/healthz", { token: null }), 405, "method_not_allowed");
    assertError(await call(t.url, "POST", "/v1/status"), 405, "method_not_allowed");
  });

  it("serves the runtime's status under /v1/status", async () => {
    await put("server-groups", "g", samples.serverGroup());
    await put("backend-services", "web", samples.backendService("web", { serverGroup: "g" }));
    await put("listeners", "web-l", samples.listener("web-l", await freePort("127.0.5.2")));
    const status = await call(t.url, "GET", "/v1/status");
    assert.equal(status.status, 200);
    assert.match(String(status.headers["content-type"]), /^application\/json/);
    assert.equal(status.json.node.listenAddress, "127.0.5.2");
    assert.deepEqual(
      status.json.listeners.map((l: { id: string; state: string }) => [l.id, l.state]),
      [["web-l", "Listening"]],
    );
    assert.deepEqual(
      status.json.backendServices.map((s: { id: string; members: { address: string }[] }) => [s.id, s.members.map((m) => m.address)]),
      [["web", ["127.0.5.9"]]],
    );
  });

  it("needs the bearer token for every /v1 route (401 in the error shape), compared whole", async () => {
    await put("health-checks", "hc", samples.healthCheck());
    const routes: [string, string][] = [
      ["GET", "/v1/status"],
      ["GET", "/v1/listeners"],
      ["GET", "/v1/health-checks/hc"],
      ["PUT", "/v1/health-checks/hc"],
      ["DELETE", "/v1/health-checks/hc"],
      ["GET", "/v1/no-such-kind"],
      ["GET", "/v1"],
    ];
    const wrongTokens: (string | null)[] = [
      null,
      "",
      TOKEN.slice(0, -1),
      `${TOKEN}x`,
      TOKEN.slice(0, -1) + (TOKEN.endsWith("9") ? "8" : "9"),
      TOKEN.toUpperCase(),
    ];
    for (const [method, route] of routes) {
      for (const token of wrongTokens) {
        const reply = await assertRefused(
          t.stateDir,
          () => call(t.url, method, route, { token, body: method === "PUT" ? samples.healthCheck("other") : undefined }),
          401,
          "unauthorized",
        );
        assert.equal(reply.headers["www-authenticate"], 'Bearer realm="dnlb"');
      }
    }
    const basic = await call(t.url, "GET", "/v1/listeners", { token: null, headers: { authorization: `Basic ${TOKEN}` } });
    assertError(basic, 401, "unauthorized");
    assert.equal(
      basic.json.error.message,
      "the Authorization header uses the Basic scheme: this node expects Authorization: Bearer <token>",
    );
    const bare = await call(t.url, "GET", "/v1/listeners", { token: null, headers: { authorization: TOKEN } });
    assertError(bare, 401, "unauthorized");
    assert.equal(bare.json.error.message, "the Authorization header uses no scheme: this node expects Authorization: Bearer <token>");
    const wrong = await call(t.url, "GET", "/v1/listeners", { token: `${TOKEN}x` });
    assert.equal(wrong.json.error.message, "the bearer token is not valid for this node");
    const lower = await call(t.url, "GET", "/v1/listeners", { token: null, headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(lower.status, 200);
    assert.equal((await call(t.url, "GET", "/v1/health-checks/hc")).json.revision, 1);
  });

  it("never logs the token or the seed", async () => {
    await put("health-checks", "hc", samples.healthCheck());
    await call(t.url, "GET", "/v1/listeners", { token: "wrong-token-0123456789" });
    await call(t.url, "DELETE", "/v1/health-checks/hc");
    const log = t.logs.lines.join("");
    assert.ok(log.includes("configuration changed"), "the write was logged");
    assert.ok(!log.includes(TOKEN));
    assert.ok(!log.includes(SEED));
  });
});
