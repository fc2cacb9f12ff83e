import { strict as assert } from "node:assert";
import { spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { parseCli, parseHostPort } from "../../provider/forwarder/cli/arguments";
import { defaultMaxConnections, defaultMaxUdpSessions } from "../../provider/forwarder/cli/limits";
import { connectionBudget, openFilesLimit } from "../../provider/forwarder/dataplane/descriptors";
import { readToken } from "../../provider/forwarder/cli/token";
import { echoServer, freePort, roundTrip } from "../support/net";
import { waitFor } from "../support/wait";
import { call, connects, samples, SEED, tempStateDir, TOKEN } from "./admin-fixture";

/** The real CLI from dist, as a child process, exactly as the container runs it. */
const MAIN = path.resolve(__dirname, "../../provider/forwarder/main.js");

interface Child {
  readonly process: ChildProcess;
  readonly stdout: string[];
  readonly stderr: string[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the parsed ready line, rejects if the process exits first. */
  readonly ready: Promise<{ admin: string; [key: string]: unknown }>;
}

const children = new Set<ChildProcess>();

function start(args: string[], env: Record<string, string | undefined> = {}): Child {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH, DNLB_ADMIN_TOKEN: TOKEN, DNLB_HASH_SEED: SEED, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  let pending = "";
  let onReady: (line: { admin: string }) => void = () => undefined;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once("exit", (code, signal) => {
      children.delete(child);
      resolve({ code, signal });
    }),
  );
  const ready = new Promise<{ admin: string }>((resolve, reject) => {
    onReady = resolve;
    void exit.then(({ code, signal }) =>
      reject(new Error(`exited (${code ?? signal}) before ready: ${stderr.join("")} ${stdout.join("")}`)),
    );
  });
  ready.catch(() => undefined);
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    pending += chunk;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      stdout.push(line);
      try {
        const parsed = JSON.parse(line);
        if (parsed.msg === "ready") onReady(parsed);
      } catch {
        // Asserted separately: every line must be JSON.
      }
    }
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
  return { process: child, stdout, stderr, exit, ready: ready as Child["ready"] };
}

function nodeArgs(stateDir: string, listenAddress: string, extra: string[] = []): string[] {
  return ["--admin-listen", "127.0.5.4:0", "--listen-address", listenAddress, "--state-dir", stateDir, "--node-name", "cli-test", ...extra];
}


async function configure(base: string, listenerPort: number, memberPort: number): Promise<void> {
  const writes: [string, unknown][] = [
    ["/v1/server-groups/g", { type: "virtual", name: "g", members: [{ address: "127.0.5.9", port: memberPort }] }],
    ["/v1/backend-services/web", samples.backendService("web", { serverGroup: "g", port: memberPort })],
    ["/v1/listeners/web-l", samples.listener("web-l", listenerPort)],
  ];
  for (const [url, body] of writes) {
    const reply = await call(base, "PUT", url, { body });
    assert.equal(reply.status, 201, reply.text);
  }
}

function pick(outcome: { seedChanged: unknown; warned: boolean }): { seedChanged: unknown; warned: boolean } {
  return { seedChanged: outcome.seedChanged, warned: outcome.warned };
}

function assertJsonLines(lines: readonly string[]): void {
  for (const line of lines) assert.doesNotThrow(() => JSON.parse(line), `not a JSON line: ${line}`);
}

