/**
 * Existing connections survive every configuration change: 20 long-lived streams keep flowing
 * while the configuration changes 100 times (weights, members added and removed, algorithm,
 * timeouts, health checks switched and turned off and on) and a second listener is added and
 * removed. No stream may be dropped, and every byte must come back in order (SHA-256 of what
 * was sent against what was echoed).
 *
 * Addresses: forwarder 127.0.4.3, backends 127.0.2.21-23, clients 127.6.x.y.
 */
import { strict as assert } from "node:assert";
import { freePort } from "../support/net";
import { delay, waitFor } from "../support/wait";
import type { ForwarderRuntime } from "../../provider/forwarder/runtime/runtime";
import { closeAll, TestBackend } from "./helpers/backends";
import { connect, EchoStream, identify, readLine, sourceAddress, tally } from "./helpers/clients";
import { ConfigBuilder } from "./helpers/config";
import { startRuntime } from "./helpers/runtime";

const FORWARDER = "127.0.4.3";
const src = (i: number): string => sourceAddress(i, 6);

describe("forwarder runtime: connections survive configuration changes", function () {
  this.timeout(60_000);
  let backends: TestBackend[] = [];
  let runtime: ForwarderRuntime | undefined;

  after(async () => {
    await runtime?.close();
    await closeAll(backends);
  });

  it("20 streams keep every byte, in order, through 100 configuration changes and a listener added and removed", async () => {
    const port = await freePort("127.0.2.21");
    const healthPort = await freePort("127.0.2.21");
    backends = await Promise.all([
      TestBackend.start({ host: "127.0.2.21", port, name: "x" }),
      TestBackend.start({ host: "127.0.2.22", port, name: "y" }),
      TestBackend.start({ host: "127.0.2.23", port, name: "z" }),
      ...["127.0.2.21", "127.0.2.22", "127.0.2.23"].map((host) => TestBackend.start({ host, port: healthPort, mode: "echo" })),
    ]);
    const lport = await freePort(FORWARDER);
    const lport2 = await freePort(FORWARDER);
    ({ runtime } = startRuntime({ dataPlane: { listenAddress: FORWARDER }, health: { timeScale: 0.1 } }));
    const rt = runtime;

    const configFor = (i: number) => {
      const withZ = i % 10 >= 5;
      const builder = new ConfigBuilder()
        .healthCheck("hc1", { port: healthPort, unhealthyThreshold: 2, healthyThreshold: 2 })
        .healthCheck("hc2", { port: healthPort, unhealthyThreshold: 3, healthyThreshold: 1, intervalSeconds: 6 })
        .virtualGroup("g1", {
          members: [
            { address: "127.0.2.21", weight: 10 + (i % 40) },
            { address: "127.0.2.22", weight: 50 - (i % 40) },
            ...(withZ ? [{ address: "127.0.2.23" }] : []),
          ],
        })
        .service("s1", {
          port,
          serverGroup: "g1",
          algorithm: i % 3 === 0 ? "QuintupleHash" : "IpHash",
          healthCheck: i % 4 < 2 ? "hc1" : "hc2",
          healthCheckEnabled: i % 7 !== 3,
          idleTimeoutSeconds: 60 + (i % 5),
        })
        .listener("l1", { port: lport, backendService: "s1" });
      if (i >= 30 && i < 60) builder.listener("l2", { port: lport2, backendService: "s1" });
      return builder.build();
    };

    await rt.apply(configFor(0));
    await waitFor(() => rt.status().backendServices[0].members.every((m) => m.health === "Healthy"), 3000, "members healthy");

    const streams: EchoStream[] = [];
    for (let i = 0; i < 20; i++) {
      const socket = await connect({ host: FORWARDER, port: lport, localAddress: src(i) });
      await readLine(socket); // the member's name, then an echo
      streams.push(new EchoStream(socket, 16 * 1024, 20));
    }
    assert.equal(rt.status().listeners[0].activeConnections, 20);

    const viaSecond: string[] = [];
    for (let i = 1; i <= 100; i++) {
      const result = await rt.apply(configFor(i));
      assert.deepEqual(result.listenerErrors, new Map(), `change ${i}`);
      if (i >= 30 && i < 60 && i % 10 === 5) viaSecond.push(await identify({ host: FORWARDER, port: lport2, localAddress: src(100 + i) }));
      await delay(15);
    }
    assert.equal(viaSecond.length, 3, "the added listener took clients");
    assert.ok(viaSecond.every((n) => ["x", "y", "z"].includes(n)), JSON.stringify(viaSecond));
    assert.equal(rt.status().listeners.length, 1, "the second listener is gone again");

    const results = await Promise.all(streams.map((s) => s.stop()));
    const dropped = results.filter((r) => r.closedEarly !== undefined);
    assert.deepEqual(dropped, [], "no stream was dropped");
    let total = 0;
    results.forEach((r, i) => {
      assert.equal(r.bytesReceived, r.bytesSent, `stream ${i}: every byte came back`);
      assert.equal(r.received, r.sent, `stream ${i}: in order`);
      total += r.bytesSent;
    });
    console.log(`      ${results.length} streams carried ${(total / 2 ** 20).toFixed(1)} MiB each way through 100 changes; members: ${JSON.stringify([...tally(viaSecond)])}`);
    assert.ok(total > 20 * 16 * 1024 * 50, `the streams really streamed (${total} bytes)`);
  });
});
