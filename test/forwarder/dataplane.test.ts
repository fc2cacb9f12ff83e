/**
 * The data plane on real loopback sockets, driven by plans directly (no configuration, no
 * health checks): distribution, connect fallback, half-close, back-pressure, limits, binding.
 *
 * Addresses: forwarder 127.0.4.1, backends 127.0.2.1-9, clients 127.3.x.y.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as net from "node:net";
import { freePort } from "../support/net";
import { delay, waitFor } from "../support/wait";
import { DataPlane, type DataPlaneEngine } from "../../provider/forwarder/dataplane/dataplane";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import type { DataPlanePlan, PlanMember, ServicePlan } from "../../provider/forwarder/dataplane/plan";
import { FlowHasher, Maglev, memberKey } from "../../provider/hashing";
import { closeAll, TestBackend } from "./helpers/backends";
import { connect, identify, readLine, runConcurrently, sourceAddress, tally, tryIdentify } from "./helpers/clients";
import { TEST_HASH_SEED } from "./helpers/runtime";

const FORWARDER = "127.0.4.1";

function member(b: TestBackend, weight = 10): PlanMember {
  return { key: memberKey({ address: b.host, port: b.port }), address: b.host, port: b.port, weight };
}

function service(id: string, members: readonly PlanMember[], extra: Partial<ServicePlan> = {}): ServicePlan {
  return {
    id,
    algorithm: "IpHash",
    proxyProtocol: "off",
    idleTimeoutMs: 900_000,
    drainingTimeoutMs: 300_000,
    table: members,
    retained: members.map((m) => m.key),
    ...extra,
  };
}

function plan(port: number, svc: ServicePlan | undefined, listenerId = "l1"): DataPlanePlan {
  return {
    services: svc === undefined ? [] : [svc],
    listeners: [{ id: listenerId, port, ...(svc === undefined ? {} : { serviceId: svc.id }) }],
  };
}

/** Observed share of each name minus its expected share; the largest absolute gap. */
function maxShareGap(counts: Map<string, number>, expected: Map<string, number>, total: number): number {
  let gap = 0;
  for (const [name, share] of expected) gap = Math.max(gap, Math.abs((counts.get(name) ?? 0) / total - share));
  return gap;
}

/**
 * Both engines keep one contract: every test below runs on each engine available here. CI builds
 * the native relay (DNLB_REQUIRE_NATIVE=1), so there a missing one fails instead of being skipped.
 */
const ENGINES: DataPlaneEngine[] = nativeRelayUnavailable() === undefined ? ["native", "streams"] : ["streams"];

describe("data plane engines", () => {
  it("has the native relay where it must be built", async function () {
    if (process.env.DNLB_REQUIRE_NATIVE !== "1" && nativeRelayUnavailable() !== undefined) this.skip();
    assert.equal(nativeRelayUnavailable(), undefined);
    const dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED });
    assert.equal(dp.engine, "native");
    await dp.close();
  });
});

