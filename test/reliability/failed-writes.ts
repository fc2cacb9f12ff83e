/**
 * Writes the node answers as failed must have changed nothing: not the store, not the runtime, not
 * one open connection, and not what a restart reads.
 *
 * - Refused writes and live connections: the state directory is made read-only under a running
 *   node (a bind mount in the node's own mount namespace, remounted read-only with nsenter: chmod
 *   does not stop root). A listener DELETE and a server-group PUT that removes the member a client
 *   is connected to (drainingTimeoutSeconds 0, so a cut would be immediate) are answered 500; the
 *   client's connection must still carry bytes, and status must still count it. Then the same
 *   member removal on a writable directory must cut it (the check can fail).
 * - The last steps of an atomic write: EIO injected with strace on the state directory's open or
 *   fsync. The write is answered 500, GET says 404, and after a restart GET still says 404; the
 *   next write succeeds and survives a restart.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { promises as fsp, readdirSync, readFileSync } from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { TestBackend } from "../forwarder/helpers/backends";
import { delay } from "../support/wait";
import { CliNode, jsonRequest } from "./support";

export interface FailedWriteFigures {
  readonly scenario: string;
  readonly figures: Record<string, string | number>;
  readonly violations: string[];
}

function works(command: string, args: readonly string[]): boolean {
  try {
    execFileSync(command, args, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Whether this host lets us mount in a private namespace (root, unshare). */
export function privateMountsWork(): boolean {
  return works("unshare", ["-m", "--propagation", "private", "sh", "-c", "mount --bind / /mnt && umount /mnt"]);
}

export function straceWorks(): boolean {
  return works("strace", ["-f", "-qq", "-o", "/dev/null", "-e", "trace=openat", "true"]);
}

/** Runs the node in its own mount namespace with `dir` bind-mounted on itself, so it can be remounted read-only for the node alone. */
function ownMountOf(dir: string): string[] {
  return ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" "$0" && exec "$@"', dir];
}

function remount(node: CliNode, mode: "ro" | "rw"): void {
  execFileSync("nsenter", ["-t", String(node.pid), "-m", "mount", "-o", `remount,bind,${mode}`, node.stateDir]);
}

/** A client connection through a listener to an "identify" backend: learns its member, then echoes. */
class Client {
  closed = false;
  private received = "";

  private constructor(private readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => (this.received += chunk.toString()));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => undefined);
  }

  static async connect(host: string, port: number): Promise<{ client: Client; member: string }> {
    const socket = net.connect({ host, port });
    const client = new Client(socket);
    const member = await client.line(3_000);
    return { client, member };
  }

  /** Sends a line and waits for its echo: whether the connection still carries bytes. */
  async carries(text: string): Promise<boolean> {
    if (this.closed) return false;
    this.socket.write(`${text}\n`);
    return (await this.line(2_000).catch(() => "")) === text;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private async line(timeoutMs: number): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!this.received.includes("\n")) {
      if (this.closed || Date.now() > until) throw new Error(this.closed ? "the connection was closed" : "no line in time");
      await delay(10);
    }
    const end = this.received.indexOf("\n");
    const line = this.received.slice(0, end);
    this.received = this.received.slice(end + 1);
    return line;
  }
}

async function put(node: CliNode, kind: string, id: string, spec: unknown): Promise<number> {
  return (await jsonRequest(node.base, "PUT", `/v1/${kind}/${id}`, spec)).status;
}

async function listenerActive(node: CliNode, id: string): Promise<number | undefined> {
  const status = JSON.parse((await jsonRequest(node.base, "GET", "/v1/status")).body) as { listeners: { id: string; activeConnections: number }[] };
  return status.listeners.find((l) => l.id === id)?.activeConnections;
}

