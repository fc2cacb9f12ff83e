/**
 * The runtime probes a UDP service's members with UDP checks, end to end: configuration ->
 * planner -> health monitor -> status, against real UDP servers on loopback. Timings are the
 * model's minimums scaled by 0.1 (timeout 200 ms, interval 500 ms), as in runtime.test.ts.
 *
 * Addresses: forwarder 127.0.4.8, members 127.0.2.61-63.
 */
import { strict as assert } from "node:assert";
import * as dgram from "node:dgram";
import { waitFor } from "../support/wait";
import { failureWindowMs } from "../../provider/health";
import type { ForwarderRuntime } from "../../provider/forwarder/runtime/runtime";
import type { BackendServiceStatus } from "../../provider/forwarder/runtime/status";
import { ConfigBuilder } from "./helpers/config";
import { startRuntime } from "./helpers/runtime";

const SCALE = 0.1;
const SLACK_MS = 600;

/** A UDP server on `host`:`port` (0: any) answering "pong" to "ping" when `answers`, else silent. */
async function udpServer(host: string, port: number, answers: boolean): Promise<dgram.Socket> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (message, from) => {
    if (answers && message.toString() === "ping") socket.send("pong", from.port, from.address);
  });
  await new Promise<void>((resolve) => socket.bind(port, host, resolve));
  return socket;
}

const closeSocket = (socket: dgram.Socket): Promise<void> => new Promise((resolve) => socket.close(() => resolve()));

describe("forwarder runtime: UDP health checks (real UDP sockets, health timings x0.1)", function () {
  this.timeout(20_000);
  let runtime: ForwarderRuntime;
  const servers: dgram.Socket[] = [];

  beforeEach(() => {
    ({ runtime } = startRuntime({ dataPlane: { listenAddress: "127.0.4.8" }, health: { timeScale: SCALE } }));
  });
  afterEach(async () => {
    await runtime.close();
    await Promise.all(servers.splice(0).map(closeSocket));
  });

  function healthOf(service: string): Record<string, string> {
    const svc = runtime.status().backendServices.find((s) => s.id === service) as BackendServiceStatus;
    return Object.fromEntries(svc.members.map((m) => [m.address, m.health]));
  }

  it("a UDP service without a check: a silent member is Healthy, a closed port Unhealthy within the failure window plus one interval", async () => {
    const open = await udpServer("127.0.2.61", 0, false);
    servers.push(open);
    const port = open.address().port; // 127.0.2.62 has nothing on it: ICMP port-unreachable
    const started = Date.now();
    await runtime.apply(
      new ConfigBuilder()
        .virtualGroup("g", { members: [{ address: "127.0.2.61" }, { address: "127.0.2.62" }] })
        .service("dns", { protocol: "UDP", port, serverGroup: "g" })
        .build(),
    );
    // Defaults scaled: timeout 300 ms, interval 500 ms, 3 failures.
    const bound = failureWindowMs({ timeoutMs: 300, intervalMs: 500, unhealthyThreshold: 3 }) + 500 * 1.2 + SLACK_MS;
    await waitFor(() => healthOf("dns")["127.0.2.62"] === "Unhealthy", bound, "the closed port to turn Unhealthy");
    assert.ok(Date.now() - started <= bound, `Unhealthy after ${Date.now() - started} ms`);
    await waitFor(() => healthOf("dns")["127.0.2.61"] === "Healthy", 2000, "the silent member to be Healthy");
  });

  it("a UDP check with udpRequest: the member that answers as expected is Healthy, the silent one Unhealthy", async () => {
    const answering = await udpServer("127.0.2.61", 0, true);
    servers.push(answering);
    const port = answering.address().port;
    servers.push(await udpServer("127.0.2.63", port, false));
    await runtime.apply(
      new ConfigBuilder()
        .healthCheck("hc", { protocol: "UDP", udpRequest: "ping", udpExpectedResponse: "pong", timeoutSeconds: 2, intervalSeconds: 5, unhealthyThreshold: 2 })
        .virtualGroup("g", { members: [{ address: "127.0.2.61" }, { address: "127.0.2.63" }] })
        .service("dns", { protocol: "UDP", port, serverGroup: "g", healthCheck: "hc" })
        .build(),
    );
    await waitFor(() => healthOf("dns")["127.0.2.63"] === "Unhealthy", 5000, "the silent member to turn Unhealthy");
    assert.equal(healthOf("dns")["127.0.2.61"], "Healthy");
  });
});