describe("dnlb-forwarder CLI", function () {
  this.timeout(30_000);

  afterEach(() => {
    for (const child of children) child.kill("SIGKILL");
  });

  it("starts with a JSON ready line and exits 0 on SIGTERM, never logging the token or the seed", async () => {
    const stateDir = await tempStateDir("cli");
    const child = start(nodeArgs(stateDir, "127.0.5.5"));
    const ready = await child.ready;
    assert.match(ready.admin, /^127\.0\.5\.4:\d+$/);
    assert.equal(ready.level, "info");
    assert.equal(ready.node, "cli-test");
    assert.equal(ready.seedSource, "environment");
    assert.deepEqual(ready.objects, { "health-checks": 0, "server-groups": 0, "backend-services": 0, listeners: 0 });
    const readyLine = child.stdout.find((l) => l.includes('"msg":"ready"')) ?? "";
    assert.equal(typeof JSON.parse(readyLine), "object", "the ready line is one JSON object");
    const health = await call(`http://${ready.admin}`, "GET", "/healthz", { token: null });
    assert.equal(health.status, 200);
    child.process.kill("SIGTERM");
    const { code, signal } = await child.exit;
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    assertJsonLines(child.stdout);
    const everything = child.stdout.join("\n") + child.stderr.join("");
    assert.ok(!everything.includes(TOKEN), "token logged");
    assert.ok(!everything.includes(SEED), "seed logged");
    assert.ok(child.stdout.some((l) => JSON.parse(l).msg === "shutting down"));
  });

  it("refuses to start without a token, or with a short one (non-zero exit, clear message)", async () => {
    const stateDir = await tempStateDir("cli");
    const none = start(nodeArgs(stateDir, "127.0.5.5"), { DNLB_ADMIN_TOKEN: undefined });
    assert.notEqual((await none.exit).code, 0);
    assert.match(none.stderr.join(""), /no admin token: set DNLB_ADMIN_TOKEN or pass --token-file/);

    const short = start(nodeArgs(stateDir, "127.0.5.5"), { DNLB_ADMIN_TOKEN: "short-token" });
    assert.notEqual((await short.exit).code, 0);
    assert.match(short.stderr.join(""), /at least 16 characters are required \(got 11\)/);
    assert.ok(!short.stderr.join("").includes("short-token"));

    const missingFile = start(nodeArgs(stateDir, "127.0.5.5", ["--token-file", path.join(stateDir, "nope")]), {
      DNLB_ADMIN_TOKEN: undefined,
    });
    assert.notEqual((await missingFile.exit).code, 0);
    assert.match(missingFile.stderr.join(""), /cannot read the admin token from --token-file .*nope \(ENOENT\)/);

    const usage = start(["--state-dir", stateDir]);
    assert.equal((await usage.exit).code, 2);
    assert.match(usage.stderr.join(""), /--admin-listen HOST:PORT is required/);
  });

  it("reads the token from --token-file", async () => {
    const stateDir = await tempStateDir("cli");
    const tokenFile = path.join(stateDir, "..", `${path.basename(stateDir)}.token`);
    await fs.writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
    const child = start(nodeArgs(stateDir, "127.0.5.5", ["--token-file", tokenFile]), { DNLB_ADMIN_TOKEN: undefined });
    const ready = await child.ready;
    assert.equal((await call(`http://${ready.admin}`, "GET", "/v1/listeners")).status, 200);
    assert.equal((await call(`http://${ready.admin}`, "GET", "/v1/listeners", { token: "x".repeat(32) })).status, 401);
    child.process.kill("SIGTERM");
    assert.equal((await child.exit).code, 0);
  });

  it("says loudly that clients move when restarted on its state directory with another seed, or without the one it had", async () => {
    const stateDir = await tempStateDir("cli");
    const OTHER_SEED = "ffeeddccbbaa99887766554433221100";
    const MOVE_WARNING = /hash seed is not the one this node last ran with.*every client's member may change/;
    const run = async (env: Record<string, string | undefined>) => {
      const child = start(nodeArgs(stateDir, "127.0.5.5", ["--workers", "0"]), env);
      const ready = await child.ready;
      child.process.kill("SIGTERM");
      assert.equal((await child.exit).code, 0);
      const warned = child.stdout.some((l) => JSON.parse(l).level === "warn" && MOVE_WARNING.test(JSON.parse(l).msg));
      return { seedChanged: ready.seedChanged, warned, output: child.stdout.join("\n") };
    };
    assert.deepEqual(pick(await run({})), { seedChanged: false, warned: false }, "first start: nothing to compare");
    assert.deepEqual(pick(await run({})), { seedChanged: false, warned: false }, "same seed");
    assert.deepEqual(pick(await run({ DNLB_HASH_SEED: OTHER_SEED })), { seedChanged: true, warned: true }, "another seed");
    assert.deepEqual(pick(await run({ DNLB_HASH_SEED: OTHER_SEED })), { seedChanged: false, warned: false }, "that seed again");
    const missing = await run({ DNLB_HASH_SEED: undefined });
    assert.deepEqual(pick(missing), { seedChanged: true, warned: true }, "no seed: the state directory's is another one");
    const fingerprint = await fs.readFile(path.join(stateDir, "hash-seed.fingerprint"), "utf8");
    assert.ok(!fingerprint.includes(SEED) && !fingerprint.includes(OTHER_SEED), "the fingerprint is not the seed");
    assert.ok(!missing.output.includes(fingerprint.trim()), "the fingerprint is not logged");
  });

  it("generates and keeps a seed in the state directory when DNLB_HASH_SEED is unset, with a warning", async () => {
    const stateDir = await tempStateDir("cli");
    const child = start(nodeArgs(stateDir, "127.0.5.5"), { DNLB_HASH_SEED: undefined });
    const ready = await child.ready;
    assert.equal(ready.seedSource, "generated");
    const warning = child.stdout.map((l) => JSON.parse(l)).find((l) => l.level === "warn");
    assert.match(warning?.msg ?? "", /Every node of a load balancer must share one seed/);
    const seed = (await fs.readFile(path.join(stateDir, "hash-seed"), "utf8")).trim();
    assert.match(seed, /^[0-9a-f]{32}$/);
    child.process.kill("SIGTERM");
    assert.equal((await child.exit).code, 0);
    assert.ok(!child.stdout.join("\n").includes(seed), "seed logged");

    const again = start(nodeArgs(stateDir, "127.0.5.5"), { DNLB_HASH_SEED: undefined });
    assert.equal((await again.ready).seedSource, "state-dir");
    again.process.kill("SIGTERM");
    assert.equal((await again.exit).code, 0);
  });

  for (const how of ["SIGKILL", "SIGTERM"] as const) {
    it(`restores configuration and listeners from the state directory after ${how}`, async () => {
      const stateDir = await tempStateDir("cli");
      const listenerPort = await freePort("127.0.5.5");
      const backend = await echoServer("127.0.5.9");
      const memberPort = (backend.address() as net.AddressInfo).port;
      try {
        const first = start(nodeArgs(stateDir, "127.0.5.5"));
        const base = `http://${(await first.ready).admin}`;
        await configure(base, listenerPort, memberPort);
        assert.equal(await roundTrip("127.0.5.5", listenerPort, "first life\n"), "first life\n");
        const before = (await call(base, "GET", "/v1/listeners/web-l")).json;

        first.process.kill(how);
        const exited = await first.exit;
        assert.deepEqual(exited, how === "SIGKILL" ? { code: null, signal: "SIGKILL" } : { code: 0, signal: null });
        // Data-plane workers (--workers, default one per CPU) leave when they see their primary
        // gone: the port closes within moments of the primary's exit, not at the same instant.
        const closedBy = Date.now() + 2000;
        while ((await connects("127.0.5.5", listenerPort)) && Date.now() < closedBy) await new Promise((r) => setTimeout(r, 20));
        assert.equal(await connects("127.0.5.5", listenerPort), false);
        assert.deepEqual((await fs.readdir(stateDir)).sort(), ["config.json", "hash-seed.fingerprint"], "only the state file and the seed's fingerprint: no temp file left");

        const second = start(nodeArgs(stateDir, "127.0.5.5"));
        const ready = await second.ready;
        assert.deepEqual(ready.objects, { "health-checks": 0, "server-groups": 1, "backend-services": 1, listeners: 1 });
        const restored = await call(`http://${ready.admin}`, "GET", "/v1/listeners/web-l");
        assert.deepEqual(restored.json, before);
        assert.equal(await roundTrip("127.0.5.5", listenerPort, "second life\n"), "second life\n", "the listener forwards again");
        second.process.kill("SIGTERM");
        assert.equal((await second.exit).code, 0);
      } finally {
        await new Promise<void>((resolve) => backend.close(() => resolve()));
      }
    });
  }

  it("reads the seed from --hash-seed-file and resets clients past --max-connections-per-listener (engine streams)", async () => {
    const stateDir = await tempStateDir("cli");
    const seedFile = path.join(stateDir, "..", `${path.basename(stateDir)}.seed`);
    await fs.writeFile(seedFile, `${SEED}\n`, { mode: 0o600 });
    const listenerPort = await freePort("127.0.5.5");
    const backend = await echoServer("127.0.5.9");
    const held: net.Socket[] = [];
    try {
      const child = start(nodeArgs(stateDir, "127.0.5.5", ["--hash-seed-file", seedFile, "--max-connections-per-listener", "2", "--workers", "1", "--engine", "streams"]), {
        DNLB_HASH_SEED: undefined,
      });
      const ready = (await child.ready) as { admin: string; seedSource?: string; maxConnectionsPerListener?: number; engine?: string };
      assert.equal(ready.seedSource, "file");
      assert.equal(ready.engine, "streams");
      assert.equal(ready.maxConnectionsPerListener, 2);
      await configure(`http://${ready.admin}`, listenerPort, (backend.address() as net.AddressInfo).port);
      for (let i = 0; i < 2; i++) {
        const socket = net.connect({ host: "127.0.5.5", port: listenerPort });
        socket.on("error", () => undefined);
        held.push(socket);
        await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
        socket.write(`held ${i}\n`);
        await new Promise<void>((resolve) => socket.once("data", () => resolve()));
      }
      // The third client is over the limit: closed without reaching the member.
      const third = await roundTrip("127.0.5.5", listenerPort, "third\n").catch((error: Error) => `error: ${error.message}`);
      assert.notEqual(third, "third\n", "the third connection must not be proxied");
      held.splice(0).forEach((s) => s.destroy());
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await roundTrip("127.0.5.5", listenerPort, "after\n"), "after\n", "room again once the held connections closed");
      child.process.kill("SIGTERM");
      assert.equal((await child.exit).code, 0);
      assert.ok(!child.stdout.join("\n").includes(SEED), "seed logged");
    } finally {
      held.forEach((s) => s.destroy());
      await new Promise<void>((resolve) => backend.close(() => resolve()));
    }
  });

  it("on SIGTERM stops accepting, lets an open connection finish within the grace period, then exits 0", async () => {
    const stateDir = await tempStateDir("cli");
    const backend = await echoServer("127.0.5.9");
    const listenerPort = await freePort("127.0.5.5");
    try {
      const child = start(nodeArgs(stateDir, "127.0.5.5", ["--shutdown-grace-seconds", "2"]));
      const base = `http://${(await child.ready).admin}`;
      await configure(base, listenerPort, (backend.address() as net.AddressInfo).port);
      const client = net.connect({ host: "127.0.5.5", port: listenerPort });
      client.setEncoding("utf8");
      let received = "";
      client.on("data", (chunk: string) => (received += chunk));
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      client.on("error", () => undefined);
      await new Promise<void>((resolve) => client.once("connect", () => resolve()));
      client.write("before\n");
      await waitFor(() => received.includes("before\n"), 5_000, "the echo of the first line");

      const signalled = Date.now();
      child.process.kill("SIGTERM");
      await waitFor(() => child.stdout.some((l) => l.includes('"msg":"shutting down"')), 5_000, "the shutting-down log line");
      assert.equal(await connects("127.0.5.5", listenerPort), false, "no new connections once shutting down");
      client.write("during\n");
      await waitFor(() => received.includes("during\n"), 5_000, "the echo of the line sent while draining");

      const { code } = await child.exit;
      const took = Date.now() - signalled;
      assert.equal(code, 0);
      assert.ok(took < 8_000, `exit took ${took} ms with a 2 s grace period`);
      await closed;
    } finally {
      await new Promise<void>((resolve) => backend.close(() => resolve()));
    }
  });

  it("exits 1 when the admin address is taken, leaving no listener open", async () => {
    const stateDir = await tempStateDir("cli");
    const first = start(["--admin-listen", "127.0.5.4:0", "--listen-address", "127.0.5.6", "--state-dir", stateDir]);
    const admin = (await first.ready).admin;
    const listenerPort = await freePort("127.0.5.7");
    await configure(`http://${admin}`, listenerPort, 23960);
    const otherDir = await tempStateDir("cli");
    await fs.copyFile(path.join(stateDir, "config.json"), path.join(otherDir, "config.json"));
    const second = start(["--admin-listen", admin, "--listen-address", "127.0.5.7", "--state-dir", otherDir]);
    assert.equal((await second.exit).code, 1);
    assert.match(second.stderr.join(""), /EADDRINUSE/);
    assert.equal(await connects("127.0.5.7", listenerPort), false, "the restored listener was closed again");
    first.process.kill("SIGTERM");
    assert.equal((await first.exit).code, 0);
  });

  it("refuses a corrupt state file: non-zero exit, a message naming the file, the file untouched", async () => {
    const stateDir = await tempStateDir("cli");
    const file = path.join(stateDir, "config.json");
    await fs.writeFile(file, '{"format": "dnlb-config", "version": 1, "objects": {"listeners": {"l": {"revision": 1');
    const child = start(nodeArgs(stateDir, "127.0.5.5"));
    const { code } = await child.exit;
    assert.equal(code, 1);
    assert.match(child.stderr.join(""), new RegExp(`state file ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} is not valid JSON`));
    assertJsonLines(child.stdout);
    assert.ok(child.stdout.some((l) => JSON.parse(l).level === "fatal"));
    assert.equal(await fs.readFile(file, "utf8"), '{"format": "dnlb-config", "version": 1, "objects": {"listeners": {"l": {"revision": 1');

    await fs.writeFile(file, JSON.stringify({ name: "something-else" }));
    const foreign = start(nodeArgs(stateDir, "127.0.5.5"));
    assert.equal((await foreign.exit).code, 1);
    assert.match(foreign.stderr.join(""), /is not a dnlb configuration/);
  });
});

