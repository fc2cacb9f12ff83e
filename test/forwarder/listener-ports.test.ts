/**
 * A listener's port is the node's alone: a port another process holds, even with SO_REUSEPORT,
 * is refused (409 port_in_use), and no other process can join a port the node listens on, in
 * either engine, with the data plane in the main process or in workers. The workers still share
 * each port among themselves (the primary binds it once and hands them the socket).
 *
 * Addresses: forwarder 127.0.19.1, backend 127.0.19.2, clients 127.19.x.y.
 */
import { strict as assert } from "node:assert";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import type { DataPlaneEngine } from "../../provider/forwarder/options";
import { WorkerPool } from "../../provider/forwarder/workers/pool";
import { memberKey } from "../../provider/hashing";
import { freePort } from "../support/net";
import { OtherProcess } from "../support/other-process";
import { waitFor } from "../support/wait";
import { call, startNode, type TestNode } from "./admin-fixture";
import { closeAll, TestBackend } from "./helpers/backends";
import { identify, runConcurrently, sourceAddress, tally } from "./helpers/clients";
import { TEST_HASH_SEED } from "./helpers/runtime";
import { servedPerWorker } from "./helpers/worker-shares";

const FORWARDER = "127.0.19.1";
const ENGINES: DataPlaneEngine[] = nativeRelayUnavailable() === undefined ? ["native", "streams"] : ["streams"];

/**
 * Another program on the same host: listens on `port` with SO_REUSEPORT when it can, answering
 * every client "intruder". It prints "bound", or the error's code when it cannot listen.
 */
const REUSE_PORT_PROGRAM = `
const net = require("node:net");
const server = net.createServer((socket) => socket.end("intruder\\n"));
server.on("error", (error) => { process.stdout.write(error.code + "\\n"); process.exit(0); });
server.listen({ host: process.argv[1], port: Number(process.argv[2]), reusePort: true }, () => process.stdout.write("bound\\n"));
`;

for (const engine of ENGINES) {
  for (const workers of [0, 2]) {
    describe(`a listener's port is the node's alone (engine ${engine}, ${workers} workers)`, function () {
      this.timeout(60_000);
      let backend: TestBackend;
      let t: TestNode | undefined;
      let other: OtherProcess | undefined;

      before(async () => {
        backend = await TestBackend.start({ host: "127.0.19.2", name: "member" });
      });

      afterEach(async () => {
        await other?.stop();
        other = undefined;
        await t?.node.close({ graceMs: 0 });
        t = undefined;
      });

      after(async () => {
        await closeAll([backend]);
      });

      async function nodeWithService(): Promise<TestNode> {
        const node = await startNode({ label: "ports", dataPlane: { listenAddress: FORWARDER, engine, workers } });
        const group = { type: "virtual", name: "g", members: [{ address: backend.host, port: backend.port }] };
        assert.equal((await call(node.url, "PUT", "/v1/server-groups/g", { body: group })).status, 201);
        const service = { name: "web", port: backend.port, serverGroup: "g" };
        assert.equal((await call(node.url, "PUT", "/v1/backend-services/web", { body: service })).status, 201);
        return node;
      }

      it("answers 409 port_in_use for a port another process holds with SO_REUSEPORT", async () => {
        const port = await freePort(FORWARDER);
        other = await OtherProcess.start(REUSE_PORT_PROGRAM, FORWARDER, port);
        assert.equal(other.outcome, "bound");
        t = await nodeWithService();
        const reply = await call(t.url, "PUT", "/v1/listeners/l", { body: { name: "l", port, backendService: "web" } });
        console.log(`      listener PUT on a port held with SO_REUSEPORT: ${reply.status} ${String(reply.json?.error?.code)}`);
        assert.equal(reply.status, 409);
        assert.equal(reply.json.error.code, "port_in_use");
        assert.match(reply.json.error.message, new RegExp(`127\\.0\\.19\\.1:${port}: port ${port} on 127\\.0\\.19\\.1 is in use`));
      });

      it("lets no other process join its port with SO_REUSEPORT: every one of 20 clients reaches the node's member", async () => {
        t = await nodeWithService();
        const port = await freePort(FORWARDER);
        assert.equal((await call(t.url, "PUT", "/v1/listeners/l", { body: { name: "l", port, backendService: "web" } })).status, 201);
        other = await OtherProcess.start(REUSE_PORT_PROGRAM, FORWARDER, port);
        const names = await runConcurrently(20, 5, (i) => identify({ host: FORWARDER, port, localAddress: sourceAddress(i, 19) }));
        console.log(`      another process binding the node's port with SO_REUSEPORT: ${other.outcome}; clients: ${JSON.stringify(Object.fromEntries(tally(names)))}`);
        assert.equal(other.outcome, "EADDRINUSE");
        assert.deepEqual(tally(names), new Map([["member", 20]]));
      });
    });
  }

  describe(`2 workers share the primary's socket (engine ${engine})`, function () {
    this.timeout(60_000);

    it("spreads clients over both workers", async () => {
      const backend = await TestBackend.start({ host: "127.0.19.3", name: "member" });
      const pool = new WorkerPool({ workers: 2, listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine, statsIntervalMs: 100 });
      try {
        const port = await freePort(FORWARDER);
        const member = { key: memberKey({ address: backend.host, port: backend.port }), address: backend.host, port: backend.port, weight: 10 };
        const service = {
          id: "s",
          algorithm: "QuintupleHash" as const,
          proxyProtocol: "off" as const,
          idleTimeoutMs: 900_000,
          drainingTimeoutMs: 300_000,
          table: [member],
          retained: [member.key],
        };
        const failed = await pool.apply({ services: [service], listeners: [{ id: "l", port, serviceId: "s" }] });
        assert.deepEqual([...failed], []);
        await waitFor(() => pool.workerStats().length === 2, 5000, "both workers' first stats");
        const { counts, sent } = await servedPerWorker(pool, { host: FORWARDER, port, listenerId: "l", expected: "member", sourceOctet: 19, firstSource: 100 });
        console.log(`      clients accepted per worker (engine ${engine}): ${counts.join(", ")} of ${sent}`);
        assert.ok(counts.length === 2 && counts.every((n) => n > 0), `each worker accepted clients: ${counts.join(", ")}`);
      } finally {
        await pool.close();
        await closeAll([backend]);
      }
    });
  });
}
