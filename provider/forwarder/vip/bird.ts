/**
 * The node's BGP speaker: BIRD 2 run as the node's child, in the foreground, with the
 * configuration from bird-config.ts written into the state directory.
 *
 * BIRD is started through `setpriv --pdeathsig KILL`, so the kernel kills it when the node dies
 * however it dies (`kill -9` included): its BGP sessions close and the routers drop the VIP's
 * route at once, instead of sending traffic to a node whose forwarder is gone. BIRD that exits
 * on its own is started again after RESTART_DELAY_MS, from the configuration file, which always
 * holds the current announcement.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import type { Logger } from "pino";
import type { BgpOptions, BgpPeer } from "../options";
import { birdConfig, peerProtocol, VIP_PROTOCOL } from "./bird-config";
import { parseProtocols, type BgpState } from "./birdc-output";

export interface BirdOptions {
  readonly vip: string;
  readonly bgp: BgpOptions;
  /** `bird` (looked up in PATH) or a path; `birdc` is taken from the same folder. */
  readonly birdBinary: string;
  readonly stateDir: string;
  readonly logger: Logger;
}

export interface PeerStatus extends BgpPeer {
  readonly state: BgpState;
}

const RESTART_DELAY_MS = 1000;
const PEER_POLL_MS = 500;
const BIRDC_TIMEOUT_MS = 2000;
/** How long BIRD may take to open its control socket after it starts. */
const START_TIMEOUT_MS = 5000;

export class BirdSpeaker {
  private child: ChildProcess | undefined;
  private announced = false;
  private peerStates = new Map<string, BgpState>();
  private restartTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly configFile: string;
  private readonly socket: string;
  private readonly birdc: string;

  private constructor(private readonly options: BirdOptions) {
    this.configFile = path.join(options.stateDir, "bird.conf");
    this.socket = path.join(options.stateDir, "bird.ctl");
    this.birdc = options.birdBinary.includes("/") ? path.join(path.dirname(options.birdBinary), "birdc") : "birdc";
  }

  /** Writes the configuration (VIP withdrawn), starts BIRD and waits for its control socket; throws when it does not come up. */
  static async start(options: BirdOptions): Promise<BirdSpeaker> {
    const speaker = new BirdSpeaker(options);
    try {
      await speaker.writeConfig();
      speaker.spawn();
      await speaker.waitForSocket();
    } catch (error) {
      await speaker.close();
      throw error;
    }
    speaker.pollTimer = setInterval(() => void speaker.pollPeers(), PEER_POLL_MS);
    return speaker;
  }

  /** Each peer with its session state as BIRD last reported it (polled every PEER_POLL_MS). */
  peers(): PeerStatus[] {
    return this.options.bgp.peers.map((peer, index) => ({ ...peer, state: this.child === undefined ? "Down" : (this.peerStates.get(peerProtocol(index)) ?? "Down") }));
  }

  /**
   * Announces or withdraws the VIP: the configuration file first (a restarted BIRD starts with
   * it), then the running BIRD through birdc. A BIRD that is down gets it when it restarts.
   */
  async setAnnounced(announced: boolean): Promise<void> {
    if (this.closed) return;
    this.announced = announced;
    await this.writeConfig();
    if (this.child === undefined) return;
    try {
      await this.control(`${announced ? "enable" : "disable"} ${VIP_PROTOCOL}`);
    } catch (error) {
      this.options.logger.error({ err: error, announced }, "birdc could not change the VIP's announcement: it applies when BIRD restarts");
    }
  }

  /** Stops BIRD (its sessions close, so the routers drop the route). Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearInterval(this.pollTimer);
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  }

  private async writeConfig(): Promise<void> {
    const temp = `${this.configFile}.tmp`;
    await fs.writeFile(temp, birdConfig(this.options.vip, this.options.bgp, this.announced), { mode: 0o600 });
    await fs.rename(temp, this.configFile);
  }

  private spawn(): void {
    const { birdBinary, logger } = this.options;
    const child = spawn("setpriv", ["--pdeathsig", "KILL", birdBinary, "-f", "-c", this.configFile, "-s", this.socket], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    this.child = child;
    let pending = "";
    child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      const lines = (pending + chunk).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line.trim() !== "") logger.info({ bird: line.trim() }, "bird");
    });
    child.on("error", (error) => {
      // The spawn itself failed (no setpriv): there is no process to wait for.
      if (this.child === child) this.child = undefined;
      logger.error({ err: error, birdBinary }, "cannot start BIRD: it needs setpriv (util-linux) and BIRD 2");
    });
    child.on("exit", (code, signal) => {
      if (this.child === child) this.child = undefined;
      this.peerStates = new Map();
      if (this.closed) return;
      logger.error({ code, signal, restartInMs: RESTART_DELAY_MS, announced: this.announced }, "BIRD exited; restarting it");
      this.restartTimer = setTimeout(() => {
        if (!this.closed) this.spawn();
      }, RESTART_DELAY_MS);
    });
  }

  private async waitForSocket(): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (this.child === undefined) throw new Error(`BIRD (${this.options.birdBinary}, through setpriv) did not start or exited at start: the log above says why`);
      try {
        await this.control("show status");
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`BIRD did not open its control socket ${this.socket} within ${START_TIMEOUT_MS} ms: ${(error as Error).message}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  private async pollPeers(): Promise<void> {
    if (this.child === undefined) return;
    try {
      this.peerStates = parseProtocols(await this.control("show protocols"));
    } catch {
      // BIRD is restarting or busy: the previous states stay until the next poll.
    }
  }

  private control(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      execFile(this.birdc, ["-s", this.socket, ...command.split(" ")], { timeout: BIRDC_TIMEOUT_MS }, (error, stdout, stderr) => {
        if (error) reject(new Error(`${this.birdc} ${command}: ${stderr.trim() || error.message}`));
        else resolve(stdout);
      });
    });
  }
}
