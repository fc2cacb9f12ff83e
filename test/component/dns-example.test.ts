import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import { DNS_EXAMPLE, HEALTH_QUERY } from "../../examples/dns/settings";
import { checkBackendService, checkHealthCheck, checkListener } from "../../provider/model/check";
import { promiseOf } from "../support/pulumi";
import { waitFor } from "../support/wait";
import { RecordingMocks } from "./mocks";

/** examples/dns under the mocked engine: a UDP service of DNS servers with a DNS health check. */
describe("dns example (mocked engine)", function () {
  // The LoadBalancer stages the image build context (copies the forwarder and its modules).
  this.timeout(60_000);

  it("declares a UDP listener on port 5353, a UDP service with a DNS-question check, and a group of two DNS servers", async function () {
    const mocks = new RecordingMocks();
    await pulumi.runtime.setMocks(mocks, "dnlb-dns", "dev", false);
    const outputs = require("../../examples/dns/index") as typeof import("../../examples/dns/index");
    assert.deepEqual(await promiseOf(outputs.endpoints), ["http://127.0.1.41:9180", "http://127.0.1.42:9180"]);
    assert.equal(outputs.tryIt, "dig @127.0.1.41 -p 5353 whoami.dnlb A");
    // The listener is the last resource the program declares, and no output depends on it.
    await waitFor(() => mocks.registered.some((r) => r.name === "dns-listener") || undefined, 20_000, "the listener to be registered");

    const listener = mocks.named("dns-listener");
    assert.equal(listener.inputs.protocol, "UDP");
    assert.equal(listener.inputs.port, DNS_EXAMPLE.listenerPort);
    const service = mocks.named("dns-service");
    assert.equal(service.inputs.protocol, "UDP");
    assert.equal(service.inputs.port, 5300);
    const check = mocks.named("dns-check");
    assert.equal(check.inputs.protocol, "UDP");
    assert.equal(check.inputs.udpRequest, HEALTH_QUERY);
    const members = (mocks.named("dns-servers").inputs.members as { address: string; port: number }[]).map((m) => `${m.address}:${m.port}`);
    assert.deepEqual(members, ["127.0.7.41:5300", "127.0.7.42:5300"]);

    // The servers it declares listen where the group's members are.
    const servers = mocks.ofType("docker:index/container:Container").filter((c) => c.name.startsWith("dns-dns-"));
    assert.deepEqual(servers.map((s) => s.name).sort(), ["dns-dns-a", "dns-dns-b"]);
    for (const server of servers) {
      assert.equal(server.inputs.networkMode, "host");
      const corefile = (server.inputs.uploads as { content: string }[])[0].content;
      const address = DNS_EXAMPLE.servers.find((s) => `dns-${s.label}` === server.name)!.address;
      assert.match(corefile, new RegExp(`^\\.:5300 \\{\\n  bind ${address.replace(/\./g, "\\.")}\\n`));
    }

    // What the provider's check would say of the same inputs: nothing.
    for (const [what, result] of [
      ["health check", checkHealthCheck(ownFields(check.inputs), { defaultName: check.name })],
      ["backend service", checkBackendService(ownFields(service.inputs), { defaultName: service.name })],
      ["listener", checkListener(ownFields(listener.inputs), { defaultName: listener.name })],
    ] as const) {
      assert.deepEqual(result.failures, [], `${what}: ${JSON.stringify(result.failures)}`);
    }
  });

  it("asks a well-formed DNS question in its health check: one question, health.dnlb. A IN", function () {
    const wire = Buffer.from(HEALTH_QUERY, "utf8");
    assert.equal(wire.length, HEALTH_QUERY.length, "every byte below 0x80: the text is the datagram");
    assert.equal(wire.readUInt16BE(4), 1, "QDCOUNT");
    assert.deepEqual([...wire.subarray(12, 25)], [6, ...Buffer.from("health"), 4, ...Buffer.from("dnlb"), 0]);
    assert.deepEqual([...wire.subarray(25)], [0, 1, 0, 1], "QTYPE A, QCLASS IN");
  });
});

/** A dynamic resource's own fields: without the connection and the dynamic provider's bookkeeping (`__`). */
function ownFields(inputs: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(inputs).filter(([key]) => key !== "loadBalancer" && !key.startsWith("__")));
}