/** Refused writes under a read-only state directory leave a live connection alone. */
export async function refusedWritesKeepConnections(address: string, backendHosts: readonly [string, string], listenerPort: number, workers: number): Promise<FailedWriteFigures> {
  const violations: string[] = [];
  const stateDir = await fsp.mkdtemp(path.join(os.tmpdir(), "dnlb-reliability-ro-"));
  const node = await CliNode.start({ address, stateDir, wrapper: ownMountOf(stateDir), extraArgs: ["--workers", String(workers)] });
  const [a, b] = await Promise.all(backendHosts.map((host) => TestBackend.start({ host, mode: "identify" })));
  const figures: Record<string, string | number> = { workers };
  let client: Client | undefined;
  try {
    const group = (member: TestBackend) => ({ type: "virtual", name: "ro-pool", members: [{ address: member.host, port: member.port }] });
    for (const [kind, id, spec] of [
      ["server-groups", "ro-pool", group(a)],
      ["backend-services", "ro-svc", { name: "ro-svc", port: a.port, serverGroup: "ro-pool", healthCheckEnabled: false, drainingTimeoutSeconds: 0 }],
      ["listeners", "ro-l", { name: "ro-l", port: listenerPort, backendService: "ro-svc" }],
    ] as const) {
      const status = await put(node, kind, id, spec);
      if (status >= 300) throw new Error(`PUT ${kind}/${id}: ${status}`);
    }
    const connected = await Client.connect(address, listenerPort);
    client = connected.client;
    if (connected.member !== a.name) throw new Error(`the client reached ${connected.member}, not ${a.name}`);
    remount(node, "ro");

    const refusedDelete = await jsonRequest(node.base, "DELETE", "/v1/listeners/ro-l");
    figures.deleteListener = refusedDelete.status;
    if (refusedDelete.status !== 500 || !refusedDelete.body.includes("persist_failed")) violations.push(`DELETE listener on a read-only state directory: ${refusedDelete.status} ${refusedDelete.body}`);
    figures.listenerListedAfter = (await jsonRequest(node.base, "GET", "/v1/listeners/ro-l")).status;
    if (figures.listenerListedAfter !== 200) violations.push(`the listener is gone after a refused DELETE (GET ${figures.listenerListedAfter})`);
    await delay(workers > 0 ? 1_200 : 100); // workers report their counts every second
    figures.activeAfterDelete = (await listenerActive(node, "ro-l")) ?? "not listed";
    if (figures.activeAfterDelete !== 1) violations.push(`status counts ${figures.activeAfterDelete} open connections on the listener after a refused DELETE (1 is open)`);
    figures.carriesAfterDelete = String(await client.carries("after-delete"));
    if (figures.carriesAfterDelete !== "true") violations.push("the listener's open connection was cut by a DELETE answered 500");

    const refusedPut = await put(node, "server-groups", "ro-pool", group(b));
    figures.removeMember = refusedPut;
    if (refusedPut !== 500) violations.push(`PUT removing the member on a read-only state directory: ${refusedPut}`);
    await delay(300);
    figures.carriesAfterMemberRemoval = String(await client.carries("after-put"));
    if (figures.carriesAfterMemberRemoval !== "true") violations.push("the member's open connection was cut by a PUT answered 500 (drainingTimeoutSeconds 0)");

    remount(node, "rw");
    const accepted = await put(node, "server-groups", "ro-pool", group(b));
    await delay(300);
    figures.cutOnceStored = String(client.closed || !(await client.carries("after-accepted")));
    if (accepted !== 200 || figures.cutOnceStored !== "true") violations.push(`the same member removal, stored (${accepted}), did not cut the connection: this check cannot see a cut`);
    return { scenario: `refused writes leave live connections alone (--workers ${workers})`, figures, violations };
  } finally {
    client?.destroy();
    await node.destroy();
    await Promise.all([a.close(), b.close()]);
  }
}

