import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { closeServer, freePort, listen } from "../support/net";
import { call, connects, FakeRuntime, readState, samples, startNode, type TestNode } from "./admin-fixture";
import { assertRefused } from "./admin-assert";

/** A server holding `host:port` so the node cannot bind it; it drops whoever connects. */
async function squatterOn(host: string, port: number): Promise<net.Server> {
  const server = net.createServer((socket) => socket.destroy());
  await listen(server, host, port);
  return server;
}

describe("admin API: failed writes change nothing", function () {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.node.close({ graceMs: 0 });
    t = undefined;
  });

  async function baseConfig(node: TestNode): Promise<void> {
    assert.equal((await call(node.url, "PUT", "/v1/server-groups/g", { body: samples.serverGroup() })).status, 201);
    assert.equal(
      (await call(node.url, "PUT", "/v1/backend-services/web", { body: samples.backendService("web", { serverGroup: "g" }) })).status,
      201,
    );
  }

  it("opens the listener's port on PUT and closes it on DELETE", async () => {
    t = await startNode({ label: "bind", dataPlane: { listenAddress: "127.0.5.3" } });
    await baseConfig(t);
    const port = await freePort("127.0.5.3");
    assert.equal(await connects("127.0.5.3", port), false);
    assert.equal((await call(t.url, "PUT", "/v1/listeners/l", { body: samples.listener("l", port) })).status, 201);
    assert.equal(await connects("127.0.5.3", port), true);
    assert.equal((await call(t.url, "DELETE", "/v1/listeners/l")).status, 204);
    assert.equal(await connects("127.0.5.3", port), false);
  });

  it("answers 409 port_in_use naming address:port when the listener cannot bind, and keeps the previous configuration", async () => {
    t = await startNode({ label: "bind", dataPlane: { listenAddress: "127.0.5.3" } });
    await baseConfig(t);
    const okPort = await freePort("127.0.5.3");
    assert.equal((await call(t.url, "PUT", "/v1/listeners/ok", { body: samples.listener("ok", okPort) })).status, 201);
    const squatter = await squatterOn("127.0.5.3", 0);
    const taken = (squatter.address() as net.AddressInfo).port;
    try {
      const node = t;
      const reply = await assertRefused(
        t.stateDir,
        () => call(node.url, "PUT", "/v1/listeners/taken", { body: samples.listener("taken", taken) }),
        409,
        "port_in_use",
      );
      assert.match(reply.json.error.message, new RegExp(`listener taken cannot listen on 127\\.0\\.5\\.3:${taken}`));
      assert.equal((await call(t.url, "GET", "/v1/listeners/taken")).status, 404);
      // Moving an existing listener onto the taken port is refused the same way, and it keeps its port.
      await assertRefused(
        t.stateDir,
        () => call(node.url, "PUT", "/v1/listeners/ok", { body: samples.listener("ok", taken) }),
        409,
        "port_in_use",
      );
      assert.equal((await call(t.url, "GET", "/v1/listeners/ok")).json.port, okPort);
      assert.equal(await connects("127.0.5.3", okPort), true);
    } finally {
      await closeServer(squatter);
    }
    // Once the port is free, the same write succeeds.
    assert.equal((await call(t.url, "PUT", "/v1/listeners/taken", { body: samples.listener("taken", taken) })).status, 201);
  });

  it("answers 500 persist_failed when the state file cannot be written, and keeps running the previous configuration", async () => {
    const runtime = new FakeRuntime();
    let failSave = false;
    t = await startNode({
      label: "persist",
      createRuntime: () => runtime,
      store: {
        save: async (dir, config) => {
          if (failSave) throw new Error("ENOSPC: no space left on device (simulated)");
          const { saveConfig } = await import("../../provider/forwarder/store/file");
          await saveConfig(dir, config);
        },
      },
    });
    await baseConfig(t);
    const before = runtime.applied.at(-1);
    failSave = true;
    const node = t;
    const reply = await assertRefused(
      t.stateDir,
      () => call(node.url, "PUT", "/v1/listeners/l", { body: samples.listener("l", 23023) }),
      500,
      "persist_failed",
    );
    assert.match(reply.json.error.message, /could not be saved to .*config\.json \(ENOSPC/);
    assert.equal(runtime.applied.at(-1), before, "the runtime went back to the stored configuration");
    assert.equal((await call(t.url, "GET", "/v1/listeners/l")).status, 404);
    await assertRefused(t.stateDir, () => call(node.url, "DELETE", "/v1/backend-services/web"), 500, "persist_failed");
    assert.equal((await call(t.url, "GET", "/v1/backend-services/web")).status, 200);
    failSave = false;
    assert.equal((await call(t.url, "PUT", "/v1/listeners/l", { body: samples.listener("l", 23023) })).status, 201);
  });

  it("answers 500 persist_failed on a real disk error (the state file's path is a directory)", async () => {
    t = await startNode({ label: "persist-real", dataPlane: { listenAddress: "127.0.5.3" } });
    await baseConfig(t);
    const file = path.join(t.stateDir, "config.json");
    await fs.rm(file);
    await fs.mkdir(file);
    const port = await freePort("127.0.5.3");
    const reply = await call(t.url, "PUT", "/v1/listeners/l", { body: samples.listener("l", port) });
    assert.equal(reply.status, 500, reply.text);
    assert.equal(reply.json.error.code, "persist_failed");
    assert.equal(await connects("127.0.5.3", port), false, "the listener was rolled back");
    assert.deepEqual(
      (await fs.readdir(t.stateDir)).filter((n) => n.startsWith("config.json.tmp")),
      [],
      "no temp file is left behind",
    );
  });

  it("answers 500 apply_failed when the runtime throws, and the store is unchanged", async () => {
    const runtime = new FakeRuntime();
    t = await startNode({ label: "apply", createRuntime: () => runtime });
    await baseConfig(t);
    runtime.failApply = true;
    const node = t;
    await assertRefused(
      t.stateDir,
      () => call(node.url, "PUT", "/v1/listeners/l", { body: samples.listener("l", 23025) }),
      500,
      "apply_failed",
    );
    runtime.failApply = false;
    assert.deepEqual((await call(t.url, "GET", "/v1/listeners")).json, { items: [] });
  });

  it("simulated bind failure: the failed listener is reported, others are unaffected", async () => {
    const runtime = new FakeRuntime();
    t = await startNode({ label: "apply", createRuntime: () => runtime, dataPlane: { listenAddress: "::1" } });
    await baseConfig(t);
    runtime.unbindable.add("l");
    const node = t;
    const reply = await assertRefused(
      t.stateDir,
      () => call(node.url, "PUT", "/v1/listeners/l", { body: samples.listener("l", 23026) }),
      409,
      "port_in_use",
    );
    assert.match(reply.json.error.message, /\[::1\]:23026: EADDRINUSE \(simulated\)/);
    assert.equal(runtime.applied.at(-1)?.listeners.size, 0);
  });

  it("close() is idempotent, refuses writes while closing and closes the runtime once", async () => {
    const runtime = new FakeRuntime();
    t = await startNode({ label: "close", createRuntime: () => runtime });
    const url = t.url;
    const first = t.node.close({ graceMs: 100 });
    const second = t.node.close();
    assert.equal(first, second);
    await first;
    await t.node.close();
    assert.equal(runtime.closed, 1);
    await assert.rejects(call(url, "GET", "/healthz", { token: null }));
    t = undefined;
  });

  it("while closing: /healthz answers 503 and writes are refused with 503 unavailable", async () => {
    let release: () => void = () => undefined;
    const runtime = new FakeRuntime();
    runtime.close = async () => {
      runtime.closed += 1;
      await new Promise<void>((resolve) => (release = resolve));
    };
    t = await startNode({ label: "closing", createRuntime: () => runtime });
    const node = t;
    const closing = t.node.close({ graceMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const health = await call(t.url, "GET", "/healthz", { token: null });
    assert.equal(health.status, 503);
    assert.deepEqual(health.json, { ok: false, reason: "shutting down" });
    await assertRefused(t.stateDir, () => call(node.url, "PUT", "/v1/health-checks/hc", { body: samples.healthCheck() }), 503, "unavailable");
    assert.equal((await call(t.url, "GET", "/v1/health-checks")).status, 200, "reads still work while draining");
    release();
    await closing;
    t = undefined;
  });

  it("starts even when a restored listener cannot bind: warns and shows it Failed", async () => {
    t = await startNode({ label: "restore-bind", dataPlane: { listenAddress: "127.0.5.3" } });
    await baseConfig(t);
    const port = await freePort("127.0.5.3");
    assert.equal((await call(t.url, "PUT", "/v1/listeners/l", { body: samples.listener("l", port) })).status, 201);
    const stateDir = t.stateDir;
    await t.node.close({ graceMs: 0 });
    t = undefined;
    const squatter = await squatterOn("127.0.5.3", port);
    try {
      t = await startNode({ stateDir, dataPlane: { listenAddress: "127.0.5.3" } });
      const warning = t.logs.lines.map((l) => JSON.parse(l)).find((l) => l.msg === "a restored listener cannot listen");
      assert.equal(warning?.listener, "l");
      const status = await call(t.url, "GET", "/v1/status");
      assert.equal(status.json.listeners[0].state, "Failed");
      assert.equal((await call(t.url, "GET", "/v1/listeners/l")).json.port, port);
    } finally {
      await closeServer(squatter);
    }
  });

  it("reloads the state file it wrote (store round trip through a restart)", async () => {
    t = await startNode({ label: "reload" });
    await baseConfig(t);
    const before = await readState(t.stateDir);
    const stateDir = t.stateDir;
    await t.node.close({ graceMs: 0 });
    t = await startNode({ stateDir });
    const group = await call(t.url, "GET", "/v1/server-groups/g");
    assert.equal(group.status, 200);
    assert.equal(group.json.revision, 1);
    assert.deepEqual(await readState(stateDir), before);
  });
});
