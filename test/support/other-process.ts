import { spawn, type ChildProcess } from "node:child_process";
import { waitFor } from "./wait";

/**
 * Another program on the same host, run from `program` (Node source given `host` and `port` as
 * arguments) that prints "bound" once it holds the port, or the error's code when it cannot.
 */
export class OtherProcess {
  private constructor(
    private readonly child: ChildProcess,
    /** "bound", or why it could not bind ("EADDRINUSE"). */
    readonly outcome: string,
  ) {}

  static async start(program: string, host: string, port: number): Promise<OtherProcess> {
    const child = spawn(process.execPath, ["-e", program, host, String(port)], { stdio: ["ignore", "pipe", "inherit"] });
    let output = "";
    child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await Promise.race([waitFor(() => output.includes("\n"), 10_000, "the other program to bind or fail"), exited]);
    return new OtherProcess(child, output.trim());
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.kill("SIGTERM");
    await exited;
  }
}
