/**
 * The native relay out of descriptors: with the open-files limit reached, accepting pauses
 * (clients wait in the listen backlog, nothing spins, the node says why) and resumes by itself
 * once connections close. A data plane in a child process under `ulimit -n 64`.
 */
import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { freePort } from "../support/net";
import { delay, waitFor } from "../support/wait";
import { nativeRelayUnavailable } from "../../provider/forwarder/native/relay";
import { closeAll, TestBackend } from "./helpers/backends";
import { connect } from "./helpers/clients";
import { readFileSync } from "node:fs";

/** utime + stime of a process, in seconds (Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

const HOST = "127.0.4.41";
const OPEN_FILES = 64;

describe("native relay out of descriptors", function () {
  this.timeout(30_000);

  it("pauses accepting at the open-files limit, says so, and serves the waiting clients once descriptors free up", async function () {
    if (nativeRelayUnavailable() !== undefined && process.env.DNLB_REQUIRE_NATIVE !== "1") this.skip();
    const backend = await TestBackend.start({ host: "127.0.4.42", mode: "echo" });
    const port = await freePort(HOST);
    const script = path.join(__dirname, "helpers", "fd-limited-dataplane.js");
    const child = spawn("bash", ["-c", `ulimit -n ${OPEN_FILES} && exec "$0" "$@"`, process.execPath, script, HOST, String(port), backend.host, String(backend.port)], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const events: { type: string; error?: string }[] = [];
    let buffered = "";
    child.stdout.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let i = buffered.indexOf("\n"); i >= 0; i = buffered.indexOf("\n")) {
        events.push(JSON.parse(buffered.slice(0, i)) as { type: string; error?: string });
        buffered = buffered.slice(i + 1);
      }
    });
    const held: net.Socket[] = [];
    try {
      await waitFor(() => events.some((e) => e.type === "ready"), 10_000, "the data plane to start");
      // Each proxied connection holds two descriptors: far fewer than 40 fit under 64.
      const answered = new Set<net.Socket>();
      for (let i = 0; i < 40; i++) {
        const socket = await connect({ host: HOST, port });
        socket.on("error", () => undefined);
        socket.once("data", () => answered.add(socket));
        held.push(socket);
        socket.write(`hello ${i}\n`);
      }
      await waitFor(() => events.some((e) => e.type === "listener-error" && /EMFILE/.test(e.error ?? "")), 3000, "the listener to report EMFILE");
      const cpuBefore = cpuSeconds(child.pid as number);
      await delay(1000);
      const pausedCpu = cpuSeconds(child.pid as number) - cpuBefore;
      assert.ok(pausedCpu < 0.3, `the paused listener used ${pausedCpu.toFixed(2)} s of CPU in 1 s (it must not spin)`);
      const served = held.filter((s) => answered.has(s));
      const waiting = held.filter((s) => !answered.has(s));
      console.log(`      ${served.length} of 40 served at the limit; ${pausedCpu.toFixed(2)} s of CPU in the paused second`);
      assert.ok(served.length > 5 && served.length < 30, `served ${served.length} of 40 (the limit should stop it between)`);
      assert.equal(waiting.filter((s) => s.destroyed).length, 0, "clients beyond the limit wait in the backlog (not reset)");
      // Free the descriptors: the clients that waited are accepted and served.
      for (const s of served) s.destroy();
      await waitFor(() => waiting.every((s) => answered.has(s)), 5000, "the waiting clients to be served");
      assert.equal(child.exitCode, null, "the data plane is still running");
    } finally {
      for (const s of held) s.destroy();
      child.stdin.end();
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once("exit", resolve)));
      await closeAll([backend]);
    }
  });
});
