/**
 * Real DNS for the UDP tests: an NSD server per member whose zone answers `who.dnlb.test TXT`
 * with the member's name, and a minimal DNS client on dgram (a TXT query, its answer's text),
 * so thousands of client ports cost sockets, not processes. `dig` is used where one real client
 * is enough.
 */
import { spawn, type ChildProcess } from "node:child_process";
import * as dgram from "node:dgram";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { waitFor } from "../../support/wait";
import { findProgram, runProgram, tempDir } from "./processes";

export const QUESTION = "who.dnlb.test";

export function dnsToolsMissing(): string | undefined {
  for (const program of ["nsd", "dig"]) if (findProgram(program) === undefined) return `${program} is not installed (apt-get install nsd dnsutils; .ci/run does)`;
  return undefined;
}

/** One NSD process serving UDP and TCP on `host:port`, answering QUESTION with `name`. */
export class NsdServer {
  private constructor(
    readonly name: string,
    readonly host: string,
    readonly port: number,
    private child: ChildProcess | null,
  ) {}

  static async start(name: string, host: string, port: number): Promise<NsdServer> {
    const conf = writeNsdConfig(tempDir(`dnlb-nsd-${name}-`), host, port, name);
    const child = spawn(findProgram("nsd") as string, ["-d", "-c", conf], { stdio: "ignore" });
    const server = new NsdServer(name, host, port, child);
    const client = await DnsClient.open("127.0.0.1");
    try {
      await waitFor(() => client.ask(host, port, 200).then((answer) => answer === name || undefined, () => undefined), 10_000, `nsd ${name} answering on ${host}:${port}`);
    } catch (error) {
      await server.stop();
      throw error;
    } finally {
      client.close();
    }
    return server;
  }

  /** Stops the server (by its PID) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once("exit", () => resolve());
      child.kill("SIGTERM");
    });
  }
}

/**
 * Writes an NSD configuration and zone into `dir`: one server process on `host:port` answering
 * QUESTION with `answer`. Returns the configuration's path.
 */
export function writeNsdConfig(dir: string, host: string, port: number, answer: string): string {
  writeFileSync(
    path.join(dir, "dnlb.test.zone"),
    ["$ORIGIN dnlb.test.", "$TTL 60", "@ IN SOA ns admin 1 3600 600 86400 60", "@ IN NS ns", "ns IN A 127.0.0.1", `who IN TXT "${answer}"`, ""].join("\n"),
  );
  const conf = path.join(dir, "nsd.conf");
  writeFileSync(
    conf,
    [
      "server:",
      `  ip-address: ${host}@${port}`,
      '  username: ""',
      '  chroot: ""',
      `  zonesdir: "${dir}"`,
      `  pidfile: "${dir}/nsd.pid"`,
      '  database: ""',
      `  xfrdfile: "${dir}/xfrd.state"`,
      `  zonelistfile: "${dir}/zone.list"`,
      `  logfile: "${dir}/nsd.log"`,
      "  server-count: 1",
      "  verbosity: 0",
      // Response rate limiting (on by default: 200 answers/s per source /24) would drop answers
      // to the forwarder, whose every session comes from one address.
      "  rrl-ratelimit: 0",
      "  rrl-whitelist-ratelimit: 0",
      "remote-control:",
      "  control-enable: no",
      "zone:",
      '  name: "dnlb.test"',
      '  zonefile: "dnlb.test.zone"',
      "",
    ].join("\n"),
  );
  return conf;
}

/** `dig` through `host:port` (UDP, or TCP with `tcp`); the answer's text, or undefined when none came. */
export async function dig(host: string, port: number, opts: { tcp?: boolean; source?: string } = {}): Promise<string | undefined> {
  const args = [`@${host}`, "-p", String(port), QUESTION, "TXT", "+short", "+time=2", "+tries=1", ...(opts.tcp === true ? ["+tcp"] : []), ...(opts.source === undefined ? [] : ["-b", opts.source])];
  const { output } = await runProgram(findProgram("dig") as string, args, 10_000);
  const match = /^"([^"]*)"$/m.exec(output);
  return match === null ? undefined : match[1];
}

/** A DNS client on one UDP socket (one client address and port), asking QUESTION. */
export class DnsClient {
  private nextId = 1;
  private readonly waiting = new Map<number, (answer: string) => void>();

  private constructor(private readonly socket: dgram.Socket) {
    socket.on("message", (message) => {
      const answer = parseTxtAnswer(message);
      if (answer === undefined) return;
      this.waiting.get(answer.id)?.(answer.text);
      this.waiting.delete(answer.id);
    });
  }

  static open(address: string): Promise<DnsClient> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket("udp4");
      socket.once("error", reject);
      socket.bind(0, address, () => {
        socket.off("error", reject);
        socket.on("error", () => undefined); // ICMP errors: the question just goes unanswered
        resolve(new DnsClient(socket));
      });
    });
  }

  get port(): number {
    return this.socket.address().port;
  }

  /** Asks once; resolves with the TXT text, rejects after `timeoutMs` without an answer. */
  ask(host: string, port: number, timeoutMs = 2000): Promise<string> {
    const id = this.nextId++ & 0xffff;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms (client port ${this.port})`));
      }, timeoutMs);
      this.waiting.set(id, (text) => {
        clearTimeout(timer);
        resolve(text);
      });
      this.socket.send(txtQuery(id), port, host);
    });
  }

  close(): void {
    for (const id of this.waiting.keys()) this.waiting.delete(id);
    this.socket.close();
  }
}

function txtQuery(id: number): Buffer {
  const labels = QUESTION.split(".").flatMap((label) => [Buffer.from([label.length]), Buffer.from(label, "ascii")]);
  const header = Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 16, 0, 1])]);
}

/** The id and first TXT string of an answer to txtQuery (one question, compressed answer name). */
function parseTxtAnswer(message: Buffer): { id: number; text: string } | undefined {
  if (message.length < 12 || message.readUInt16BE(6) === 0) return undefined;
  let offset = 12;
  while (message[offset] !== 0) offset += message[offset] + 1;
  offset += 5; // the root label, QTYPE, QCLASS
  // Answer: name (a 2-byte pointer), TYPE, CLASS, TTL, RDLENGTH, then RDATA = <length><text>.
  offset += 2 + 2 + 2 + 4 + 2;
  const length = message[offset];
  if (length === undefined || offset + 1 + length > message.length) return undefined;
  return { id: message.readUInt16BE(0), text: message.toString("utf8", offset + 1, offset + 1 + length) };
}
