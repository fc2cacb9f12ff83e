/**
 * Real dnlb-forwarder nodes (from dist) in the topology's node namespaces, each announcing the VIP
 * with its BIRD, their admin APIs (HTTPS, certificates from the test's CA) reached through the
 * client agent.
 */
import { strict as assert } from "node:assert";
import { execFileSync, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { issueNodeCertificate, type CertificateAuthority } from "../../provider/resources/admin-certificates";
import type { Agent } from "./agent";
import { timeUntil } from "./measure";
import { NODE_ASN, nodeAddress, type Topology, VIP } from "./topology";

const MAIN = path.resolve(__dirname, "../../provider/forwarder/main.js");
export const TOKEN = "admin-token-for-vip-tests-0123456789";
export const SEED = "00112233445566778899aabbccddeeff";
export const ADMIN_PORT = 9180;
const READY_TIMEOUT_MS = 15_000;

export interface ForwarderNode {
  readonly process: ChildProcess;
  /** The node's log (JSON lines). */
  readonly logLines: string[];
  readonly exit: Promise<void>;
  /** The node's BIRD control socket (the state directory is on the test's file system). */
  readonly birdSocket: string;
}

export interface NodeStatus {
  backendServices?: { id: string; members: { eligible: boolean }[] }[];
  vip: { address: string; announced: boolean; reason: string; peers: { address: string; asn: number; holdTimeSeconds: number; bfd: boolean; state: string }[] };
}

export class Forwarders {
  constructor(
    private readonly topology: Topology,
    private readonly stateRoot: string,
    private readonly ca: CertificateAuthority,
    private readonly agent: Agent,
  ) {}

  adminUrl(k: number, route: string): string {
    return `https://${nodeAddress(k)}:${ADMIN_PORT}${route}`;
  }

  /**
   * Starts node `k` with the VIP, its AS and router id, HTTPS admin and the shared seed, plus
   * `flags` (its --bgp-peer, --workers, ...); resolves once it logs "ready".
   */
  async start(k: number, flags: readonly string[]): Promise<ForwarderNode> {
    const stateDir = path.join(this.stateRoot, `node${k}`);
    await fs.mkdir(stateDir, { recursive: true });
    // HTTPS, as the providers require for a node off loopback; issued once, kept across restarts.
    if (!(await fs.stat(path.join(stateDir, "admin.crt")).catch(() => undefined))) {
      const issued = issueNodeCertificate(this.ca, { commonName: `node${k}`, ipAddresses: [nodeAddress(k)] });
      await fs.writeFile(path.join(stateDir, "admin.key"), issued.privateKeyPem, { mode: 0o600 });
      await fs.writeFile(path.join(stateDir, "admin.crt"), issued.certificatePem);
    }
    const child = this.topology.spawn(
      this.topology.nodes[k - 1],
      [
        process.execPath,
        MAIN,
        ...["--admin-listen", `${nodeAddress(k)}:${ADMIN_PORT}`, "--state-dir", stateDir, "--node-name", `node${k}`],
        ...["--tls-cert-file", path.join(stateDir, "admin.crt"), "--tls-key-file", path.join(stateDir, "admin.key")],
        ...["--vip", VIP, "--bgp-local-asn", String(NODE_ASN), "--bgp-router-id", nodeAddress(k)],
        ...flags,
      ],
      { DNLB_ADMIN_TOKEN: TOKEN, DNLB_HASH_SEED: SEED },
    );
    const logLines: string[] = [];
    let pending = "";
    child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      logLines.push(...lines);
    });
    const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`node ${k} not ready in ${READY_TIMEOUT_MS} ms: ${logLines.join("\n")}`)), READY_TIMEOUT_MS);
      const check = setInterval(() => {
        if (logLines.some((l) => l.includes('"msg":"ready"'))) {
          clearInterval(check);
          clearTimeout(timer);
          resolve();
        }
      }, 20);
      void exit.then(() => {
        clearInterval(check);
        clearTimeout(timer);
        reject(new Error(`node ${k} exited at start: ${logLines.join("\n")}`));
      });
    });
    return { process: child, logLines, exit, birdSocket: path.join(stateDir, "bird.ctl") };
  }

  /** PUTs each `[route, body]` to node `k`'s admin API, in order. */
  async configure(k: number, writes: readonly (readonly [string, unknown])[]): Promise<void> {
    for (const [route, body] of writes) {
      const reply = await this.agent.http(this.adminUrl(k, route), "PUT", body);
      assert.ok(reply.status < 300, `PUT ${route} on node ${k}: ${reply.status} ${reply.body}`);
    }
  }

  async status(k: number): Promise<NodeStatus> {
    return JSON.parse((await this.agent.http(this.adminUrl(k, "/v1/status"))).body) as NodeStatus;
  }

  /** `dnlb_listener_connections_total` of `listener` on node `k`. */
  async listenerConnections(k: number, listener: string): Promise<number> {
    const reply = await this.agent.http(this.adminUrl(k, "/metrics"));
    const match = new RegExp(`^dnlb_listener_connections_total\\{listener="${listener}"\\} (\\d+)$`, "m").exec(reply.body);
    return match === null ? 0 : Number(match[1]);
  }

  /**
   * Until each member's first probe, and while one is Healthy and another not yet, a node routes by
   * another member set: the promise of one member whichever node holds once every node in `nodes`
   * sees all `memberCount` members of `service` (the first service when unset) eligible.
   */
  /**
   * Resolves once node `k`'s status shows every BGP session Established. Status polls BIRD every
   * 0.5 s, so a state from just before a session came up can still be shown for a moment.
   */
  async waitForSessionsEstablished(k: number, timeoutMs: number): Promise<void> {
    await timeUntil(`node ${k}'s status showing its sessions Established`, timeoutMs, async () => {
      const peers = (await this.status(k)).vip.peers;
      return peers.length > 0 && peers.every((p) => p.state === "Established");
    });
  }

  async waitForEligibleMembers(nodes: readonly number[], memberCount: number, service?: string): Promise<void> {
    await timeUntil(`every member of ${service ?? "the service"} eligible on nodes ${nodes.join(", ")}`, 15_000, async () => {
      for (const k of nodes) {
        const services = (await this.status(k)).backendServices ?? [];
        const members = (service === undefined ? services[0] : services.find((b) => b.id === service))?.members ?? [];
        if (members.length !== memberCount || !members.every((m) => m.eligible)) return false;
      }
      return true;
    });
  }
}

/** The PID of `forwarder`'s child whose command is `command` (its BIRD, or its data-plane worker). */
export function childOf(forwarder: ForwarderNode, command: string): number {
  const lines = execFileSync("ps", ["-o", "pid=,comm=", "--ppid", String(forwarder.process.pid)], { encoding: "utf8" }).trim().split("\n");
  const found = lines.map((l) => l.trim().split(/\s+/)).find(([, comm]) => comm === command);
  assert.ok(found !== undefined, `no ${command} child of the forwarder (children: ${lines.join("; ")})`);
  return Number(found[0]);
}
