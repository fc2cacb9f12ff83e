/**
 * The runtime end to end on loopback: configuration -> members and health -> traffic.
 *
 * Health checks run for real (TCP probes) with the model's minimum timings scaled by
 * `healthTimeScale: 0.1`: timeout 2 s -> 200 ms, interval 5 s -> 500 ms. The windows asserted
 * are the docs/DESIGN.md formulas applied to the scaled values.
 *
 * Addresses: forwarder 127.0.4.2, backends 127.0.2.11-19 and 127.0.2.41-50, clients 127.5.x.y.
 */
import { strict as assert } from "node:assert";
import type * as net from "node:net";
import { freePort } from "../support/net";
import { delay, waitFor } from "../support/wait";
import { failureWindowMs, successWindowMs } from "../../provider/health";
import { FlowHasher, Maglev } from "../../provider/hashing";
import type { ForwarderRuntime } from "../../provider/forwarder/runtime/runtime";
import type { BackendServiceStatus, MemberStatus } from "../../provider/forwarder/runtime/status";
import { closeAll, TestBackend } from "./helpers/backends";
import { connect, identify, readLine, runConcurrently, sourceAddress, tally, tryIdentify } from "./helpers/clients";
import { ConfigBuilder } from "./helpers/config";
import { metricValue, startRuntime, TEST_HASH_SEED } from "./helpers/runtime";
import type { Registry } from "prom-client";

const FORWARDER = "127.0.4.2";
const SCALE = 0.1;
const src = (i: number): string => sourceAddress(i, 5);

/** Two identify backends on the same port of two addresses, plus a health server beside each. */
interface Pair {
  readonly x: TestBackend;
  readonly y: TestBackend;
  readonly hx: TestBackend;
  readonly hy: TestBackend;
  readonly port: number;
  readonly healthPort: number;
}

async function startPair(): Promise<Pair> {
  const port = await freePort("127.0.2.11");
  const healthPort = await freePort("127.0.2.11");
  const [x, y, hx, hy] = await Promise.all([
    TestBackend.start({ host: "127.0.2.11", port, name: "x" }),
    TestBackend.start({ host: "127.0.2.12", port, name: "y" }),
    TestBackend.start({ host: "127.0.2.11", port: healthPort, mode: "echo" }),
    TestBackend.start({ host: "127.0.2.12", port: healthPort, mode: "echo" }),
  ]);
  return { x, y, hx, hy, port, healthPort };
}

function memberStatus(runtime: ForwarderRuntime, service: string, address: string): MemberStatus {
  const svc = runtime.status().backendServices.find((s) => s.id === service) as BackendServiceStatus;
  return svc.members.find((m) => m.address === address) as MemberStatus;
}

function health(runtime: ForwarderRuntime, service: string, address: string): string {
  return memberStatus(runtime, service, address).health;
}

/** Opens a connection, reads which member answered, keeps it open. */
async function openTo(port: number, i: number): Promise<{ socket: net.Socket; name: string }> {
  const socket = await connect({ host: FORWARDER, port, localAddress: src(i) });
  const name = await readLine(socket);
  return { socket, name };
}

/** True when the connection still carries bytes both ways. */
async function alive(socket: net.Socket): Promise<boolean> {
  if (socket.destroyed || socket.readableEnded) return false;
  socket.write("ping\n");
  try {
    return (await readLine(socket, 1000)) === "ping";
  } catch {
    return false;
  }
}

/** Resolves with when the peer closed the connection (FIN or reset). */
function whenClosed(socket: net.Socket): Promise<number> {
  return new Promise<number>((resolve) => {
    const done = (): void => resolve(Date.now());
    socket.once("end", done);
    socket.once("close", done);
    socket.resume();
  });
}

