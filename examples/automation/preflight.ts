import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * What `npm run up` needs on the machine, checked before anything starts, each missing piece
 * reported with the exact thing to install.
 */

export interface Prerequisites {
  /** The pulumi binary to run: on the PATH, or where the official installer puts it. */
  readonly pulumiBinary?: string;
  readonly problems: readonly string[];
}

function answers(command: string, args: readonly string[]): { ok: boolean; missing: boolean; output: string } {
  const run = spawnSync(command, [...args], { encoding: "utf8", timeout: 20_000 });
  const missing = (run.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT";
  return { ok: !run.error && run.status === 0, missing, output: `${run.stdout ?? ""}${run.stderr ?? ""}`.trim() };
}

export function findPulumi(): string | undefined {
  if (answers("pulumi", ["version"]).ok) return "pulumi";
  const installed = path.join(os.homedir(), ".pulumi", "bin", "pulumi");
  if (fs.existsSync(installed) && answers(installed, ["version"]).ok) return installed;
  return undefined;
}

export function checkPrerequisites(): Prerequisites {
  const problems: string[] = [];
  const major = Number(process.versions.node.split(".")[0]);
  if (major < 22) problems.push(`Node.js 22 or later is needed (this is ${process.version}): https://nodejs.org/en/download`);

  const pulumiBinary = findPulumi();
  if (pulumiBinary === undefined) {
    problems.push(
      [
        "The Pulumi CLI is not installed (no `pulumi` on the PATH or in ~/.pulumi/bin). Install it with:",
        "    curl -fsSL https://get.pulumi.com | sh        (Linux, macOS; then open a new shell)",
        "    brew install pulumi/tap/pulumi                (macOS with Homebrew)",
        "  or see https://www.pulumi.com/docs/iac/download-install/ . No Pulumi account is needed:",
        "  npm run up keeps the state in .pulumi-state/ of this project.",
      ].join("\n"),
    );
  }

  const docker = answers("docker", ["version", "--format", "{{.Server.Version}}"]);
  if (docker.missing) {
    problems.push(
      [
        "Docker is not installed. Install Docker Engine:",
        "    sudo apt-get install docker.io                (Debian, Ubuntu)",
        "  or see https://docs.docker.com/engine/install/ (Docker Desktop also works).",
      ].join("\n"),
    );
  } else if (!docker.ok) {
    problems.push(
      [
        "Docker is installed but its engine does not answer:",
        `    ${docker.output.split("\n").pop() ?? ""}`,
        "  Start it (sudo systemctl start docker) and make sure you may use it",
        "  (sudo usermod -aG docker $USER, then log in again), or set DOCKER_HOST.",
      ].join("\n"),
    );
  }
  return { pulumiBinary, problems };
}

/** Prints every problem and exits non-zero when something is missing. */
export function requirePrerequisites(command: string): Prerequisites {
  const result = checkPrerequisites();
  if (result.problems.length > 0) {
    console.error(`npm run ${command} cannot start:\n`);
    for (const p of result.problems) console.error(`- ${p}\n`);
    process.exit(1);
  }
  return result;
}
