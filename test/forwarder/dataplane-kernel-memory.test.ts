/**
 * Kernel memory per connection (native engine): 200 clients write as fast as back-pressure lets
 * them to a member that never reads. With the sockets' buffers capped (socketBufferBytes), what the
 * node's sockets pin is bounded per connection; and once the clients reset, the stalled
 * connections are reset on both sides within abandonedTimeoutMs instead of living until the idle
 * timeout. Prints the host's TCP memory (/proc/net/sockstat) before, stalled, and after.
 *
 * Addresses: forwarder 127.0.4.61, member 127.0.4.62, clients 127.3.x.y.
 */
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as net from "node:net";
import { freePort, listen, closeServer } from "../support/net";
import { delay, waitFor } from "../support/wait";
import { DataPlane } from "../../provider/forwarder/dataplane/dataplane";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import { DEFAULTS } from "../../provider/forwarder/options";
import { memberKey } from "../../provider/hashing";
import { connect, sourceAddress } from "./helpers/clients";
import { TEST_HASH_SEED } from "./helpers/runtime";

const FORWARDER = "127.0.4.61";
const MEMBER = "127.0.4.62";
const CLIENTS = 200;
const PAGE = 4096;
const MiB = 1024 * 1024;

/** Kernel TCP memory of the whole host, in bytes (the `mem` pages of /proc/net/sockstat). */
function tcpMemoryBytes(): number {
  const match = /^TCP:.* mem (\d+)/m.exec(readFileSync("/proc/net/sockstat", "utf8"));
  assert.ok(match !== null, "/proc/net/sockstat has no TCP mem figure");
  return Number(match[1]) * PAGE;
}

/**
 * Bytes the kernel holds for the node's sockets (`ss -tm`: receive + send queues and their
 * overhead), the forwarder side of each connection only, and the largest buffer size it granted.
 */
function nodeSocketMemory(port: number): { bytes: number; sockets: number; largestBuffer: number } {
  const out = execFileSync("ss", ["-tmnH", `( src ${FORWARDER}:${port} or dst ${MEMBER} )`], { encoding: "utf8" });
  let bytes = 0;
  let sockets = 0;
  let largestBuffer = 0;
  for (const match of out.matchAll(/skmem:\(r(\d+),rb(\d+),t(\d+),tb(\d+),f\d+,w(\d+)/g)) {
    const [rmem, rcvbuf, wmem, sndbuf, queued] = match.slice(1).map(Number);
    bytes += rmem + wmem + queued;
    sockets++;
    largestBuffer = Math.max(largestBuffer, rcvbuf, sndbuf);
  }
  return { bytes, sockets, largestBuffer };
}

/** Writes until the node stops taking bytes (no 'drain' for `quietMs`); resolves with the bytes written. */
function writeUntilStalled(socket: net.Socket, quietMs: number): Promise<number> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let written = 0;
  return new Promise<number>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const pump = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      while (!socket.destroyed) {
        written += chunk.length;
        if (!socket.write(chunk)) break;
      }
      timer = setTimeout(() => {
        socket.off("drain", pump);
        resolve(written);
      }, quietMs);
    };
    socket.on("drain", pump);
    pump();
  });
}

describe("kernel memory per connection (native engine)", function () {
  this.timeout(60_000);

  it("bounds what a non-reading member pins per connection, and resets connections whose clients are gone within abandonedTimeoutMs", async function () {
    if (nativeRelayUnavailable() !== undefined && process.env.DNLB_REQUIRE_NATIVE !== "1") this.skip();
    // The member accepts and never reads a byte.
    const held: net.Socket[] = [];
    const member = net.createServer({ pauseOnConnect: true }, (socket) => {
      socket.on("error", () => undefined);
      held.push(socket);
    });
    const memberPort = await listen(member, MEMBER);
    const port = await freePort(FORWARDER);
    const abandonedTimeoutMs = 1000;
    const dp = new DataPlane({ listenAddress: FORWARDER, hashSeed: TEST_HASH_SEED, engine: "native", abandonedTimeoutMs });
    const key = memberKey({ address: MEMBER, port: memberPort });
    const clients: net.Socket[] = [];
    try {
      await dp.apply({
        listeners: [{ id: "l", port, serviceId: "s" }],
        services: [
          {
            id: "s",
            algorithm: "IpHash",
            proxyProtocol: "off",
            idleTimeoutMs: 900_000,
            drainingTimeoutMs: 0,
            table: [{ key, address: MEMBER, port: memberPort, weight: 1 }],
            retained: [key],
          },
        ],
      });
      const before = tcpMemoryBytes();
      for (let i = 0; i < CLIENTS; i++) clients.push(await connect({ host: FORWARDER, port, localAddress: sourceAddress(i) }));
      const written = await Promise.all(clients.map((c) => writeUntilStalled(c, 1500)));
      const stalled = tcpMemoryBytes();
      await waitFor(() => nodeSocketMemory(port).sockets === 2 * CLIENTS, 5000, "every connection to be open on both sides");
      const node = nodeSocketMemory(port);
      const perConnection = node.bytes / CLIENTS;
      const cap = DEFAULTS.dataPlane.socketBufferBytes;
      console.log(
        `      ${CLIENTS} clients stalled after ${(written.reduce((a, b) => a + b, 0) / CLIENTS / MiB).toFixed(2)} MiB each; ` +
          `host TCP memory ${(before / MiB).toFixed(1)} MiB before, ${(stalled / MiB).toFixed(1)} MiB stalled; ` +
          `the node's ${node.sockets} sockets hold ${(node.bytes / MiB).toFixed(1)} MiB (${(perConnection / 1024).toFixed(0)} KiB a connection, buffers at most ${node.largestBuffer / 1024} KiB)`,
      );
      // The kernel doubles a capped buffer; two sockets a connection, each at most its doubled cap (plus one skb of slack).
      assert.ok(node.largestBuffer <= 2 * cap, `a buffer of ${node.largestBuffer} bytes exceeds twice the ${cap}-byte cap`);
      assert.ok(perConnection <= 2 * (2 * cap) + 128 * 1024, `the node holds ${perConnection} bytes a connection`);

      // The clients vanish with a reset; the member still takes nothing.
      const resetAt = Date.now();
      for (const c of clients) c.resetAndDestroy();
      // The stall began before the resets: closed within a quarter of the timeout plus two sweeps (and slack for a busy host).
      await waitFor(() => dp.stats().listeners[0].active === 0, abandonedTimeoutMs * 1.25 + 1500, "the abandoned connections to be reset");
      const closedAfterMs = Date.now() - resetAt;
      await delay(200);
      const after = tcpMemoryBytes();
      console.log(`      clients reset: every connection closed ${closedAfterMs} ms later (abandonedTimeoutMs ${abandonedTimeoutMs}); host TCP memory ${(after / MiB).toFixed(1)} MiB`);
      assert.equal(nodeSocketMemory(port).sockets, 0, "the node keeps no socket of the abandoned connections");
    } finally {
      for (const c of clients) c.destroy();
      await dp.close();
      for (const s of held) s.destroy();
      await closeServer(member);
    }
  });
});