for (const engine of ENGINES) describe(`data plane (real sockets, engine ${engine})`, function () {
  this.timeout(30_000);
  let a: TestBackend;
  let b: TestBackend;
  let c: TestBackend;
  let dp: DataPlane;
  let port: number;

  before(async () => {
    [a, b, c] = await Promise.all([
      TestBackend.start({ host: "127.0.2.1", name: "a" }),
      TestBackend.start({ host: "127.0.2.2", name: "b" }),
      TestBackend.start({ host: "127.0.2.3", name: "c" }),
    ]);
  });
  after(() => closeAll([a, b, c]));

  beforeEach(async () => {
    port = await freePort(FORWARDER);
    dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine, bindRetryIntervalMs: 100 });
  });
  afterEach(() => dp.close());

  it("IpHash: traffic shares follow weights over 3000 clients from distinct source addresses", async () => {
    const members = [member(a, 10), member(b, 20), member(c, 30)];
    assert.deepEqual(await dp.apply(plan(port, service("s", members))), new Map());
    const total = 3000;
    const names = await runConcurrently(total, 40, (i) => identify({ host: FORWARDER, port, localAddress: sourceAddress(i) }));
    const counts = tally(names);
    const gap = maxShareGap(counts, new Map([["a", 1 / 6], ["b", 2 / 6], ["c", 3 / 6]]), total);
    console.log(`      shares a/b/c: ${["a", "b", "c"].map((n) => ((counts.get(n) ?? 0) / total).toFixed(3)).join(" / ")} (weights 1/6, 2/6, 3/6; max gap ${gap.toFixed(3)})`);
    // One sample of 3000 has a standard deviation of at most 0.0091 per share: 0.035 is ~4 sigma.
    assert.ok(gap < 0.035, `shares ${JSON.stringify([...counts])} stray ${gap.toFixed(3)} from the weights`);
  });

  it("IpHash sends a client where an independently built table says (every node agrees) and keeps it there", async () => {
    const members = [member(a, 10), member(b, 20), member(c, 30)];
    await dp.apply(plan(port, service("s", members)));
    const table = Maglev.build(members);
    const hasher = new FlowHasher(TEST_HASH_SEED);
    const byKey = new Map([[members[0].key, "a"], [members[1].key, "b"], [members[2].key, "c"]]);
    for (let i = 0; i < 60; i++) {
      const src = sourceAddress(5000 + i);
      const expected = byKey.get((table.lookup(hasher.ipHash(src)) as PlanMember).key);
      assert.equal(await identify({ host: FORWARDER, port, localAddress: src }), expected, `client ${src}`);
    }
    const one = sourceAddress(7777);
    const seen = await runConcurrently(100, 20, () => identify({ host: FORWARDER, port, localAddress: one }));
    assert.equal(new Set(seen).size, 1, `one source reached ${JSON.stringify([...tally(seen)])}`);
  });

  it("QuintupleHash spreads one source address over the members by weight", async () => {
    const members = [member(a, 10), member(b, 20), member(c, 30)];
    await dp.apply(plan(port, service("s", members, { algorithm: "QuintupleHash" })));
    const total = 900;
    const src = sourceAddress(9001);
    const names = await runConcurrently(total, 30, () => identify({ host: FORWARDER, port, localAddress: src }));
    const counts = tally(names);
    const gap = maxShareGap(counts, new Map([["a", 1 / 6], ["b", 2 / 6], ["c", 3 / 6]]), total);
    console.log(`      one source, ${total} connections: a/b/c ${["a", "b", "c"].map((n) => counts.get(n) ?? 0).join(" / ")}`);
    assert.equal(counts.size, 3);
    assert.ok(gap < 0.07, `shares ${JSON.stringify([...counts])} stray ${gap.toFixed(3)} from the weights`);
  });

  it("skips a member whose port refuses and resets the client when every member refuses", async () => {
    const deadPort = await freePort("127.0.2.9");
    const dead: PlanMember = { key: memberKey({ address: "127.0.2.9", port: deadPort }), address: "127.0.2.9", port: deadPort, weight: 10 };
    await dp.apply(plan(port, service("s", [dead, member(a)])));
    const names = await runConcurrently(200, 20, (i) => identify({ host: FORWARDER, port, localAddress: sourceAddress(i) }));
    assert.deepEqual(tally(names), new Map([["a", 200]]), "every client still reaches the live member");
    const stats = dp.stats();
    const deadStats = stats.members.find((m) => m.key === dead.key);
    assert.ok(deadStats !== undefined && deadStats.connectFailures > 50, `the dead member was tried first for about half the clients (${deadStats?.connectFailures})`);
    assert.equal(stats.listeners[0].rejected.connect_failed, 0);

    const dead2Port = await freePort("127.0.2.8");
    const dead2: PlanMember = { key: memberKey({ address: "127.0.2.8", port: dead2Port }), address: "127.0.2.8", port: dead2Port, weight: 10 };
    await dp.apply(plan(port, service("s", [dead, dead2])));
    const outcome = await tryIdentify({ host: FORWARDER, port, localAddress: sourceAddress(1) });
    assert.equal(outcome.error, "ECONNRESET", `a client with no reachable member is reset (${JSON.stringify(outcome)})`);
    await waitFor(() => dp.stats().listeners[0].rejected.connect_failed === 1, 2000, "the reset to be counted");
  });

  it("falls back only to eligible members: an ineligible member in the table takes no client, even when the pick refuses", async () => {
    const deadPort = await freePort("127.0.2.9");
    const dead: PlanMember = { key: memberKey({ address: "127.0.2.9", port: deadPort }), address: "127.0.2.9", port: deadPort, weight: 10 };
    const members = [dead, member(a), member(b), member(c)];
    // b and c are up but not eligible (say Unhealthy): the table holds all four, only dead and a take traffic.
    await dp.apply(plan(port, service("s", members, { eligible: [dead.key, members[1].key] })));
    const names = await runConcurrently(200, 20, (i) => identify({ host: FORWARDER, port, localAddress: sourceAddress(i) }));
    assert.deepEqual(tally(names), new Map([["a", 200]]), "the dead pick's clients fall back to a, never to b or c");
    const deadStats = dp.stats().members.find((m) => m.key === dead.key);
    assert.ok(deadStats !== undefined && deadStats.connectFailures > 50, `the dead member was the pick for about half the clients (${deadStats?.connectFailures})`);

    // No member eligible (the control part fails open instead; a plan saying so resets clients).
    await dp.apply(plan(port, service("s", members, { eligible: [] })));
    assert.equal(dp.stats().listeners[0].state, "NoBackend");
    assert.equal((await tryIdentify({ host: FORWARDER, port, localAddress: sourceAddress(1) })).error, "ECONNRESET");
  });

  it("bounds the backend connect: a member that never answers the handshake is given up after connectTimeoutMs", async () => {
    // A process whose event loop is blocked with a full accept queue (backlog 1): the kernel
    // drops further SYNs, so a connect to it neither succeeds nor fails, like a black-holed host.
    const hung = spawn(process.execPath, [
      "-e",
      `const s = require("net").createServer();
       s.listen({ host: "127.0.2.7", port: 0, backlog: 1 }, () => {
         process.stdout.write(s.address().port + "\\n");
         setTimeout(() => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20000), 50);
       });`,
    ]);
    const fillers: net.Socket[] = [];
    try {
      const hungPort = await new Promise<number>((resolve, reject) => {
        hung.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
        hung.once("exit", () => reject(new Error("the hung backend exited")));
      });
      await delay(200);
      for (let i = 0; i < 4; i++) {
        const f = net.connect({ host: "127.0.2.7", port: hungPort });
        f.on("error", () => undefined);
        fillers.push(f);
      }
      await delay(200);
      await dp.close();
      dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine, connectTimeoutMs: 300 });
      const dead: PlanMember = { key: memberKey({ address: "127.0.2.7", port: hungPort }), address: "127.0.2.7", port: hungPort, weight: 10 };
      await dp.apply(plan(port, service("s", [dead, member(a)])));
      const timed = await runConcurrently(12, 12, async (i) => {
        const started = Date.now();
        const name = await identify({ host: FORWARDER, port, localAddress: sourceAddress(300 + i) });
        return { name, ms: Date.now() - started };
      });
      assert.deepEqual(tally(timed.map((t) => t.name)), new Map([["a", 12]]), "every client reached the live member");
      const slow = timed.filter((t) => t.ms >= 290);
      const failures = dp.stats().members.find((m) => m.key === dead.key)?.connectFailures ?? 0;
      console.log(`      ${slow.length} of 12 clients waited out the 300 ms connect timeout (${slow.map((t) => t.ms).join(", ")} ms)`);
      assert.ok(slow.length >= 1 && slow.length === failures, `${slow.length} slow clients, ${failures} timed-out connects`);
      assert.ok(slow.every((t) => t.ms < 1500), "each waited one bounded timeout");
    } finally {
      for (const f of fillers) f.destroy();
      hung.kill("SIGKILL");
    }
  });

  it("forwards IPv6 clients and writes a TCP6 PROXY header", async () => {
    const v6 = await TestBackend.start({ host: "::1", name: "v6" });
    const dp6 = new DataPlane({ listenAddress: "::1", hashSeed: TEST_HASH_SEED, engine });
    try {
      const lport = await freePort("::1");
      const m: PlanMember = { key: memberKey({ address: "::1", port: v6.port }), address: "::1", port: v6.port, weight: 10 };
      assert.equal(m.key, `[::1]:${v6.port}`);
      await dp6.apply(plan(lport, service("s6", [m], { proxyProtocol: "v1" })));
      const socket = await connect({ host: "::1", port: lport });
      assert.equal(await readLine(socket), "v6");
      // The identify backend echoes what it received: first the PROXY header.
      assert.equal(await readLine(socket), `PROXY TCP6 ::1 ::1 ${socket.localPort} ${lport}\r`);
      socket.destroy();
    } finally {
      await dp6.close();
      await v6.close();
    }
  });

  it("propagates half-close: the client ends its side and still receives the backend's reply", async () => {
    const replier = await TestBackend.start({ host: "127.0.2.4", mode: "reply-on-end" });
    try {
      await dp.apply(plan(port, service("s", [member(replier)])));
      const socket = await connect({ host: FORWARDER, port, localAddress: sourceAddress(1) });
      const payload = Buffer.alloc(1 << 20, 7);
      socket.end(payload);
      const line = await readLine(socket);
      assert.equal(line, `${payload.length} ${createHash("sha256").update(payload).digest("hex")}`);
      await new Promise<void>((resolve) => (socket.readableEnded ? resolve() : socket.once("end", () => resolve())));
      socket.destroy();
    } finally {
      await replier.close();
    }
  });

  it("passes a reset on: a client's RST resets the member's side, and a member's RST resets the client's", async () => {
    const accepted: net.Socket[] = [];
    const server = net.createServer((s) => {
      accepted.push(s);
      s.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.2.6", resolve));
    const backendPort = (server.address() as net.AddressInfo).port;
    const ending = (socket: net.Socket): Promise<string> =>
      new Promise((resolve) => {
        socket.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
        socket.once("close", () => resolve("closed without error"));
      });
    try {
      await dp.apply(plan(port, service("s", [{ key: memberKey({ address: "127.0.2.6", port: backendPort }), address: "127.0.2.6", port: backendPort, weight: 1 }])));
      for (const side of ["client", "member"] as const) {
        const client = await connect({ host: FORWARDER, port, localAddress: sourceAddress(side === "client" ? 3 : 4) });
        const before = accepted.length;
        client.resume(); // a reset is seen by a socket that reads
        client.write("x");
        await waitFor(() => accepted.length > before && accepted[before].bytesRead > 0, 2000, "the member to get the first byte");
        const backend = accepted[before];
        const [resetSide, otherSide] = side === "client" ? [client, backend] : [backend, client];
        const other = ending(otherSide);
        resetSide.resetAndDestroy();
        assert.equal(await other, "ECONNRESET", `after the ${side}'s reset`);
      }
    } finally {
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("applies back-pressure: a client that does not read stalls its own sender instead of filling the node's memory", async () => {
    const echo = await TestBackend.start({ host: "127.0.2.5", mode: "echo" });
    try {
      await dp.apply(plan(port, service("s", [member(echo)])));
      const socket = await connect({ host: FORWARDER, port, localAddress: sourceAddress(2) });
      socket.pause(); // read nothing for now
      const sent = createHash("sha256");
      const chunk = Buffer.alloc(1 << 20);
      let written = 0;
      let stalled = false;
      const deadline = Date.now() + 8000;
      while (Date.now() < deadline && written < 1024 * chunk.length) {
        chunk.writeUInt32LE(written >>> 20, 0);
        sent.update(chunk);
        written += chunk.length;
        if (!socket.write(chunk)) {
          const drained = await Promise.race([new Promise<boolean>((r) => socket.once("drain", () => r(true))), delay(1000).then(() => false)]);
          if (!drained) {
            stalled = true;
            break;
          }
        }
      }
      const forwarded = dp.stats().listeners[0].bytesIn;
      await delay(300);
      const forwardedLater = dp.stats().listeners[0].bytesIn;
      console.log(`      stalled after writing ${(written / 2 ** 20).toFixed(0)} MiB; the node had read ${(forwarded / 2 ** 20).toFixed(1)} MiB`);
      assert.ok(stalled, `the sender never stalled after ${written} bytes`);
      assert.equal(forwardedLater, forwarded, "the node stopped reading while the client did not read");

      const received = createHash("sha256");
      let receivedBytes = 0;
      socket.on("data", (d: Buffer) => {
        received.update(d);
        receivedBytes += d.length;
      });
      socket.resume();
      socket.end();
      await new Promise<void>((resolve) => socket.once("end", () => resolve()));
      assert.equal(receivedBytes, written);
      assert.equal(received.digest("hex"), sent.digest("hex"), "every byte came back, in order");
      socket.destroy();
    } finally {
      await echo.close();
    }
  });

  it("resets clients beyond maxConnectionsPerListener and counts them", async () => {
    await dp.close();
    dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine, maxConnectionsPerListener: 2 });
    await dp.apply(plan(port, service("s", [member(a)])));
    const first = await connect({ host: FORWARDER, port });
    const second = await connect({ host: FORWARDER, port });
    assert.equal(await readLine(first), "a");
    assert.equal(await readLine(second), "a");
    const third = await tryIdentify({ host: FORWARDER, port });
    assert.equal(third.error, "ECONNRESET");
    first.destroy();
    await waitFor(() => dp.stats().listeners[0].active === 1, 2000, "the first client to be gone");
    assert.equal(await identify({ host: FORWARDER, port }), "a", "a slot is free again");
    second.destroy();
    assert.equal(dp.stats().listeners[0].rejected.limit, 1);
  });

  it("a listener without a backend (or with an empty table) listens, shows NoBackend and resets clients", async () => {
    await dp.apply(plan(port, undefined));
    assert.equal(dp.stats().listeners[0].state, "NoBackend");
    assert.equal((await tryIdentify({ host: FORWARDER, port })).error, "ECONNRESET");
    await dp.apply(plan(port, service("s", [])));
    assert.equal(dp.stats().listeners[0].state, "NoBackend");
    assert.equal((await tryIdentify({ host: FORWARDER, port })).error, "ECONNRESET");
    await dp.apply(plan(port, service("s", [member(a)])));
    assert.equal(dp.stats().listeners[0].state, "Listening");
    assert.equal(await identify({ host: FORWARDER, port }), "a");
    assert.equal(dp.stats().listeners[0].rejected.no_backend, 2);
  });

  it("reports a port in use, leaves nothing bound, and retries until the port is free", async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen({ host: FORWARDER, port }, () => resolve()));
    const errors = await dp.apply(plan(port, service("s", [member(a)])));
    assert.deepEqual(errors, new Map([["l1", `port ${port} on ${FORWARDER} is in use`]]));
    assert.equal(dp.stats().listeners[0].state, "Failed");
    assert.equal(dp.stats().listeners[0].error, `port ${port} on ${FORWARDER} is in use`);

    // Rolled back (as the admin API does after a failed bind): no server is left behind.
    assert.deepEqual(await dp.apply({ services: [], listeners: [] }), new Map());
    await new Promise<void>((resolve) => holder.close(() => resolve()));
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen({ host: FORWARDER, port }, () => resolve());
    });

    // Applied again while the port is taken: Failed, then Listening once the port is free.
    await dp.apply(plan(port, service("s", [member(a)])));
    assert.equal(dp.stats().listeners[0].state, "Failed");
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    await waitFor(() => dp.stats().listeners[0].state === "Listening", 3000, "the retry to bind");
    assert.equal(await identify({ host: FORWARDER, port }), "a");
  });

  it("moves a listener to another port and frees the old one at once", async () => {
    await dp.apply(plan(port, service("s", [member(a)])));
    const other = await freePort(FORWARDER);
    assert.deepEqual(await dp.apply(plan(other, service("s", [member(a)]))), new Map());
    assert.equal(await identify({ host: FORWARDER, port: other }), "a");
    assert.equal((await tryIdentify({ host: FORWARDER, port })).error, "ECONNREFUSED");
    // Removed and re-added on the same port in consecutive plans.
    await dp.apply({ services: [], listeners: [] });
    assert.deepEqual(await dp.apply(plan(other, service("s", [member(a)]), "l2")), new Map());
    assert.equal(await identify({ host: FORWARDER, port: other }), "a");
  });

  it("close() stops accepting at once, lets connections run for the grace period, then closes them", async () => {
    await dp.apply(plan(port, service("s", [member(a)])));
    const socket = await connect({ host: FORWARDER, port });
    assert.equal(await readLine(socket), "a");
    const ended = new Promise<number>((resolve) => socket.once("end", () => resolve(Date.now())));
    socket.resume();
    const started = Date.now();
    const closing = dp.close({ graceMs: 400 });
    await delay(50);
    assert.equal((await tryIdentify({ host: FORWARDER, port })).error, "ECONNREFUSED");
    await closing;
    const closedAt = await ended;
    assert.ok(closedAt - started >= 350, `closed after ${closedAt - started} ms, before the grace period`);
    assert.equal(dp.stats().listeners[0].active, 0);
    await dp.close(); // idempotent
  });
});
