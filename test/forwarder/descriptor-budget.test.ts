/**
 * The descriptor budget across listeners: a node (the real CLI, `--workers 0`, so the admin API,
 * the store and the data plane share one descriptor table) under `ulimit -n 1200` with two
 * listeners, both flooded at once past what the process can hold. Every client is either served
 * or reset and counted as rejected `limit`; no accept fails with EMFILE; and configuration writes
 * (which open the state file) keep succeeding during the flood. Both engines.
 *
 * Addresses: node 127.0.4.81 (admin 127.0.4.80), member 127.0.4.82, clients 127.3.x.y.
 */
import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { connectionBudget } from "../../provider/forwarder/dataplane/descriptors";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import type { DataPlaneEngine } from "../../provider/forwarder/options";
import { closeServer, echoServer, freePorts } from "../support/net";
import { waitFor } from "../support/wait";
import { call, SEED, samples, tempStateDir, TOKEN } from "./admin-fixture";
import { sourceAddress } from "./helpers/clients";

const MAIN = path.resolve(__dirname, "../../provider/forwarder/main.js");
const NODE = "127.0.4.81";
const MEMBER = "127.0.4.82";
const OPEN_FILES = 1200;
/** Per listener: under each listener's own limit, over the process's budget for the two together. */
const CLIENTS_PER_LISTENER = 300;

type Outcome = "served" | "reset" | "no answer";

/** Connects, sends a line, and says whether it came back (served), the node reset the client, or neither within `timeoutMs`. */
function tryClient(port: number, localAddress: string, held: net.Socket[], timeoutMs: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    const socket = net.connect({ host: NODE, port, localAddress });
    held.push(socket);
    const timer = setTimeout(() => resolve("no answer"), timeoutMs);
    const done = (outcome: Outcome): void => {
      clearTimeout(timer);
      resolve(outcome);
    };
    socket.on("error", () => done("reset"));
    socket.on("close", () => done("reset"));
    socket.once("data", () => done("served"));
    socket.once("connect", () => socket.write("hello\n"));
  });
}

/** Starts the CLI under `ulimit -n OPEN_FILES`; resolves with its admin URL and its log lines. */
async function startNode(engine: DataPlaneEngine, stateDir: string): Promise<{ child: ChildProcess; url: string; log: string[] }> {
  const args = ["--admin-listen", "127.0.4.80:0", "--listen-address", NODE, "--state-dir", stateDir, "--workers", "0", "--engine", engine];
  const child = spawn("bash", ["-c", `ulimit -n ${OPEN_FILES} && exec "$0" "$@"`, process.execPath, MAIN, ...args], {
    env: { PATH: process.env.PATH, DNLB_ADMIN_TOKEN: TOKEN, DNLB_HASH_SEED: SEED },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const log: string[] = [];
  let pending = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    log.push(...lines);
  });
  await waitFor(() => log.some((l) => l.includes('"msg":"ready"')) || child.exitCode !== null, 10_000, "the node to be ready");
  const ready = log.find((l) => l.includes('"msg":"ready"'));
  assert.ok(ready !== undefined, `the node exited: ${log.join("\n")}`);
  return { child, url: `http://${(JSON.parse(ready) as { admin: string }).admin}`, log };
}

const ENGINES: DataPlaneEngine[] = nativeRelayUnavailable() === undefined ? ["native", "streams"] : ["streams"];

describe("descriptor budget across listeners", function () {
  this.timeout(60_000);

  for (const engine of ENGINES) {
    it(`${engine}: a flood on two listeners is served or rejected as limit, never EMFILE, and configuration writes keep working`, async () => {
      const budget = connectionBudget(OPEN_FILES) as number;
      assert.ok(budget < 2 * CLIENTS_PER_LISTENER && budget > CLIENTS_PER_LISTENER, "the flood must exceed the budget only with both listeners");
      const member = await echoServer(MEMBER);
      const memberPort = (member.address() as net.AddressInfo).port;
      const [portA, portB] = await freePorts(NODE, 2);
      const stateDir = await tempStateDir("descriptors");
      const { child, url, log } = await startNode(engine, stateDir);
      const held: net.Socket[] = [];
      try {
        const put = (urlPath: string, body: unknown) => call(url, "PUT", urlPath, { body });
        for (const [urlPath, body] of [
          ["/v1/server-groups/g", { type: "virtual", name: "g", members: [{ address: MEMBER, port: memberPort }] }],
          ["/v1/backend-services/web", samples.backendService("web", { serverGroup: "g", port: memberPort })],
          ["/v1/listeners/a", samples.listener("a", portA)],
          ["/v1/listeners/b", samples.listener("b", portB)],
        ] as const) {
          const reply = await put(urlPath, body);
          assert.equal(reply.status, 201, reply.text);
        }
        await waitFor(async () => (await call(url, "GET", "/v1/status")).json?.listeners?.every((l: { state: string }) => l.state === "Listening"), 5000, "both listeners to listen");

        const flood = [];
        for (let i = 0; i < CLIENTS_PER_LISTENER; i++) {
          flood.push(tryClient(portA, sourceAddress(2 * i), held, 15_000));
          flood.push(tryClient(portB, sourceAddress(2 * i + 1), held, 15_000));
        }
        // Configuration writes while the flood comes in, and once it holds every connection it can:
        // each one rewrites the state file.
        const writes: number[] = [];
        const write = async (i: number): Promise<void> => {
          const reply = await put(`/v1/server-groups/extra-${i}`, { type: "virtual", name: `extra-${i}`, members: [{ address: MEMBER, port: memberPort }] });
          writes.push(reply.status);
          assert.equal(reply.status, 201, `PUT during the flood: ${reply.text}`);
        };
        for (let i = 0; i < 3; i++) await write(i);
        const outcomes = await Promise.all(flood);
        for (let i = 3; i < 6; i++) await write(i);
        const count = (o: Outcome): number => outcomes.filter((x) => x === o).length;
        const metrics = (await call(url, "GET", "/metrics")).text;
        const limitRejected = [...metrics.matchAll(/^dnlb_listener_connections_rejected_total\{[^}]*reason="limit"[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
        const emfile = log.filter((l) => /EMFILE|ENFILE/.test(l));
        console.log(
          `      ulimit -n ${OPEN_FILES}, budget ${budget}: ${outcomes.length} clients, ${count("served")} served, ${count("reset")} reset (${limitRejected} counted as limit), ` +
            `${count("no answer")} unanswered; ${writes.length} PUTs during the flood: ${writes.join(", ")}; ${emfile.length} EMFILE log lines`,
        );
        assert.deepEqual(emfile, [], "no accept failed for want of descriptors");
        assert.equal(count("no answer"), 0, "every client is served or reset");
        assert.equal(count("served"), budget, "the budget is used up, and not exceeded");
        assert.equal(limitRejected, count("reset"), "every reset client is counted as rejected limit");
        assert.equal(child.exitCode, null, "the node is still running");
      } finally {
        for (const s of held) s.destroy();
        child.kill("SIGTERM");
        await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)));
        await closeServer(member);
      }
    });
  }
});
