/** The test's side of client-agent.ts: JSON lines in, JSON lines out, matched by id. */
import type { ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { CertificateAuthority } from "../../provider/resources/admin-certificates";
import type { ConnectResult } from "./client-agent";
import { CLIENT_SOURCES, type Topology, VIP } from "./topology";

const AGENT = path.join(__dirname, "client-agent.js");

export class Agent {
  private nextId = 1;
  private readonly waiting = new Map<number, (reply: Record<string, unknown>) => void>();

  /** `defaultPort`: the VIP's port `connect` uses when given none. */
  constructor(
    private readonly child: ChildProcess,
    private readonly defaultPort: number,
  ) {
    let pending = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const reply = JSON.parse(line) as { id: number };
        this.waiting.get(reply.id)?.(reply);
        this.waiting.delete(reply.id);
      }
    });
  }

  /**
   * Starts client-agent.js in the topology's client namespace with the admin `token`, trusting `ca`
   * (written to `dir`/ca.crt; fetch trusts the CAs in NODE_EXTRA_CA_CERTS besides the system's).
   */
  static async start(topology: Topology, dir: string, ca: CertificateAuthority, token: string, defaultPort: number): Promise<Agent> {
    const caFile = path.join(dir, "ca.crt");
    await fs.writeFile(caFile, ca.certificatePem);
    return new Agent(topology.spawn(topology.client, [process.execPath, AGENT], { DNLB_ADMIN_TOKEN: token, NODE_EXTRA_CA_CERTS: caFile }), defaultPort);
  }

  private send(command: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (reply) => (typeof reply.error === "string" ? reject(new Error(reply.error)) : resolve(reply)));
      this.child.stdin?.write(`${JSON.stringify({ id, ...command })}\n`);
    });
  }

  async http(url: string, method = "GET", body?: unknown): Promise<{ status: number; body: string }> {
    return (await this.send({ op: "http", url, method, body })) as unknown as { status: number; body: string };
  }

  /** `count` new connections to the VIP from CLIENT_SOURCES in turn. */
  async connect(count: number, options: { concurrency?: number; intervalMs?: number; port?: number } = {}): Promise<ConnectResult[]> {
    const reply = await this.send({ op: "connect", host: VIP, sources: CLIENT_SOURCES, count, ...options, port: options.port ?? this.defaultPort });
    return reply.results as ConnectResult[];
  }

  /** Pipes the Unix socket `socketPath` to 127.0.0.1:`port` in the agent's namespace. */
  async bridge(socketPath: string, port: number): Promise<void> {
    await this.send({ op: "bridge", socketPath, port });
  }
}
