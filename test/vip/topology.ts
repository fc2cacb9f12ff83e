/**
 * Network namespaces for the VIP tests: a client with several addresses, a router running BIRD
 * with ECMP and the L4 multipath hash, N forwarder nodes and a backend, each node and the
 * client and the backend on their own link to the router:
 *
 *   client 10.0.0.2-17 ── router ── 10.0.K.2 node K (K = 1..N), VIP 10.99.0.1 on each node's lo
 *                            │         (router 10.0.K.1, and 10.0.K.254 for a second session)
 *                            └───── 10.0.9.2, 10.0.9.3 backend (members m1, m2)
 *
 * Every process is started through `ip netns exec` (same PID: it execs) and stopped by PID;
 * `destroy` deletes every namespace whatever state the test left it in.
 */
import { execFile, execFileSync, spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";

export const VIP = "10.99.0.1";
export const ROUTER_ASN = 65000;
export const NODE_ASN = 65001;
export const CLIENT_SOURCES = Array.from({ length: 16 }, (_, i) => `10.0.0.${i + 2}`);
export const MEMBERS = [
  { name: "m1", address: "10.0.9.2" },
  { name: "m2", address: "10.0.9.3" },
];
export const MEMBER_PORT = 7001;

export const nodeAddress = (k: number) => `10.0.${k}.2`;
export const routerAddress = (k: number) => `10.0.${k}.1`;
/** The router's second address on node k's link, for a second BGP session with that node. */
export const secondRouterAddress = (k: number) => `10.0.${k}.254`;
/** The router's hold time on a second session: the node's, if shorter, is what BGP runs. */
export const SECOND_SESSION_HOLD_SECONDS = 9;

function run(args: readonly string[]): void {
  execFileSync(args[0], args.slice(1), { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
}

export function commandOutput(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(args[0], args.slice(1), { timeout: 5000 }, (error, stdout, stderr) => (error ? reject(new Error(`${args.join(" ")}: ${stderr || error.message}`)) : resolve(stdout))),
  );
}

export class Topology {
  readonly client: string;
  readonly router: string;
  readonly backend: string;
  readonly nodes: readonly string[];
  private readonly created: string[] = [];
  private readonly processes = new Set<ChildProcess>();

  constructor(nodeCount: number) {
    const tag = `dnlbvip${process.pid}`;
    this.client = `${tag}c`;
    this.router = `${tag}r`;
    this.backend = `${tag}b`;
    this.nodes = Array.from({ length: nodeCount }, (_, i) => `${tag}n${i + 1}`);
  }

  /** Builds the namespaces and links; throws (after deleting what it made) on the first failing `ip`. */
  build(): void {
    try {
      for (const ns of [this.router, this.client, this.backend, ...this.nodes]) {
        run(["ip", "netns", "add", ns]);
        this.created.push(ns);
        run(["ip", "-n", ns, "link", "set", "lo", "up"]);
      }
      run(["ip", "netns", "exec", this.router, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.fib_multipath_hash_policy=1"]);
      this.link(this.client, 0, CLIENT_SOURCES);
      this.link(this.backend, 9, MEMBERS.map((m) => m.address));
      this.nodes.forEach((ns, i) => this.link(ns, i + 1, [nodeAddress(i + 1)]));
    } catch (error) {
      this.destroy();
      throw error;
    }
  }

  /** A veth from the router (r<K>, 10.0.K.1/24) to `ns` (eth0, `addresses`/24), default route via the router. */
  private link(ns: string, k: number, addresses: readonly string[]): void {
    run(["ip", "-n", this.router, "link", "add", `r${k}`, "type", "veth", "peer", "name", "eth0", "netns", ns]);
    run(["ip", "-n", this.router, "addr", "add", `${routerAddress(k)}/24`, "dev", `r${k}`]);
    run(["ip", "-n", this.router, "link", "set", `r${k}`, "up"]);
    for (const a of addresses) run(["ip", "-n", ns, "addr", "add", `${a}/24`, "dev", "eth0"]);
    run(["ip", "-n", ns, "link", "set", "eth0", "up"]);
    run(["ip", "-n", ns, "route", "add", "default", "via", routerAddress(k)]);
  }

  /** Starts `command` in `ns`; the process is killed by PID in `destroy` if still running. */
  spawn(ns: string, command: readonly string[], env: NodeJS.ProcessEnv = {}, cwd?: string): ChildProcess {
    const child = spawn("ip", ["netns", "exec", ns, ...command], { cwd, env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "pipe"] });
    this.processes.add(child);
    child.once("exit", () => this.processes.delete(child));
    return child;
  }

  /**
   * Starts the router's BIRD (ECMP, the nodes as eBGP peers, BFD towards `bfdNodes`, a second
   * session without BFD from secondRouterAddress(k) with each node k of `secondSessionNodes`) with
   * its configuration and control socket in `dir`; returns the control socket's path.
   */
  async startRouter(dir: string, bfdNodes: readonly number[], secondSessionNodes: readonly number[] = []): Promise<string> {
    const conf = path.join(dir, "router.conf");
    const socket = path.join(dir, "router.ctl");
    for (const k of secondSessionNodes) run(["ip", "-n", this.router, "addr", "add", `${secondRouterAddress(k)}/24`, "dev", `r${k}`]);
    await fs.writeFile(conf, routerBirdConfig(this.nodes.length, bfdNodes, secondSessionNodes));
    this.spawn(this.router, ["setpriv", "--pdeathsig", "KILL", "bird", "-f", "-c", conf, "-s", socket]);
    return socket;
  }

  /**
   * Starts FRR as the router instead of BIRD: zebra (the kernel's table), bfdd and bgpd, each
   * reading the whole of `config` (a daemon skips the other daemons' lines), as user frr with their
   * sockets and logs in `dir`/frr. Resolves with that directory, where vtysh reaches them
   * (`vtysh --vty_socket DIR`).
   */
  async startFrrRouter(dir: string, config: string): Promise<string> {
    const frrDir = path.join(dir, "frr");
    await fs.mkdir(frrDir, { recursive: true });
    await fs.writeFile(path.join(frrDir, "frr.conf"), config);
    await fs.writeFile(path.join(frrDir, "empty.conf"), "");
    const [uid, gid] = ["-u", "-g"].map((flag) => Number(execFileSync("id", [flag, "frr"], { encoding: "utf8" }).trim()));
    for (const name of await fs.readdir(frrDir)) await fs.chown(path.join(frrDir, name), uid, gid);
    await fs.chown(frrDir, uid, gid);
    // The daemons drop to user frr, which must pass through `dir` (mkdtemp makes it 0700) to reach frrDir.
    await fs.chmod(dir, 0o711);
    const zserv = path.join(frrDir, "zserv.api");
    const daemon = (name: string, configFile: string, extra: readonly string[] = []) =>
      this.spawn(this.router, [
        `/usr/lib/frr/${name}`,
        ...["-u", "frr", "-g", "frr", "-z", zserv, "--vty_socket", frrDir, "-i", path.join(frrDir, `${name}.pid`), "-P", "0"],
        ...["-f", path.join(frrDir, configFile), "--log", `file:${path.join(frrDir, `${name}.log`)}`, ...extra],
      ]);
    daemon("zebra", "empty.conf");
    for (let i = 0; i < 100 && !(await fs.stat(zserv).catch(() => undefined)); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    daemon("bfdd", "frr.conf", ["--bfdctl", path.join(frrDir, "bfdd.sock")]);
    daemon("bgpd", "frr.conf");
    return frrDir;
  }

  /** Starts the backend's members (BACKEND_SCRIPT); resolves once they listen. */
  async startBackend(): Promise<void> {
    const backend = this.spawn(this.backend, [process.execPath, "-e", BACKEND_SCRIPT, JSON.stringify(MEMBERS)]);
    await new Promise<void>((resolve, reject) => {
      backend.stdout?.once("data", () => resolve());
      backend.once("exit", (code) => reject(new Error(`the backend exited (${code})`)));
    });
  }

  /** Drops every packet to and from node `k` (1-based) on its link: the node is up but silent. */
  silence(k: number): void {
    const ns = this.nodes[k - 1];
    run(["ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-i", "eth0", "-j", "DROP"]);
    run(["ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-o", "eth0", "-j", "DROP"]);
  }

  /** Drops every packet between node `k` and `address` only: that one BGP (and BFD) peer goes silent. */
  silenceTowards(k: number, address: string): void {
    const ns = this.nodes[k - 1];
    run(["ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-s", address, "-j", "DROP"]);
    run(["ip", "netns", "exec", ns, "iptables", "-A", "OUTPUT", "-d", address, "-j", "DROP"]);
  }

  /** Names of this topology's namespaces that still exist. */
  remainingNamespaces(): string[] {
    const listed = execFileSync("ip", ["netns", "list"], { encoding: "utf8", timeout: 5000 });
    const names = new Set(listed.split("\n").map((l) => l.split(" ")[0]));
    return [this.router, this.client, this.backend, ...this.nodes].filter((ns) => names.has(ns));
  }

  /** Node addresses the router's kernel table sends the VIP to now. */
  async vipNextHops(): Promise<string[]> {
    const out = await commandOutput(["ip", "-n", this.router, "route", "show", `${VIP}/32`]);
    return [...out.matchAll(/via (\S+)/g)].map((m) => m[1]).sort();
  }

  /** Kills every process still running (by PID) and deletes every namespace. Never throws. */
  destroy(): void {
    for (const child of this.processes) if (child.pid !== undefined && child.exitCode === null) child.kill("SIGKILL");
    this.processes.clear();
    for (const ns of this.created.splice(0).reverse()) {
      try {
        // Processes started in the namespace by anything else (BIRD of a node) die with their parents; pids left are killed here.
        const pids = execFileSync("ip", ["netns", "pids", ns], { encoding: "utf8", timeout: 5000 }).split(/\s+/).filter((p) => p !== "");
        for (const pid of pids) process.kill(Number(pid), "SIGKILL");
        run(["ip", "netns", "del", ns]);
      } catch {
        // Deleting the rest matters more than reporting this one.
      }
    }
  }
}

/**
 * The router's BIRD: one eBGP session per node (protocol nodeK), ECMP into the kernel table, BFD
 * with the nodes in `bfdNodes`, and a second session (protocol nodeKb, no BFD) with each node in
 * `secondSessionNodes`. BIRD 2.0 runs one session per neighbor, port and interface (its lock), so
 * the second names the interface the first leaves out, and each names its local address, by which
 * BIRD tells which one a node's connection is for.
 */
export function routerBirdConfig(nodeCount: number, bfdNodes: readonly number[], secondSessionNodes: readonly number[] = []): string {
  const lines = [
    `router id ${routerAddress(0)};`,
    "protocol device {}",
    "protocol kernel { ipv4 { import none; export all; }; merge paths on; }",
    'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
  ];
  for (let k = 1; k <= nodeCount; k++) {
    lines.push(
      `protocol bgp node${k} {`,
      `  local ${routerAddress(k)} as ${ROUTER_ASN}; neighbor ${nodeAddress(k)} as ${NODE_ASN};`,
      // A short error wait: a node that comes back is accepted within a second or two (BIRD's
      // default, and even 1-5 s, keeps refusing it for several seconds after it left).
      "  hold time 3; keepalive time 1; connect retry time 1; error wait time 1, 2;",
      ...(bfdNodes.includes(k) ? ["  bfd on;"] : []),
      "  ipv4 { import all; export none; };",
      "}",
    );
    if (!secondSessionNodes.includes(k)) continue;
    lines.push(
      `protocol bgp node${k}b {`,
      `  local ${secondRouterAddress(k)} as ${ROUTER_ASN}; neighbor ${nodeAddress(k)} as ${NODE_ASN}; interface "r${k}";`,
      `  hold time ${SECOND_SESSION_HOLD_SECONDS}; keepalive time 1; connect retry time 1; error wait time 1, 2;`,
      "  ipv4 { import all; export none; };",
      "}",
    );
  }
  return lines.join("\n") + "\n";
}

/** The backend: each member answers `NAME PEER-ADDRESS` and closes. */
export const BACKEND_SCRIPT = `
const net = require("node:net");
const members = JSON.parse(process.argv[1]);
let listening = 0;
for (const m of members) {
  net.createServer((s) => { s.on("error", () => {}); s.end(m.name + " " + s.remoteAddress + "\\n"); })
    .listen(${MEMBER_PORT}, m.address, () => { if (++listening === members.length) console.log("listening"); });
}
`;

/** Why the VIP tests cannot run here (they need root for network namespaces, ip, BIRD and setpriv), or undefined. */
export function vipPrerequisiteMissing(): string | undefined {
  if (process.getuid?.() !== 0) return "the VIP tests need root (network namespaces)";
  for (const tool of ["ip", "bird", "birdc", "setpriv"]) {
    try {
      execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    } catch {
      return `the VIP tests need ${tool} (apt-get install iproute2 bird2 util-linux)`;
    }
  }
  return undefined;
}
