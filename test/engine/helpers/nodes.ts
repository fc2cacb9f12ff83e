import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import * as os from "node:os";
import * as path from "node:path";
import type { LoadBalancerConnection } from "../../../provider/model";
import { PROJECT_ROOT } from "../../support/paths";

/**
 * Real forwarder nodes (dist/provider/forwarder/main.js) as child processes on loopback, each on
 * its own 127.0.6.x address with an ephemeral admin port, for the provider tests. A node can be
 * stopped and started again on the same address, port and state directory.
 */

export const TEST_TOKEN = "dnlb-test-token-0123456789";
export const TEST_SEED = "00112233445566778899aabbccddeeff";
const MAIN = path.join(PROJECT_ROOT, "dist/provider/forwarder/main.js");

export class NodeProcess {
  private child: ChildProcess | undefined;
  private output = "";

  private constructor(
    readonly address: string,
    readonly stateDir: string,
    private adminPort: number,
  ) {}

  static async start(address: string): Promise<NodeProcess> {
    const stateDir = await mkdtemp(path.join(os.tmpdir(), "dnlb-provider-test-"));
    const node = new NodeProcess(address, stateDir, 0);
    await node.launch();
    return node;
  }

  /** The admin API base URL, as a LoadBalancer connection lists it. */
  get endpoint(): string {
    return `http://${this.address}:${this.adminPort}`;
  }

  /** The node's recent log lines (for failure messages). */
  get log(): string {
    return this.output;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  private async launch(): Promise<void> {
    const child = spawn(
      process.execPath,
      [MAIN, "--admin-listen", `${this.address}:${this.adminPort}`, "--listen-address", this.address, "--state-dir", this.stateDir, "--shutdown-grace-seconds", "0", "--log-level", "info"],
      { cwd: PROJECT_ROOT, env: { ...process.env, DNLB_ADMIN_TOKEN: TEST_TOKEN, DNLB_HASH_SEED: TEST_SEED }, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    this.output = "";
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${this.address} not ready in 20 s:\n${this.output}`)), 20_000);
      let ready = false;
      const onData = (chunk: Buffer) => {
        // Keep draining the pipe for the node's whole life (a full pipe would block its log
        // writes), but keep only the recent part for error messages.
        this.output = (this.output + chunk.toString()).slice(-20_000);
        if (ready) return;
        for (const line of this.output.split("\n")) {
          if (!line.includes('"ready"')) continue;
          try {
            const admin = (JSON.parse(line) as { admin?: string }).admin ?? "";
            clearTimeout(timer);
            ready = true;
            resolve(Number(admin.slice(admin.lastIndexOf(":") + 1)));
            return;
          } catch {
            // a partial line; wait for the rest
          }
        }
      };
      child.stdout?.on("data", onData);
      child.stderr?.on("data", (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`node ${this.address} exited with ${code}:\n${this.output}`));
      });
    });
    this.adminPort = port;
    child.removeAllListeners("exit");
    child.once("exit", () => {
      if (this.child === child) this.child = undefined;
    });
  }

  /** SIGTERM, and wait for the exit. Idempotent. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    await exited;
  }

  /** Start again on the same address, admin port and state directory. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.stateDir, { recursive: true, force: true });
  }
}

export class Cluster {
  private constructor(readonly nodes: NodeProcess[]) {}

  /** Nodes on `127.0.6.{first}`, `127.0.6.{first + 1}`, ... */
  static async start(count: number, first: number): Promise<Cluster> {
    const started = await Promise.allSettled(Array.from({ length: count }, (_, i) => NodeProcess.start(`127.0.6.${first + i}`)));
    const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed !== undefined) {
      // Do not leave the nodes that did start running.
      await Promise.all(nodes.map((n) => n.destroy()));
      throw failed.reason;
    }
    return new Cluster(nodes);
  }

  get endpoints(): string[] {
    return this.nodes.map((n) => n.endpoint);
  }

  connection(extra: Partial<LoadBalancerConnection> = {}): LoadBalancerConnection {
    return { endpoints: this.endpoints, token: TEST_TOKEN, hashSeed: TEST_SEED, ...extra };
  }

  async destroy(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
}

/** An admin endpoint where nothing listens: a node that is down. */
export const DEAD_ENDPOINT = "http://127.0.6.99:24999";
