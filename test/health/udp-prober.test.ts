/**
 * The UDP health probe against real UDP servers on loopback: ICMP port-unreachable fails,
 * silence passes, and with a request only the expected answer passes; then the health monitor
 * running it in real time (timings scaled down as in monitor-realtime.test.ts).
 */
import { strict as assert } from "node:assert";
import * as dgram from "node:dgram";
import { performance } from "node:perf_hooks";
import { HealthMonitor, probeBy, type ProbeMethod, type ProbeTarget } from "../../provider/forwarder/health/monitor";
import { probeUdp } from "../../provider/forwarder/health/udp-prober";
import { DEFAULT_JITTER_PERCENT, failureWindowMs, type HealthState } from "../../provider/health";

// 127.0.3.x is reserved for the health tests; the TCP ones use .1-.4.
const HOST = "127.0.3.5";
const SLACK_MS = 400;

type Answer = (request: Buffer) => string | undefined;

/** A UDP server on HOST that answers each datagram with `answer(request)`, or stays silent. */
async function udpServer(answer: Answer = () => undefined): Promise<{ port: number; received: Buffer[]; close(): Promise<void> }> {
  const socket = dgram.createSocket("udp4");
  const received: Buffer[] = [];
  socket.on("message", (message, from) => {
    received.push(message);
    const reply = answer(message);
    if (reply !== undefined) socket.send(reply, from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, HOST, resolve));
  return { port: socket.address().port, received, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}

/** A UDP port nothing listens on: the kernel answers datagrams with ICMP port-unreachable. */
async function closedPort(): Promise<number> {
  const server = await udpServer();
  await server.close();
  return server.port;
}

async function udpHandles(): Promise<number> {
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((r) => r === "UDPWrap").length;
}

describe("probeUdp (real UDP sockets on loopback)", function () {
  this.timeout(10_000);

  it("fails L4CON on ICMP port-unreachable, well before the timeout", async () => {
    const before = await udpHandles();
    const outcome = await probeUdp(HOST, await closedPort(), 2000);
    assert.equal(outcome.code, "L4CON", outcome.description);
    assert.equal(outcome.ok, false);
    assert.match(outcome.description, /ICMP unreachable \(ECONNREFUSED/);
    assert.ok(outcome.latencyMs < 1000, `took ${outcome.latencyMs} ms`);
    assert.equal(await udpHandles(), before, "no socket left behind");
  });

  it("passes L4OK on silence: an open port that never answers, after the timeout; it got one empty datagram", async () => {
    const server = await udpServer();
    try {
      const outcome = await probeUdp(HOST, server.port, 300);
      assert.equal(outcome.code, "L4OK", outcome.description);
      assert.equal(outcome.ok, true);
      assert.match(outcome.description, /no ICMP error within 300 ms/);
      assert.ok(outcome.latencyMs >= 290, `resolved after ${outcome.latencyMs} ms`);
      assert.deepEqual(server.received.map((b) => b.length), [0]);
    } finally {
      await server.close();
    }
  });

  it("with a request: the expected answer passes, another answer is L7RSP, silence is L4TOUT", async () => {
    const pong = await udpServer((req) => (req.toString() === "ping" ? "pong" : undefined));
    const wrong = await udpServer(() => "nope");
    const silent = await udpServer();
    try {
      const expected = await probeUdp(HOST, pong.port, 1000, { request: "ping", expectedResponse: "pong" });
      assert.deepEqual([expected.code, expected.ok, expected.description], ["L4OK", true, "answered as expected"]);
      assert.ok(expected.latencyMs < 900, "an answer does not wait for the timeout");
      assert.deepEqual(pong.received.map(String), ["ping"]);

      const any = await probeUdp(HOST, wrong.port, 1000, { request: "ping" });
      assert.equal(any.code, "L4OK", "without udpExpectedResponse any answer passes");

      const other = await probeUdp(HOST, wrong.port, 1000, { request: "ping", expectedResponse: "pong" });
      assert.deepEqual([other.code, other.ok], ["L7RSP", false]);
      assert.equal(other.description, 'answered "nope", expected "pong"');

      const none = await probeUdp(HOST, silent.port, 300, { request: "ping", expectedResponse: "pong" });
      assert.deepEqual([none.code, none.ok, none.description], ["L4TOUT", false, "no answer within 300 ms"]);

      const closed = await probeUdp(HOST, await closedPort(), 1000, { request: "ping" });
      assert.equal(closed.code, "L4CON", "ICMP unreachable fails a request too");
    } finally {
      await Promise.all([pong.close(), wrong.close(), silent.close()]);
    }
  });

  it("resolves L4CON on abort and on a malformed target, leaving no socket behind", async () => {
    const before = await udpHandles();
    const server = await udpServer();
    const controller = new AbortController();
    const aborted = probeUdp(HOST, server.port, 5000, {}, undefined, controller.signal);
    controller.abort();
    assert.deepEqual([(await aborted).code, (await aborted).description], ["L4CON", "probe aborted"]);
    const malformed = await probeUdp(HOST, 70000, 1000);
    assert.equal(malformed.code, "L4CON");
    assert.match(malformed.description, /cannot probe 127\.0\.3\.5:70000/);
    await server.close();
    assert.equal(await udpHandles(), before);
  });

  it("probeBy picks the prober of the method", async () => {
    const port = await closedPort();
    const udp = await probeBy({ protocol: "UDP" }, HOST, port, 1000);
    assert.match(udp.description, /ICMP unreachable/);
    const tcp = await probeBy({ protocol: "TCP" }, HOST, port, 1000);
    assert.doesNotMatch(tcp.description, /ICMP/, "a TCP probe of a port without a TCP listener is refused by RST");
    assert.equal(tcp.code, "L4CON");
  });
});

/** Resolves with the state of the first transition, or rejects after `withinMs`. */
function firstTransition(monitor: HealthMonitor, withinMs: number): Promise<{ to: HealthState; after: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no transition within ${withinMs} ms`)), withinMs);
    monitor.once("transition", (_key, _from, to) => {
      clearTimeout(timer);
      resolve({ to, after: performance.now() - started });
    });
  });
}

describe("HealthMonitor with UDP checks against real UDP servers (real time)", function () {
  this.timeout(15_000);
  const timing = { timeoutMs: 300, intervalMs: 200, healthyThreshold: 2, unhealthyThreshold: 2 };
  const longestDelay = timing.intervalMs * (1 + DEFAULT_JITTER_PERCENT / 100);
  /** The documented bound: the failure window plus one interval before the first probe. */
  const failureBound = failureWindowMs(timing) + longestDelay + SLACK_MS;

  async function judge(port: number, method: ProbeMethod): Promise<{ to: HealthState; after: number; code?: string }> {
    const monitor = new HealthMonitor();
    const target: ProbeTarget = { key: `dns|${HOST}:${port}`, host: HOST, port, method, ...timing };
    try {
      const transition = firstTransition(monitor, failureBound);
      monitor.setTargets([target]);
      const result = await transition;
      return { ...result, code: monitor.get(target.key)?.lastProbe?.code };
    } finally {
      monitor.close();
    }
  }

  it("a closed port: Unhealthy within the failure window plus one interval", async () => {
    const result = await judge(await closedPort(), { protocol: "UDP" });
    assert.deepEqual([result.to, result.code], ["Unhealthy", "L4CON"]);
    assert.ok(result.after <= failureBound, `after ${result.after} ms`);
  });

  it("an open port that stays silent: Healthy", async () => {
    const server = await udpServer();
    try {
      const result = await judge(server.port, { protocol: "UDP" });
      assert.deepEqual([result.to, result.code], ["Healthy", "L4OK"]);
    } finally {
      await server.close();
    }
  });

  it("with udpRequest: a server that answers the expected string is Healthy; a wrong answer or none is Unhealthy", async () => {
    const method: ProbeMethod = { protocol: "UDP", request: "ping", expectedResponse: "pong" };
    const pong = await udpServer((req) => (req.toString() === "ping" ? "pong" : undefined));
    const wrong = await udpServer(() => "nope");
    const silent = await udpServer();
    try {
      const answered = await judge(pong.port, method);
      assert.deepEqual([answered.to, answered.code], ["Healthy", "L4OK"]);
      const answeredWrong = await judge(wrong.port, method);
      assert.deepEqual([answeredWrong.to, answeredWrong.code], ["Unhealthy", "L7RSP"]);
      const answeredNothing = await judge(silent.port, method);
      assert.deepEqual([answeredNothing.to, answeredNothing.code], ["Unhealthy", "L4TOUT"]);
      assert.ok(answeredNothing.after <= failureBound, `after ${answeredNothing.after} ms`);
    } finally {
      await Promise.all([pong.close(), wrong.close(), silent.close()]);
    }
  });
});