describe("forwarder runtime (real sockets, health timings x0.1)", function () {
  this.timeout(30_000);
  let pair: Pair;
  let runtime: ForwarderRuntime;
  let registry: Registry;
  let lport: number;

  beforeEach(async () => {
    pair = await startPair();
    lport = await freePort(FORWARDER);
    ({ runtime, registry } = startRuntime({ dataPlane: { listenAddress: FORWARDER, bindRetryIntervalMs: 200 }, health: { timeScale: SCALE } }));
  });
  afterEach(async () => {
    await runtime.close();
    await closeAll([pair.x, pair.y, pair.hx, pair.hy]);
  });

  /** Service s1 on group g1 (x and y), listener l1; `hc` null: health checks off. */
  function config(opts: {
    hc?: { unhealthyThreshold: number; healthyThreshold: number; port?: number } | null;
    service?: Record<string, unknown>;
    members?: { address: string; port?: number; weight?: number; enabled?: boolean }[];
  } = {}): ConfigBuilder {
    const builder = new ConfigBuilder();
    const hc = opts.hc === undefined ? { unhealthyThreshold: 3, healthyThreshold: 2, port: pair.healthPort } : opts.hc;
    if (hc !== null) builder.healthCheck("hc1", { timeoutSeconds: 2, intervalSeconds: 5, ...hc });
    return builder
      .virtualGroup("g1", { members: opts.members ?? [{ address: "127.0.2.11" }, { address: "127.0.2.12" }] })
      .service("s1", {
        port: pair.port,
        serverGroup: "g1",
        ...(hc === null ? { healthCheckEnabled: false } : { healthCheck: "hc1" }),
        ...opts.service,
      })
      .listener("l1", { port: lport, backendService: "s1" });
  }

  it("reports services, members and listeners in status, with the model's defaults applied", async () => {
    const builder = config({ hc: null })
      .haGroup("g2", { members: [{ address: "127.0.2.13" }, { address: "127.0.2.14", enabled: false }] })
      .service("s2", { port: 6000, serverGroup: "g2", healthCheckEnabled: false })
      .service("s3", { port: 6001 })
      .listener("l2", { port: await freePort(FORWARDER), backendService: "s3" });
    const result = await runtime.apply(builder.build());
    assert.deepEqual(result.listenerErrors, new Map());
    const status = JSON.parse(JSON.stringify(runtime.status())) as ReturnType<ForwarderRuntime["status"]>;
    assert.equal(status.node.listenAddress, FORWARDER);
    assert.ok(!Number.isNaN(Date.parse(status.node.startedAt)));
    const s1 = status.backendServices.find((s) => s.id === "s1") as BackendServiceStatus;
    assert.deepEqual(
      s1.members.map((m) => [m.address, m.port, m.weight, m.enabled, m.health, m.eligible]),
      [
        ["127.0.2.11", pair.port, 10, true, "N/A", true],
        ["127.0.2.12", pair.port, 10, true, "N/A", true],
      ],
      "a virtual member's port defaults to the service port, weight to 10",
    );
    assert.equal(s1.failOpen, false);
    assert.equal(s1.serverGroup, "g1");
    const s2 = status.backendServices.find((s) => s.id === "s2") as BackendServiceStatus;
    assert.deepEqual(
      s2.members.map((m) => [m.address, m.port, m.weight, m.enabled, m.eligible]),
      [
        ["127.0.2.13", 6000, 1, true, true],
        ["127.0.2.14", 6000, 1, false, false],
      ],
      "high-availability members use the service port and weigh the same",
    );
    const s3 = status.backendServices.find((s) => s.id === "s3") as BackendServiceStatus;
    assert.equal(s3.serverGroup, undefined);
    assert.deepEqual(s3.members, []);
    assert.deepEqual(
      status.listeners.map((l) => [l.id, l.state, l.backendService, l.activeConnections]),
      [
        ["l1", "Listening", "s1", 0],
        ["l2", "NoBackend", "s3", 0],
      ],
    );
    assert.equal((await tryIdentify({ host: FORWARDER, port: status.listeners[1].port })).error, "ECONNRESET");
  });

  it("a new member takes traffic after its first successful probe; an Initial member takes none", async () => {
    // y has no health server: it stays Initial until 5 failures (about 2 s) make it Unhealthy.
    await pair.hy.close();
    await runtime.apply(config({ hc: { unhealthyThreshold: 5, healthyThreshold: 3, port: pair.healthPort } }).build());
    await waitFor(
      () => health(runtime, "s1", "127.0.2.11") === "Healthy" && memberStatus(runtime, "s1", "127.0.2.12").consecutiveFailures >= 1,
      2000,
      "x to pass its first probe and y to fail its first",
    );
    const y = memberStatus(runtime, "s1", "127.0.2.12");
    assert.equal(y.health, "Initial");
    assert.equal(y.eligible, false);
    assert.ok((y.consecutiveFailures ?? 0) >= 1 && y.lastProbe?.code === "L4CON", JSON.stringify(y));
    const names = await runConcurrently(60, 10, (i) => identify({ host: FORWARDER, port: lport, localAddress: src(i) }));
    assert.deepEqual(tally(names), new Map([["x", 60]]));
    const x = memberStatus(runtime, "s1", "127.0.2.11");
    assert.equal(x.lastProbe?.code, "L4OK");
    assert.ok(!Number.isNaN(Date.parse(x.lastProbe?.at ?? "")));
  });

  it("fails over within the failure window and back within the success window", async () => {
    const hc = { unhealthyThreshold: 3, healthyThreshold: 2, timeoutSeconds: 2, intervalSeconds: 5 };
    const target = { timeoutMs: 2000 * SCALE, intervalMs: 5000 * SCALE, ...hc };
    const failureMs = failureWindowMs(target); // 3 x 200 + 2 x 500 = 1600
    const successMs = successWindowMs(target); // 1 x 500 = 500
    const interval = target.intervalMs;
    const tolerance = 300;
    await runtime.apply(config({ hc: { ...hc, port: pair.healthPort } }).build());
    await waitFor(
      () => health(runtime, "s1", "127.0.2.11") === "Healthy" && health(runtime, "s1", "127.0.2.12") === "Healthy",
      3000,
      "both members healthy",
    );

    // A steady stream of new clients, each from one of 200 source addresses, recording where it landed.
    const landed: { at: number; name: string }[] = [];
    const errors: string[] = [];
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) {
        const at = Date.now();
        const outcome = await tryIdentify({ host: FORWARDER, port: lport, localAddress: src(i % 200) });
        if (outcome.name !== undefined) landed.push({ at, name: outcome.name });
        else errors.push(outcome.error ?? "?");
        await delay(5);
      }
    })();

    try {
      await delay(300);
      // The member's health port dies (its traffic port stays up, so only the health check can take it out).
      const killedAt = Date.now();
      await pair.hx.close();
      await waitFor(() => health(runtime, "s1", "127.0.2.11") === "Unhealthy", failureMs + interval + 2000, "x to be marked unhealthy");
      await delay(400);
      const lastOnX = Math.max(...landed.filter((l) => l.name === "x").map((l) => l.at));
      const failover = lastOnX - killedAt;

      const restartedAt = Date.now();
      await pair.hx.listen();
      await waitFor(() => landed.some((l) => l.name === "x" && l.at >= restartedAt), successMs + interval + 2000, "x to take traffic again");
      const firstOnX = Math.min(...landed.filter((l) => l.name === "x" && l.at >= restartedAt).map((l) => l.at));
      const recovery = firstOnX - restartedAt;
      console.log(
        `      failover ${failover} ms (failure window ${failureMs} ms + interval ${interval} ms); ` +
          `recovery ${recovery} ms (success window ${successMs} ms + interval ${interval} ms); ${landed.length} clients, ${errors.length} errors`,
      );
      assert.ok(failover <= failureMs + interval + tolerance, `failover took ${failover} ms`);
      // Refused probes fail at once, so the member needs 3 probes, 2 intervals (each at least 85% with jitter) apart.
      assert.ok(failover >= 2 * interval * 0.85 - 100, `failover after ${failover} ms is faster than 3 probes allow`);
      assert.ok(recovery <= successMs + interval + tolerance, `recovery took ${recovery} ms`);
      assert.ok(recovery >= successMs * 0.85 - 100, `recovery after ${recovery} ms is faster than 2 probes allow`);
      assert.deepEqual(errors, [], "no client failed: the member's traffic port never went down");
    } finally {
      stop = true;
      await traffic;
    }
  });

  it("fails open to every enabled member when none is healthy, and says so in status and metrics", async () => {
    await pair.hx.close();
    await pair.hy.close();
    await runtime.apply(config({ hc: { unhealthyThreshold: 1, healthyThreshold: 1, port: pair.healthPort } }).build());
    await waitFor(
      () => health(runtime, "s1", "127.0.2.11") === "Unhealthy" && health(runtime, "s1", "127.0.2.12") === "Unhealthy",
      3000,
      "both members unhealthy",
    );
    const s1 = runtime.status().backendServices[0];
    assert.equal(s1.failOpen, true);
    assert.deepEqual(s1.members.map((m) => m.eligible), [false, false]);
    assert.equal(await metricValue(registry, "dnlb_service_fail_open", { service: "s1" }), 1);
    const names = await runConcurrently(100, 10, (i) => identify({ host: FORWARDER, port: lport, localAddress: src(i) }));
    assert.equal(tally(names).size, 2, "both enabled members take traffic");

    await pair.hx.listen();
    await waitFor(() => health(runtime, "s1", "127.0.2.11") === "Healthy", 3000, "x healthy again");
    await delay(20);
    assert.equal(runtime.status().backendServices[0].failOpen, false);
    assert.equal(await metricValue(registry, "dnlb_service_fail_open", { service: "s1" }), 0);
    const after = await runConcurrently(50, 10, (i) => identify({ host: FORWARDER, port: lport, localAddress: src(i) }));
    assert.deepEqual(tally(after), new Map([["x", 50]]));
  });

  it("an unhealthy member keeps its open connections (only new clients move)", async () => {
    await runtime.apply(config({ hc: { unhealthyThreshold: 1, healthyThreshold: 1, port: pair.healthPort } }).build());
    await waitFor(() => health(runtime, "s1", "127.0.2.11") === "Healthy", 2000, "x healthy");
    await waitFor(() => health(runtime, "s1", "127.0.2.12") === "Healthy", 2000, "y healthy");
    const open = await Promise.all(Array.from({ length: 16 }, (_, i) => openTo(lport, i)));
    const onX = open.filter((o) => o.name === "x");
    assert.ok(onX.length > 0, "some clients landed on x");
    await pair.hx.close();
    await waitFor(() => health(runtime, "s1", "127.0.2.11") === "Unhealthy", 3000, "x unhealthy");
    for (const o of onX) assert.ok(await alive(o.socket), "a connection to the unhealthy member still carries bytes");
    assert.equal(memberStatus(runtime, "s1", "127.0.2.11").activeConnections, onX.length);
    for (const o of open) o.socket.destroy();
  });

  it("keeps a member's health across configuration changes that keep the member", async () => {
    await runtime.apply(config({ hc: { unhealthyThreshold: 3, healthyThreshold: 3, port: pair.healthPort } }).build());
    await waitFor(() => memberStatus(runtime, "s1", "127.0.2.11").consecutiveSuccesses >= 2, 3000, "two successful probes");
    const before = memberStatus(runtime, "s1", "127.0.2.11").consecutiveSuccesses;
    await runtime.apply(
      config({
        hc: { unhealthyThreshold: 2, healthyThreshold: 2, port: pair.healthPort },
        members: [{ address: "127.0.2.11", weight: 50 }, { address: "127.0.2.12", weight: 1 }],
        service: { idleTimeoutSeconds: 60, algorithm: "QuintupleHash" },
      }).build(),
    );
    const x = memberStatus(runtime, "s1", "127.0.2.11");
    assert.equal(x.health, "Healthy");
    assert.ok(x.consecutiveSuccesses >= before, `counters kept (${x.consecutiveSuccesses} >= ${before})`);
    assert.equal(x.weight, 50);
  });

  it("drains a disabled member's connections after drainingTimeoutSeconds; other members' stay", async () => {
    await runtime.apply(config({ hc: null, service: { drainingTimeoutSeconds: 1 } }).build());
    const open = await Promise.all(Array.from({ length: 20 }, (_, i) => openTo(lport, i)));
    const onX = open.filter((o) => o.name === "x");
    const onY = open.filter((o) => o.name === "y");
    assert.ok(onX.length > 0 && onY.length > 0, `clients on both members (${onX.length}/${onY.length})`);
    const closedX = onX.map((o) => whenClosed(o.socket));
    const disabledAt = Date.now();
    await runtime.apply(
      config({ hc: null, service: { drainingTimeoutSeconds: 1 }, members: [{ address: "127.0.2.11", enabled: false }, { address: "127.0.2.12" }] }).build(),
    );
    assert.equal(memberStatus(runtime, "s1", "127.0.2.11").activeConnections, onX.length, "still open while draining");
    const names = await runConcurrently(20, 10, (i) => identify({ host: FORWARDER, port: lport, localAddress: src(100 + i) }));
    assert.deepEqual(tally(names), new Map([["y", 20]]), "a disabled member takes no new connection");
    const times = (await Promise.all(closedX)).map((t) => t - disabledAt);
    console.log(`      drained after ${Math.min(...times)}-${Math.max(...times)} ms (drainingTimeoutSeconds 1)`);
    assert.ok(Math.min(...times) >= 950, `closed after ${Math.min(...times)} ms, before the draining timeout`);
    assert.ok(Math.max(...times) <= 1500, `closed after ${Math.max(...times)} ms`);
    for (const o of onY) assert.ok(await alive(o.socket), "the other member's connections are untouched");
    for (const o of open) o.socket.destroy();
  });

  it("keeps a member's connections when it is enabled again before the draining timeout, and drains at once with 0", async () => {
    const enabled = [{ address: "127.0.2.11" }, { address: "127.0.2.12" }];
    const xOff = [{ address: "127.0.2.11", enabled: false }, { address: "127.0.2.12" }];
    await runtime.apply(config({ hc: null, service: { drainingTimeoutSeconds: 1 }, members: enabled }).build());
    const open = await Promise.all(Array.from({ length: 12 }, (_, i) => openTo(lport, i)));
    const onX = open.filter((o) => o.name === "x");
    assert.ok(onX.length > 0);
    await runtime.apply(config({ hc: null, service: { drainingTimeoutSeconds: 1 }, members: xOff }).build());
    await delay(300);
    await runtime.apply(config({ hc: null, service: { drainingTimeoutSeconds: 1 }, members: enabled }).build());
    await delay(1000);
    for (const o of onX) assert.ok(await alive(o.socket), "re-enabled in time: kept");

    const closed = onX.map((o) => whenClosed(o.socket));
    const removedAt = Date.now();
    await runtime.apply(config({ hc: null, service: { drainingTimeoutSeconds: 0 }, members: [{ address: "127.0.2.12" }] }).build());
    const times = (await Promise.all(closed)).map((t) => t - removedAt);
    assert.ok(Math.max(...times) < 300, `removed with draining 0: closed after ${Math.max(...times)} ms`);
    for (const o of open) o.socket.destroy();
  });

  it("a removed listener stops accepting at once and closes its connections after the draining timeout; others stay", async () => {
    const lport2 = await freePort(FORWARDER);
    const base = (): ConfigBuilder => config({ hc: null, service: { drainingTimeoutSeconds: 1 } });
    await runtime.apply(base().listener("l2", { port: lport2, backendService: "s1" }).build());
    const onL1 = await Promise.all([1, 2, 3].map((i) => openTo(lport, i)));
    const onL2 = await Promise.all([4, 5, 6].map((i) => openTo(lport2, i)));
    const closed = onL2.map((o) => whenClosed(o.socket));
    const removedAt = Date.now();
    await runtime.apply(base().build());
    assert.equal((await tryIdentify({ host: FORWARDER, port: lport2 })).error, "ECONNREFUSED");
    for (const o of onL2) assert.ok(await alive(o.socket), "open until the draining timeout");
    const times = (await Promise.all(closed)).map((t) => t - removedAt);
    assert.ok(Math.min(...times) >= 950 && Math.max(...times) <= 1500, `closed after ${times.join(", ")} ms`);
    for (const o of onL1) assert.ok(await alive(o.socket), "the other listener's connections are untouched");
    for (const o of [...onL1, ...onL2]) o.socket.destroy();
  });

  it("closes a connection idle for idleTimeoutSeconds and keeps a busy one", async () => {
    await runtime.apply(config({ hc: null, service: { idleTimeoutSeconds: 1 } }).build());
    const idle = await openTo(lport, 1);
    const busy = await openTo(lport, 2);
    const idleClosed = whenClosed(idle.socket);
    const since = Date.now();
    busy.socket.on("data", () => undefined);
    busy.socket.resume();
    const ticker = setInterval(() => busy.socket.write("."), 300);
    try {
      const closedAfter = (await idleClosed) - since;
      console.log(`      idle connection closed after ${closedAfter} ms (idleTimeoutSeconds 1)`);
      assert.ok(closedAfter >= 950 && closedAfter <= 1700, `idle connection closed after ${closedAfter} ms`);
      await delay(1200);
      assert.ok(!busy.socket.destroyed && !busy.socket.readableEnded, "a connection with traffic stays open");
    } finally {
      clearInterval(ticker);
      busy.socket.destroy();
      idle.socket.destroy();
    }
  });

  it("exposes traffic, health and table metrics", async () => {
    await runtime.apply(config({ hc: { unhealthyThreshold: 1, healthyThreshold: 1, port: pair.healthPort } }).build());
    await waitFor(
      () => health(runtime, "s1", "127.0.2.11") === "Healthy" && health(runtime, "s1", "127.0.2.12") === "Healthy",
      3000,
      "both healthy",
    );
    await delay(20);
    const names = await runConcurrently(40, 10, (i) => identify({ host: FORWARDER, port: lport, localAddress: src(i) }));
    const counts = tally(names);
    await waitFor(() => runtime.status().listeners[0].activeConnections === 0, 2000, "clients to be gone");
    const xKey = `127.0.2.11:${pair.port}`;
    assert.equal(await metricValue(registry, "dnlb_listener_connections_total", { listener: "l1" }), 40);
    assert.equal(await metricValue(registry, "dnlb_member_connections_total", { service: "s1", member: xKey }), counts.get("x"));
    assert.equal(await metricValue(registry, "dnlb_listener_connections_active", { listener: "l1" }), 0);
    assert.equal(await metricValue(registry, "dnlb_member_healthy", { service: "s1", member: xKey }), 1);
    assert.equal(await metricValue(registry, "dnlb_member_eligible", { service: "s1", member: xKey }), 1);
    assert.equal(await metricValue(registry, "dnlb_health_transitions_total", { service: "s1", member: xKey, to: "Healthy" }), 1);
    const bytesOut = await metricValue(registry, "dnlb_listener_sent_bytes_total", { listener: "l1" });
    assert.equal(bytesOut, 40 * 2, "each client received its member's name line ('x\\n' or 'y\\n')");
    // Tables: Initial (fail open: both take traffic), then one healthy if x and y turn healthy
    // in different replans, then both healthy, which is the fail-open table again but rebuilt
    // after the one-healthy table; a configuration change that keeps the members and their
    // health rebuilds nothing.
    const built = (await metricValue(registry, "dnlb_tables_rebuilt_total", { service: "s1" })) as number;
    assert.ok(built === 1 || built === 3, `tables built: ${built}`);
    await runtime.apply(config({ hc: { unhealthyThreshold: 1, healthyThreshold: 1, port: pair.healthPort }, service: { idleTimeoutSeconds: 30 } }).build());
    assert.equal(await metricValue(registry, "dnlb_tables_rebuilt_total", { service: "s1" }), built);
    const text = await registry.metrics();
    for (const name of [
      "dnlb_listener_connections_rejected_total",
      "dnlb_listener_backend_connect_failures_total",
      "dnlb_listener_received_bytes_total",
      "dnlb_listener_up",
      "dnlb_member_connect_failures_total",
      "dnlb_member_received_bytes_total",
      "dnlb_member_sent_bytes_total",
      "dnlb_member_connections_active",
    ]) {
      assert.ok(text.includes(`# TYPE ${name} `), `${name} is exported`);
    }
  });

  it("shows a listener whose port is taken as Failed and binds it once the port is free", async () => {
    const holder = await TestBackend.start({ host: FORWARDER, port: lport, mode: "echo" });
    const result = await runtime.apply(config({ hc: null }).build());
    assert.deepEqual(result.listenerErrors, new Map([["l1", `port ${lport} on ${FORWARDER} is in use`]]));
    const l1 = runtime.status().listeners[0];
    assert.equal(l1.state, "Failed");
    assert.equal(l1.error, `port ${lport} on ${FORWARDER} is in use`);
    await holder.close();
    await waitFor(() => runtime.status().listeners[0].state === "Listening", 3000, "the listener to bind");
    assert.equal(runtime.status().listeners[0].error, undefined);
    assert.equal(await metricValue(registry, "dnlb_listener_up", { listener: "l1" }), 1);
  });
});

