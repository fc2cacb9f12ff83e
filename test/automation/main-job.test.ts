import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort } from "../support/net";
import { PROJECT_ROOT } from "../support/paths";

const COMPILED = path.join(PROJECT_ROOT, "dist/examples/automation/up.js");
const PREFLIGHT = ["--disable-warning=MODULE_TYPELESS_PACKAGE_JSON", "examples/automation/preflight.ts"];

interface Run {
  readonly code: number | null;
  readonly output: string;
  readonly tookMs: number;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: PROJECT_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), 45_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output, tookMs: Date.now() - started });
    });
  });
}

/** The PATH without any folder that holds a `pulumi`: this machine as if the CLI were not installed. */
function pathWithoutPulumi(): string {
  return (process.env.PATH ?? "")
    .split(path.delimiter)
    .filter((dir) => dir !== "" && !fs.existsSync(path.join(dir, "pulumi")))
    .join(path.delimiter);
}

/**
 * The main job's set-up on a machine without the Pulumi CLI and without the internet: the install
 * (PulumiCommand.install, downloading from get.pulumi.com) goes through a proxy address where
 * nothing listens, which Node's fetch honours with NODE_USE_ENV_PROXY (Node 22.21 and later).
 */
describe("main job set-up without the Pulumi CLI and without the internet", function () {
  this.timeout(60_000);
  let home: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    const [major, minor] = process.versions.node.split(".").map(Number);
    assert.ok(major > 22 || (major === 22 && minor >= 21), `NODE_USE_ENV_PROXY needs Node 22.21 or later (this is ${process.version})`);
    home = fs.mkdtempSync(path.join(os.tmpdir(), "dnlb-main-job-"));
    const proxy = `http://127.0.0.1:${await freePort("127.0.0.1")}`;
    env = {
      ...process.env,
      PATH: pathWithoutPulumi(),
      HOME: home,
      PULUMI_HOME: path.join(home, "pulumi-home"),
      DNLB_TOOLS_DIR: path.join(home, "tools"),
      NODE_USE_ENV_PROXY: "1",
      HTTPS_PROXY: proxy,
      HTTP_PROXY: proxy,
      NO_PROXY: "",
    };
  });

  after(() => fs.rmSync(home, { recursive: true, force: true }));

  function assertSaysWhatToDo(result: Run): void {
    assert.notEqual(result.code, 0, `exit code 0:\n${result.output}`);
    assert.match(result.output, /Step "install the Pulumi CLI" failed/, result.output);
    assert.match(result.output, /PulumiCommand\.install\(\{ root: "[^"]+\/tools\/pulumi", version: "\d+\.\d+\.\d+" \}\)/, result.output);
    assert.match(result.output, /Failed to download https:\/\/get\.pulumi\.com\/install\.sh/, result.output);
    assert.match(result.output, /by hand/, result.output);
    assert.match(result.output, /`pulumi` on the PATH/, result.output);
    assert.match(result.output, /PULUMI_HOME/, result.output);
    assert.equal(fs.existsSync(path.join(home, "tools", "pulumi", "bin", "pulumi")), false, "nothing was installed");
  }

  it("npm run up says which step failed and what to do, and exits non-zero before compiling anything", async () => {
    const compiledBefore = fs.statSync(COMPILED).mtimeMs;
    const result = await run("npm", ["run", "--silent", "up"], env);
    assertSaysWhatToDo(result);
    assert.match(result.output, /npm run up cannot start/, result.output);
    assert.equal(fs.statSync(COMPILED).mtimeMs, compiledBefore, "npm run up compiled before reporting what is missing");
    assert.ok(result.tookMs < 30_000, `took ${result.tookMs} ms`);
  });

  it("the CLI step of `.ci/run up` says the same and exits non-zero", async () => {
    const result = await run(process.execPath, [...PREFLIGHT, "pulumi"], env);
    assertSaysWhatToDo(result);
    assert.ok(result.tookMs < 30_000, `took ${result.tookMs} ms`);
  });
});
