/**
 * A native data plane in a process of its own, for the descriptor-exhaustion test: started by
 * the test under a low open-files limit (`ulimit -n`), it forwards one listener to one member
 * and prints its data-plane events as JSON lines. Arguments: listen address, listen port,
 * member address, member port.
 */
import { DataPlane } from "../../../provider/forwarder/dataplane/dataplane";
import { memberKey } from "../../../provider/hashing";
import { TEST_HASH_SEED } from "./runtime";

async function main(): Promise<void> {
  const [listenAddress, port, memberAddress, memberPort] = process.argv.slice(2);
  const dp = new DataPlane({
    listenAddress,
    hashSeed: TEST_HASH_SEED,
    engine: "native",
    // No descriptor budget: this child shows what the relay does when descriptors do run out.
    maxConnections: Number.MAX_SAFE_INTEGER,
    onEvent: (event) => process.stdout.write(`${JSON.stringify(event)}\n`),
  });
  const member = { key: memberKey({ address: memberAddress, port: Number(memberPort) }), address: memberAddress, port: Number(memberPort), weight: 1 };
  await dp.apply({
    listeners: [{ id: "l", port: Number(port), serviceId: "s" }],
    services: [{ id: "s", algorithm: "IpHash", proxyProtocol: "off", idleTimeoutMs: 60_000, drainingTimeoutMs: 0, table: [member], retained: [member.key] }],
  });
  process.stdout.write(`${JSON.stringify({ type: "ready" })}\n`);
  process.stdin.resume();
  process.stdin.on("end", () => void dp.close().then(() => process.exit(0)));
}

void main();
