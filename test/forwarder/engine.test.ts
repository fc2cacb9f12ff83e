import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseCli } from "../../provider/forwarder/cli/arguments";
import { chooseEngine } from "../../provider/forwarder/runtime/engine";
import { NATIVE_RELAY_FILE } from "../../provider/forwarder/native/relay";
import { call, SEED, startNode, tempStateDir, TOKEN, type TestNode } from "./admin-fixture";

/** The compiled package (dist/provider), as `npm run build` leaves it. */
const DIST_PROVIDER = path.resolve(__dirname, "../../provider");
const REPO_NODE_MODULES = path.resolve(__dirname, "../../../node_modules");

/**
 * A copy of the compiled package without dnlb_relay.node: a node started from it is one whose
 * relay does not load (as on a host of another platform than the one it was built for).
 */
function packageWithoutRelay(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dnlb-no-relay-"));
  fs.cpSync(DIST_PROVIDER, path.join(dir, "dist", "provider"), { recursive: true, filter: (from) => !from.endsWith(".node") });
  fs.symlinkSync(REPO_NODE_MODULES, path.join(dir, "node_modules"));
  return dir;
}

interface Run {
  readonly code: number | null;
  readonly stderr: string;
  /** The `ready` log line, when the node got that far. */
  readonly ready?: { admin: string; engine: string };
}

/** Runs a node from `root` until it logs ready (then stops it) or exits on its own. */
function runNode(root: string, stateDir: string, extra: string[], onReady?: (admin: string) => Promise<void>): Promise<Run> {
  const child = spawn(
    process.execPath,
    [path.join(root, "dist/provider/forwarder/main.js"), "--admin-listen", "127.0.5.4:0", "--listen-address", "127.0.5.2", "--state-dir", stateDir, "--workers", "0", ...extra],
    { env: { PATH: process.env.PATH, DNLB_ADMIN_TOKEN: TOKEN, DNLB_HASH_SEED: SEED }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  let ready: Run["ready"];
  const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
    const line = stdout.split("\n").find((l) => l.includes('"msg":"ready"'));
    if (line !== undefined && ready === undefined) {
      ready = JSON.parse(line) as { admin: string; engine: string };
      void (onReady?.(ready.admin) ?? Promise.resolve()).finally(() => child.kill("SIGTERM"));
    }
  });
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, ready });
    }),
  );
}

describe("data-plane engine: chosen, reported, required", function () {
  this.timeout(30_000);

  it("takes --require-native, and refuses it together with --engine streams", () => {
    const base = ["--admin-listen", "127.0.5.4:1", "--state-dir", "/tmp/x"];
    const parsed = (args: string[]) => {
      const cli = parseCli([...base, ...args]);
      assert.notEqual(cli, "help");
      return cli === "help" ? undefined : cli;
    };
    assert.equal(parsed([])?.requireNative, false);
    assert.equal(parsed(["--require-native"])?.requireNative, true);
    assert.equal(parsed(["--require-native", "--engine", "native"])?.dataPlane.engine, "native");
    assert.throws(() => parsed(["--require-native", "--engine", "streams"]), /--require-native and --engine streams contradict each other/);
  });

  it("says why: the relay that loaded, or the engine asked for", () => {
    assert.ok(fs.existsSync(NATIVE_RELAY_FILE), "npm run build compiles the relay on this machine");
    assert.deepEqual(chooseEngine(undefined, true), { name: "native", reason: `the native relay loads (${NATIVE_RELAY_FILE})` });
    assert.deepEqual(chooseEngine("streams", false), { name: "streams", reason: "asked for with --engine streams" });
    assert.deepEqual(chooseEngine("native", false), { name: "native", reason: "asked for with --engine native" });
  });

  describe("reported by /v1/status and /metrics", function () {
    let t: TestNode | undefined;
    afterEach(async () => {
      await t?.node.close({ graceMs: 0 });
      t = undefined;
    });

    for (const engine of ["native", "streams"] as const) {
      it(`a node running ${engine} says so, with the reason`, async () => {
        const reason = engine === "streams" ? "asked for with --engine streams" : `the native relay loads (${NATIVE_RELAY_FILE})`;
        t = await startNode({
          label: `engine-${engine}`,
          dataPlane: { engine: engine === "streams" ? "streams" : undefined, engineReason: engine === "streams" ? reason : undefined },
        });
        const status = await call(t.url, "GET", "/v1/status");
        assert.deepEqual(status.json.engine, { name: engine, reason });
        const metrics = (await call(t.url, "GET", "/metrics", { token: null })).text;
        const line = metrics.split("\n").find((l) => l.startsWith("dnlb_engine_info{"));
        assert.equal(line, `dnlb_engine_info{engine="${engine}",reason="${reason}"} 1`);
      });
    }
  });

  describe("a node whose relay does not load", function () {
    let root: string;
    let stateDir: string;
    before(async () => {
      root = packageWithoutRelay();
      stateDir = await tempStateDir("no-relay");
    });
    after(() => fs.rmSync(root, { recursive: true, force: true }));

    it("exits with code 2 under --require-native, saying why the relay did not load and how to fix it", async () => {
      const run = await runNode(root, stateDir, ["--require-native"]);
      assert.equal(run.ready, undefined, "it must not start");
      assert.equal(run.code, 2, run.stderr);
      assert.match(run.stderr, /--require-native: the native relay does not load here \(Cannot find module .*dnlb_relay\.node/);
      assert.match(run.stderr, /forbids falling back to Node's sockets\. Fix: rebuild the forwarder image for the Docker host's platform/);
      assert.match(run.stderr, /--engine streams/);
    });

    it("runs streams without it, and its status says why", async () => {
      let status: { engine: { name: string; reason: string } } | undefined;
      const run = await runNode(root, stateDir, [], async (admin) => {
        status = (await call(`http://${admin}`, "GET", "/v1/status")).json;
      });
      assert.equal(run.ready?.engine, "streams", run.stderr);
      assert.equal(status?.engine.name, "streams");
      assert.match(status?.engine.reason ?? "", /^the native relay does not load here: Cannot find module .*dnlb_relay\.node/);
    });

    it("runs streams when asked for with --engine streams", async () => {
      const run = await runNode(root, stateDir, ["--engine", "streams"]);
      assert.equal(run.ready?.engine, "streams", run.stderr);
      assert.equal(run.code, 0);
    });
  });
});