/** Attaches strace to every thread of `pid`, injecting EIO into the first `syscall` on `dir` of each thread. */
async function injectEio(pid: number, dir: string, syscall: "openat" | "fsync"): Promise<ChildProcess> {
  const args = ["-f", "-qq", "-o", "/dev/null", "-P", dir, "-e", `trace=${syscall}`, "-e", `inject=${syscall}:error=EIO:when=1`, "-p", String(pid)];
  const tracer = spawn("strace", args, { stdio: "ignore" });
  const traced = (): boolean =>
    readdirSync(`/proc/${pid}/task`).every((task) => new RegExp(`^TracerPid:\\s+${tracer.pid}$`, "m").test(readFileSync(`/proc/${pid}/task/${task}/status`, "utf8")));
  const until = Date.now() + 10_000;
  while (!traced()) {
    if (Date.now() > until || tracer.exitCode !== null) throw new Error(`strace did not attach to ${pid}`);
    await delay(20);
  }
  return tracer;
}

async function detach(tracer: ChildProcess): Promise<void> {
  if (tracer.exitCode !== null) return;
  const exited = new Promise((resolve) => tracer.once("exit", resolve));
  tracer.kill("SIGTERM");
  await exited;
}

/**
 * EIO on the state directory's `syscall` (openat or fsync) during one write, injected by strace
 * (attached to the running node, so that start-up does not count): the write is answered 500, and
 * neither GET nor a restart shows it.
 */
export async function failedLastStep(address: string, syscall: "openat" | "fsync"): Promise<FailedWriteFigures> {
  const violations: string[] = [];
  const stateDir = await fsp.mkdtemp(path.join(os.tmpdir(), "dnlb-reliability-eio-"));
  const figures: Record<string, string | number> = {};
  const hc = { name: "eio-hc", timeoutSeconds: 2, intervalSeconds: 5 };
  let node = await CliNode.start({ address, stateDir, extraArgs: ["--workers", "0"] });
  try {
    const tracer = await injectEio(node.pid as number, stateDir, syscall);
    const refused = await jsonRequest(node.base, "PUT", "/v1/health-checks/eio-hc", hc).finally(() => detach(tracer));
    figures.answer = refused.status;
    figures.message = (JSON.parse(refused.body) as { error?: { message?: string } }).error?.message ?? refused.body;
    if (refused.status !== 500) violations.push(`PUT with EIO on the directory's ${syscall}: ${refused.status} ${refused.body}`);
    figures.getAfter = (await jsonRequest(node.base, "GET", "/v1/health-checks/eio-hc")).status;
    await node.stop();
    node = await CliNode.start({ address, stateDir, extraArgs: ["--workers", "0"] });
    figures.getAfterRestart = (await jsonRequest(node.base, "GET", "/v1/health-checks/eio-hc")).status;
    if (refused.status >= 500 && (figures.getAfter !== 404 || figures.getAfterRestart !== 404)) {
      violations.push(`a write answered ${refused.status} is there: GET ${figures.getAfter}, after a restart GET ${figures.getAfterRestart}`);
    }
    const accepted = await jsonRequest(node.base, "PUT", "/v1/health-checks/eio-hc", hc);
    await node.stop();
    node = await CliNode.start({ address, stateDir, extraArgs: ["--workers", "0"] });
    figures.acceptedThenRestart = `${accepted.status}, GET ${(await jsonRequest(node.base, "GET", "/v1/health-checks/eio-hc")).status}`;
    if (figures.acceptedThenRestart !== "201, GET 200") violations.push(`the next write and a restart: ${figures.acceptedThenRestart}`);
    const leftovers = (await fsp.readdir(stateDir)).filter((name) => name !== "config.json" && name !== "hash-seed.fingerprint");
    figures.leftoverFiles = leftovers.length;
    if (leftovers.length > 0) violations.push(`files left in the state directory: ${leftovers.join(", ")}`);
    return { scenario: `EIO on the state directory's ${syscall} during a write`, figures, violations };
  } finally {
    await node.destroy();
  }
}
