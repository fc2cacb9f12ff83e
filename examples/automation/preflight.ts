import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * What `npm run up` and `npm run down` need on the machine, checked before the build: Node 22, the
 * Pulumi CLI (installed into the tools folder when missing, as the Automation API documents) and a
 * Docker engine. Every missing piece is reported with the step that failed and what to do.
 *
 * `npm run up` runs this file with plain node, before anything is compiled: Node strips the types
 * and loads it as an ES module. So it imports only node:* statically, and loads the Pulumi SDK
 * (seconds to load) only when the CLI has to be installed.
 */

export interface Prerequisites {
  /** The pulumi binary to run: on the PATH, in the tools folder or where Pulumi's installer puts it. */
  readonly pulumiBinary?: string;
  readonly problems: readonly string[];
}

/** The npm scripts run in the project root; `.ci/run` points DNLB_TOOLS_DIR elsewhere when it must. */
function toolsDir(): string {
  return process.env.DNLB_TOOLS_DIR ?? path.join(process.cwd(), ".tools");
}

/** Where the preflight installs the CLI: `<root>/bin/pulumi`. */
export function pulumiInstallRoot(): string {
  return path.join(toolsDir(), "pulumi");
}

/** The CLI version the installed @pulumi/pulumi SDK matches (Pulumi releases both together). */
export function sdkVersion(): string {
  const manifest = path.join(process.cwd(), "node_modules", "@pulumi", "pulumi", "package.json");
  return (JSON.parse(fs.readFileSync(manifest, "utf8")) as { version: string }).version;
}

function answers(command: string, args: readonly string[]): { ok: boolean; missing: boolean; output: string } {
  const run = spawnSync(command, [...args], { encoding: "utf8", timeout: 20_000 });
  const missing = (run.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
  return { ok: !run.error && run.status === 0, missing, output: `${run.stdout ?? ""}${run.stderr ?? ""}`.trim() };
}

export function findPulumi(): string | undefined {
  if (answers("pulumi", ["version"]).ok) return "pulumi";
  const pulumiHome = process.env.PULUMI_HOME ?? path.join(os.homedir(), ".pulumi");
  for (const root of [pulumiInstallRoot(), pulumiHome]) {
    const binary = path.join(root, "bin", "pulumi");
    if (fs.existsSync(binary) && answers(binary, ["version"]).ok) return binary;
  }
  return undefined;
}

/** The release archive the installer would fetch, for copying to this machine by hand. */
function releaseArchive(version: string): string {
  const system = process.platform === "darwin" ? "darwin" : "linux";
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  return `https://get.pulumi.com/releases/sdk/pulumi-v${version}-${system}-${arch}.tar.gz`;
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? ` (${error.cause.message})` : "";
  return `${error.message.trim()}${cause}`;
}

/** The CLI on this machine, installed with `PulumiCommand.install` into the tools folder when missing. */
export async function ensurePulumi(): Promise<{ binary?: string; problem?: string }> {
  const found = findPulumi();
  if (found !== undefined) return { binary: found };
  const root = pulumiInstallRoot();
  const version = sdkVersion();
  console.log(`Installing the Pulumi CLI v${version} into ${root} (PulumiCommand.install, from get.pulumi.com)...`);
  try {
    const { PulumiCommand } = await import("@pulumi/pulumi/automation/index.js");
    type InstallOptions = NonNullable<Parameters<typeof PulumiCommand.install>[0]>;
    // install() only formats the version into the installer's arguments and compares it with
    // semver, which reads a version string as it reads a SemVer.
    const command = await PulumiCommand.install({ root, version: version as unknown as InstallOptions["version"] });
    return { binary: command.command };
  } catch (error) {
    return {
      problem: [
        `Step "install the Pulumi CLI" failed: PulumiCommand.install({ root: "${root}", version: "${version}" }) said:`,
        `    ${describe(error).split("\n").join("\n    ")}`,
        "  It downloads from get.pulumi.com, which needs the internet. Install the Pulumi CLI",
        `  v${version} by hand (https://www.pulumi.com/docs/iac/download-install/, or unpack`,
        `  ${releaseArchive(version)}), then either put`,
        `  \`pulumi\` on the PATH, or place it at ${path.join(root, "bin", "pulumi")},`,
        "  or set PULUMI_HOME to the folder whose bin/ holds it; then run again. No Pulumi account is",
        "  needed: the state stays in .pulumi-state/ of this project.",
      ].join("\n"),
    };
  }
}

function dockerProblem(): string | undefined {
  const docker = answers("docker", ["version", "--format", "{{.Server.Version}}"]);
  if (docker.missing) {
    return [
      "Docker is not installed. Install Docker Engine:",
      "    sudo apt-get install docker.io                (Debian, Ubuntu)",
      "  or see https://docs.docker.com/engine/install/ (Docker Desktop also works).",
      "  As root, `bash .ci/run up` installs and starts it.",
    ].join("\n");
  }
  if (!docker.ok) {
    return [
      "Docker is installed but its engine does not answer:",
      `    ${docker.output.split("\n").pop() ?? ""}`,
      "  Start it (sudo systemctl start docker) and make sure you may use it",
      "  (sudo usermod -aG docker $USER, then log in again), or set DOCKER_HOST.",
    ].join("\n");
  }
  return undefined;
}

export async function checkPrerequisites(): Promise<Prerequisites> {
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) return { problems: [`Node.js 22 or later is needed (this is ${process.version}): https://nodejs.org/en/download`] };
  const pulumi = await ensurePulumi();
  const problems = [pulumi.problem, dockerProblem()].filter((p): p is string => p !== undefined);
  return { pulumiBinary: pulumi.binary, problems };
}

function reportAndExit(command: string, problems: readonly string[]): never {
  console.error(`${command} cannot start:\n`);
  for (const p of problems) console.error(`- ${p}\n`);
  process.exit(1);
}

/** Prints every problem and exits non-zero when something is missing. */
export async function requirePrerequisites(command: string): Promise<Prerequisites> {
  const result = await checkPrerequisites();
  if (result.problems.length > 0) reportAndExit(`npm run ${command}`, result.problems);
  return result;
}

/** `preflight.ts up|down`: everything that command needs; `preflight.ts pulumi`: only the CLI. */
async function main(what: string | undefined): Promise<void> {
  if (what === "pulumi") {
    const { binary, problem } = await ensurePulumi();
    if (problem !== undefined) reportAndExit("bash .ci/run up", [problem]);
    console.log(`Pulumi CLI: ${binary}`);
  } else if (what === "up" || what === "down") {
    await requirePrerequisites(what);
  } else {
    reportAndExit("preflight", [`the argument must be up, down or pulumi (got ${JSON.stringify(what)})`]);
  }
}

// Run as a file by node (an ES module, where `require` is not defined) rather than imported by up/down.
if (typeof require === "undefined") {
  main(process.argv[2]).catch((error: unknown) => reportAndExit("preflight", [describe(error)]));
}
