/**
 * Real peer programs (nginx, redis-server, redis-benchmark) for forwarder tests: found on PATH,
 * started as non-daemon children with their state in a temporary directory, stopped by PID.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { delay } from "../../support/wait";
import { connect } from "./clients";

/** The absolute path of `name` on PATH (or /usr/sbin, /usr/bin), or undefined. */
export function findProgram(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(path.delimiter), "/usr/sbin", "/usr/bin", "/sbin"];
  for (const dir of dirs) {
    if (dir === "") continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export class PeerProcess {
  private exited: Promise<number | null>;
  output = "";

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    child.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
  }

  static start(name: string, program: string, args: readonly string[], cwd?: string): PeerProcess {
    const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"], ...(cwd === undefined ? {} : { cwd }) });
    return new PeerProcess(name, child);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until `host:port` accepts a connection; rejects if the process exits or after `timeoutMs`. */
  async ready(host: string, port: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.name} exited before listening: ${this.output}`);
      try {
        const socket = await connect({ host, port, timeoutMs: 500 });
        socket.destroy();
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`${this.name} did not listen on ${host}:${port}: ${this.output}`);
        await delay(50);
      }
    }
  }

  /** Sends `signal` to this child (by PID) and waits for it to exit; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = "SIGTERM", graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Runs a program to completion with a time limit; resolves with its exit code and output. */
export function runProgram(program: string, args: readonly string[], timeoutMs: number): Promise<{ code: number | null; output: string; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    let timedOut = false;
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output, timedOut });
    });
  });
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** nginx's version line, or undefined when nginx cannot run. */
export function nginxVersion(nginx: string): string | undefined {
  const result = spawnSync(nginx, ["-v"], { encoding: "utf8" });
  return result.status === 0 ? (result.stderr || result.stdout).trim() : undefined;
}