describe("dnlb-forwarder command line parsing", () => {
  it("parses HOST:PORT for IPv4, IPv6 and names, and refuses anything else", () => {
    assert.deepEqual(parseHostPort("127.0.5.4:23001", "--admin-listen"), { host: "127.0.5.4", port: 23001 });
    assert.deepEqual(parseHostPort("[::1]:0", "--admin-listen"), { host: "::1", port: 0 });
    assert.deepEqual(parseHostPort("localhost:9180", "--admin-listen"), { host: "localhost", port: 9180 });
    for (const bad of ["127.0.5.4", ":9180", "::1:9180", "127.0.5.4:65536", "127.0.5.4:http"]) {
      assert.throws(() => parseHostPort(bad, "--admin-listen"), /--admin-listen must be HOST:PORT/, bad);
    }
  });

  it("defaults the listen address to 0.0.0.0 and the grace period to 10 s, and refuses unknown flags", () => {
    const cli = parseCli(["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x"]);
    assert.notEqual(cli, "help");
    if (cli === "help") return;
    assert.equal(cli.dataPlane.listenAddress, "0.0.0.0");
    assert.equal(cli.graceMs, 10_000);
    assert.throws(() => parseCli(["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x", "--tokn", "x"]), /Unknown option '--tokn'/);
    assert.throws(() => parseCli(["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x", "--shutdown-grace-seconds", "4000"]), /0 to 3600/);
    assert.equal(parseCli(["--help"]), "help");
  });

  it("takes --engine native or streams (unset: chosen at start), and refuses anything else", () => {
    const base = ["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x"];
    const engineOf = (args: string[]): string | undefined => {
      const cli = parseCli([...base, ...args]);
      return cli === "help" ? "help" : cli.dataPlane.engine;
    };
    assert.equal(engineOf([]), undefined);
    assert.equal(engineOf(["--engine", "native"]), "native");
    assert.equal(engineOf(["--engine", "streams"]), "streams");
    assert.throws(() => engineOf(["--engine", "uring"]), /--engine must be native or streams \(got "uring"\)/);
  });

  it("derives the default connection limit from the open-files limit, so a flood cannot exhaust descriptors", () => {
    assert.equal(openFilesLimit("Limit                     Soft Limit           Hard Limit           Units\nMax open files            20000                20000                files\n"), 20000);
    assert.equal(openFilesLimit("Max open files            unlimited            unlimited            files\n"), Number.MAX_SAFE_INTEGER);
    assert.equal(openFilesLimit("nothing useful"), undefined);
    // Two descriptors a connection, 512 kept for the admin API and probes, per data-plane process.
    assert.equal(defaultMaxConnections(20000, 0), 9744);
    assert.equal(defaultMaxConnections(20000, 2), 19488);
    assert.equal(defaultMaxConnections(1_048_576, 2), 100_000);
    assert.equal(defaultMaxConnections(undefined, 2), 100_000);
    assert.throws(() => parseCli(["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x", "--max-connections-per-listener", "0"]), /from 1 to/);
    // The process-wide budget: the same figure for one process, at least 1 under a tiny limit.
    assert.equal(connectionBudget(20000), 9744);
    assert.equal(connectionBudget(64), 1);
    assert.equal(connectionBudget(undefined), undefined);
  });

  it("takes --socket-buffer-bytes 0 (the kernel's) or 4096 to 1 GiB, unset meaning the default", () => {
    const base = ["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x"];
    const bufferOf = (args: string[]): number | undefined => {
      const cli = parseCli([...base, ...args]);
      return cli === "help" ? -1 : cli.dataPlane.socketBufferBytes;
    };
    assert.equal(bufferOf([]), undefined);
    assert.equal(bufferOf(["--socket-buffer-bytes", "0"]), 0);
    assert.equal(bufferOf(["--socket-buffer-bytes", "1048576"]), 1_048_576);
    assert.throws(() => bufferOf(["--socket-buffer-bytes", "100"]), /--socket-buffer-bytes must be 0 \(the kernel's autotuning\) or from 4096 to 1073741824 \(got "100"\)/);
    assert.throws(() => bufferOf(["--socket-buffer-bytes", "2gb"]), /--socket-buffer-bytes must be an integer/);
  });

  it("derives the default UDP session limit from the open-files limit (one descriptor a session), and takes --max-udp-sessions", () => {
    assert.equal(defaultMaxUdpSessions(20000), 19488);
    assert.equal(defaultMaxUdpSessions(1_048_576), 100_000);
    assert.equal(defaultMaxUdpSessions(undefined), 100_000);
    const base = ["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x"];
    const parsed = parseCli([...base, "--max-udp-sessions", "500"]);
    assert.ok(parsed !== "help");
    assert.equal(parsed.dataPlane.maxUdpSessions, 500);
    assert.throws(() => parseCli([...base, "--max-udp-sessions", "0"]), /--max-udp-sessions must be an integer from 1 to/);
  });

  it("takes the token from exactly one place, and never echoes it", async () => {
    await assert.rejects(readToken("/dev/null", TOKEN), /given twice/);
    await assert.rejects(readToken(undefined, undefined), /no admin token/);
    await assert.rejects(readToken(undefined, "with space inside-0123456789"), /printable ASCII without spaces/);
    await assert.rejects(readToken(undefined, "0123456789abcde"), (e: Error) => /got 15/.test(e.message) && !e.message.includes("0123456789abcde"));
    assert.equal(await readToken(undefined, `  ${TOKEN}\n`), TOKEN);
  });
});

