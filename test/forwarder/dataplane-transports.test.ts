/**
 * Listeners are unique by (protocol, port): a UDP listener's port is not a TCP port. The TCP data
 * plane binds a UDP listener as UDP only (dgram, udp-listener.ts) and never accepts TCP connections
 * on its port.
 */
import { strict as assert } from "node:assert";
import { freePort } from "../support/net";
import { DataPlane, type DataPlaneEngine } from "../../provider/forwarder/dataplane/dataplane";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import type { DataPlanePlan, ServicePlan } from "../../provider/forwarder/dataplane/plan";
import { memberKey } from "../../provider/hashing";
import { closeAll, TestBackend } from "./helpers/backends";
import { identify, tryIdentify } from "./helpers/clients";
import { TEST_HASH_SEED } from "./helpers/runtime";

const FORWARDER = "127.0.4.7";
const ENGINES: DataPlaneEngine[] = nativeRelayUnavailable() === undefined ? ["native", "streams"] : ["streams"];

function service(id: string, backend: TestBackend, protocol: "TCP" | "UDP"): ServicePlan {
  const key = memberKey({ address: backend.host, port: backend.port });
  return {
    id,
    protocol,
    algorithm: "IpHash",
    proxyProtocol: "off",
    idleTimeoutMs: 900_000,
    drainingTimeoutMs: 0,
    table: [{ key, address: backend.host, port: backend.port, weight: 10 }],
    retained: [key],
  };
}

for (const engine of ENGINES) describe(`data plane: TCP and UDP listeners (engine ${engine})`, function () {
  this.timeout(20_000);
  let backend: TestBackend;
  let dp: DataPlane;

  before(async () => {
    backend = await TestBackend.start({ host: "127.0.2.1", name: "a" });
  });
  after(async () => closeAll([backend]));
  beforeEach(() => {
    dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine });
  });
  afterEach(async () => dp.close());

  it("does not take TCP connections on a UDP listener's port", async () => {
    const port = await freePort(FORWARDER);
    const plan: DataPlanePlan = {
      services: [service("dns", backend, "UDP")],
      listeners: [{ id: "dns-udp", protocol: "UDP", port, serviceId: "dns" }],
    };
    assert.deepEqual(await dp.apply(plan), new Map());
    assert.equal((await tryIdentify({ host: FORWARDER, port })).error, "ECONNREFUSED");
    const udp = dp.stats().listeners.find((l) => l.id === "dns-udp");
    assert.deepEqual(udp?.udp, { datagramsIn: 0, datagramsOut: 0, evictions: 0 }, "the listener is a UDP one, with datagram counters");
  });

  it("serves the TCP listener of a port that a UDP listener shares", async () => {
    const port = await freePort(FORWARDER);
    const plan: DataPlanePlan = {
      services: [service("web", backend, "TCP"), service("dns", backend, "UDP")],
      listeners: [
        { id: "dns-udp", protocol: "UDP", port, serviceId: "dns" },
        { id: "web-tcp", protocol: "TCP", port, serviceId: "web" },
      ],
    };
    assert.deepEqual(await dp.apply(plan), new Map());
    assert.equal(await identify({ host: FORWARDER, port }), "a");
    const states = dp.stats().listeners.map((l) => [l.id, l.state, l.udp === undefined ? "TCP" : "UDP"]);
    assert.deepEqual(states.sort(), [["dns-udp", "Listening", "UDP"], ["web-tcp", "Listening", "TCP"]]);
  });
});