describe("forwarder runtime: one of 10 members flips health (real sockets, health timings x0.1)", function () {
  this.timeout(60_000);
  const N = 10;
  const CLIENTS = 3000;
  const hosts = Array.from({ length: N }, (_, i) => `127.0.2.${41 + i}`);
  const clients = Array.from({ length: CLIENTS }, (_, i) => src(i));
  let servers: TestBackend[] = [];
  let checks: TestBackend[] = [];
  let runtime: ForwarderRuntime;
  let port: number;
  let lport: number;

  before(async () => {
    port = await freePort(hosts[0]);
    const healthPort = await freePort(hosts[0]);
    lport = await freePort(FORWARDER);
    servers = await Promise.all(hosts.map((host, i) => TestBackend.start({ host, port, name: `m${i}` })));
    checks = await Promise.all(hosts.map((host) => TestBackend.start({ host, port: healthPort, mode: "echo" })));
    ({ runtime } = startRuntime({ dataPlane: { listenAddress: FORWARDER }, health: { timeScale: SCALE } }));
    const config = new ConfigBuilder()
      .healthCheck("hc", { port: healthPort, timeoutSeconds: 2, intervalSeconds: 5, unhealthyThreshold: 1, healthyThreshold: 1 })
      .virtualGroup("g", { members: hosts.map((address) => ({ address })) })
      .service("s", { port, serverGroup: "g", healthCheck: "hc", algorithm: "IpHash" })
      .listener("l", { port: lport, backendService: "s" })
      .build();
    await runtime.apply(config);
    await waitFor(() => hosts.every((h) => memberStatus(runtime, "s", h).eligible), 5000, "every member healthy");
    await delay(50);
  });
  after(async () => {
    await runtime.close();
    await closeAll([...servers, ...checks]);
  });

  /** Which member answers each client (every client must get through). */
  async function landings(): Promise<string[]> {
    return runConcurrently(CLIENTS, 20, (i) => identify({ host: FORWARDER, port: lport, localAddress: clients[i] }));
  }

  async function setEligible(i: number, eligible: boolean): Promise<void> {
    await (eligible ? checks[i].listen() : checks[i].close());
    await waitFor(() => memberStatus(runtime, "s", hosts[i]).eligible === eligible, 5000, `${hosts[i]} eligible: ${eligible}`);
    await delay(50); // the replan reaches the data plane right after status shows it
  }

  it("moves only the clients of the member that goes down, and exactly those come back", async () => {
    // The member to flip: the one for which a table rebuilt over the 9 others (what the forwarder
    // did before it built with Maglev's `eligible`) would move the most clients of other members.
    const hasher = new FlowHasher(TEST_HASH_SEED);
    const hashes = clients.map((ip) => hasher.ipHash(ip));
    const configured = hosts.map((address) => ({ address, port, weight: 10 }));
    const full = Maglev.build(configured);
    const nameOf = (address: string): string => `m${hosts.indexOf(address)}`;
    let down = 0;
    let rebuiltWouldMove = -1;
    for (let k = 0; k < N; k++) {
      const rebuilt = Maglev.build(configured.filter((_, i) => i !== k));
      const moved = hashes.filter((h) => {
        const was = full.lookup(h)?.address;
        return was !== hosts[k] && rebuilt.lookup(h)?.address !== was;
      }).length;
      if (moved > rebuiltWouldMove) [down, rebuiltWouldMove] = [k, moved];
    }
    assert.ok(rebuiltWouldMove > 0, "the scenario tells a minimal table from a rebuilt one");
    const downName = `m${down}`;

    const before = await landings();
    assert.deepEqual(before, hashes.map((h) => nameOf(full.lookup(h)?.address ?? "")), "clients land where the table says");
    const onDown = before.filter((n) => n === downName).length;
    assert.ok(onDown > 0, `some clients are on ${downName}`);

    await setEligible(down, false);
    const during = await landings();
    const othersMoved = before.filter((n, i) => n !== downName && during[i] !== n).length;
    const movedTo = new Set(during.filter((_, i) => before[i] === downName));
    assert.equal(othersMoved, 0, "every client of another member stays where it was");
    assert.ok(!during.includes(downName), `no new client lands on ${downName}`);
    assert.ok(movedTo.size >= 5, `${downName}'s clients spread over the others: ${[...movedTo].join(", ")}`);

    await setEligible(down, true);
    const after = await landings();
    const back = after.filter((n, i) => before[i] === downName && n === downName).length;
    assert.deepEqual(after, before, "every client is where it was before the flip");

    console.log(
      `      ${CLIENTS} clients over ${N} members; ${downName} down: its ${onDown} clients moved (to ${movedTo.size} members), ` +
        `${othersMoved} of the other ${CLIENTS - onDown} moved (a table rebuilt over the 9 would have moved ${rebuiltWouldMove}); ` +
        `${downName} back: ${back} of ${onDown} returned, ${after.filter((n, i) => n !== before[i]).length} clients elsewhere than before`,
    );
  });
});
