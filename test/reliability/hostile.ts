/**
 * Hostile clients.
 *
 * - Slowloris: connections that send a partial request and then nothing are closed by the node at
 *   the service's idleTimeoutSeconds (swept every 250 ms). A client that trickles one byte per
 *   interval shorter than the idle timeout is *not* idle and stays open: that is bounded only by the
 *   per-listener connection limit (see load.ts).
 * - Steering: with QuintupleHash an attacker chooses its source ports. Knowing the hash seed it can
 *   put every connection on one member; without it, choosing ports by a guessed seed gets the fair
 *   share and no more. Measured with FlowHasher + Maglev directly (10 members) and through a real
 *   node (4 members), where "knowing the seed" also proves the node hashes exactly as modelled.
 */
import * as net from "node:net";
import { FlowHasher, Maglev, type HashMember } from "../../provider/hashing";
import { TestBackend } from "../forwarder/helpers/backends";
import { CliNode, jsonRequest, prng, RELIABILITY_SEED } from "./support";

export interface HostileFigures {
  readonly scenario: string;
  readonly figures: Record<string, string | number>;
  readonly violations: string[];
}

function hexSeed(random: () => number): string {
  return Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join("");
}

// --- slowloris ------------------------------------------------------------------------------

/** Opens `count` slowloris connections and `tricklers` that send a byte every 500 ms for 3.5 s. */
export async function slowloris(node: CliNode, backend: TestBackend, listenerPort: number, count: number, tricklers: number): Promise<HostileFigures> {
  const violations: string[] = [];
  const idleTimeoutSeconds = 2;
  const writes: [string, string, unknown][] = [
    ["server-groups", "slow-pool", { type: "virtual", name: "slow-pool", members: [{ address: backend.host, port: backend.port }] }],
    ["backend-services", "slow-svc", { name: "slow-svc", port: backend.port, serverGroup: "slow-pool", healthCheckEnabled: false, idleTimeoutSeconds }],
    ["listeners", "slow-l", { name: "slow-l", port: listenerPort, backendService: "slow-svc" }],
  ];
  for (const [kind, id, spec] of writes) {
    const answer = await jsonRequest(node.base, "PUT", `/v1/${kind}/${id}`, spec);
    if (answer.status >= 300) throw new Error(`${kind}/${id}: ${answer.status} ${answer.body}`);
  }
  const opened = Date.now();
  const closedAfter: number[] = [];
  const sockets: net.Socket[] = [];
  const ended = (socket: net.Socket, lastByteAt: () => number) =>
    new Promise<number>((resolve) => {
      socket.on("error", () => undefined);
      // The flow's last byte is the echo of our request coming back through the node (the node
      // may accept well after the kernel completed our handshake): time the close from there.
      let lastData = 0;
      socket.on("data", () => (lastData = Date.now()));
      socket.on("close", () => resolve(Date.now() - Math.max(lastByteAt(), lastData)));
    });
  const slow = Array.from({ length: count }, (_, i) => {
    const socket = net.connect({ host: node.address, port: listenerPort, localAddress: `127.0.10.${100 + (i % 50)}` });
    sockets.push(socket);
    let sentAt = Date.now();
    socket.on("connect", () => {
      socket.write("GET / HTTP/1.1\r\nHost: victim\r\n"); // and never the blank line
      sentAt = Date.now();
    });
    return ended(socket, () => sentAt);
  });
  const trickled: { open: boolean }[] = [];
  const trickleDone = Array.from({ length: tricklers }, async () => {
    const socket = net.connect({ host: node.address, port: listenerPort });
    sockets.push(socket);
    const state = { open: true };
    trickled.push(state);
    socket.on("error", () => undefined);
    socket.on("close", () => (state.open = false));
    socket.resume();
    for (let i = 0; i < 7 && state.open; i++) {
      socket.write("x");
      await new Promise((r) => setTimeout(r, 500));
    }
  });
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), idleTimeoutSeconds * 1000 + 8000));
  const result = await Promise.race([Promise.all(slow), timeout]);
  await Promise.all(trickleDone);
  const stillTrickling = trickled.filter((t) => t.open).length;
  for (const s of sockets) s.destroy();
  if (result === "timeout") {
    violations.push(`not every slowloris connection was closed within ${idleTimeoutSeconds + 8} s`);
  } else {
    closedAfter.push(...result);
    // Timed on this side, which sees each byte and each close a little late when it holds
    // thousands of sockets: 250 ms of tolerance early, two sweeps (500 ms) plus 1 s late.
    const early = closedAfter.filter((ms) => ms < idleTimeoutSeconds * 1000 - 250).length;
    const late = closedAfter.filter((ms) => ms > idleTimeoutSeconds * 1000 + 1500).length;
    if (early > 0) violations.push(`${early} connections closed before the idle timeout`);
    if (late > 0) violations.push(`${late} connections closed more than 1.5 s after the idle timeout`);
  }
  if (stillTrickling !== tricklers) violations.push(`${tricklers - stillTrickling} of ${tricklers} trickling (not idle) connections were closed`);
  return {
    scenario: `slowloris (idleTimeoutSeconds ${idleTimeoutSeconds})`,
    figures: {
      connections: count,
      closedAfterMsMin: closedAfter.length ? Math.min(...closedAfter) : NaN,
      closedAfterMsMax: closedAfter.length ? Math.max(...closedAfter) : NaN,
      allClosedAfterMs: Date.now() - opened,
      tricklersStillOpenAt3500ms: `${stillTrickling}/${tricklers}`,
    },
    violations,
  };
}

// --- steering: the hashing core alone --------------------------------------------------------

const VIP = "10.0.0.100";
const VIP_PORT = 80;
const ATTACKER = "203.0.113.7";

/** Source ports (1024-65535, in a seeded random order) whose 5-tuple lands on `target` under `seed`. */
function portsFor(seed: string, table: Maglev, target: string, clientIp: string, localIp: string, localPort: number, count: number, order: number[]): number[] {
  const hasher = new FlowHasher(seed);
  const chosen: number[] = [];
  for (const port of order) {
    const member = table.lookup(hasher.quintupleHash(clientIp, port, localIp, localPort));
    if (member !== undefined && `${member.address}:${member.port}` === target) chosen.push(port);
    if (chosen.length === count) break;
  }
  return chosen;
}

function shuffledPorts(random: () => number, from: number, to: number): number[] {
  const ports = Array.from({ length: to - from + 1 }, (_, i) => from + i);
  for (let i = ports.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ports[i], ports[j]] = [ports[j], ports[i]];
  }
  return ports;
}

/**
 * 10 members of equal weight; the attacker wants member 0. `guesses` wrong seeds, `connections`
 * ports each; the share is measured under the real seed.
 */
export function steeringModel(guesses: number, connections: number): HostileFigures {
  const violations: string[] = [];
  const random = prng(99);
  const members: HashMember[] = Array.from({ length: 10 }, (_, i) => ({ address: `10.0.1.${i + 1}`, port: 8080, weight: 10 }));
  const table = Maglev.build(members);
  const target = "10.0.1.1:8080";
  const real = new FlowHasher(RELIABILITY_SEED);
  const shareUnderRealSeed = (ports: number[]) => ports.filter((p) => {
    const m = table.lookup(real.quintupleHash(ATTACKER, p, VIP, VIP_PORT));
    return m !== undefined && `${m.address}:${m.port}` === target;
  }).length / ports.length;
  const order = shuffledPorts(random, 1024, 65535);
  const known = shareUnderRealSeed(portsFor(RELIABILITY_SEED, table, target, ATTACKER, VIP, VIP_PORT, connections, order));
  const shares: number[] = [];
  for (let g = 0; g < guesses; g++) {
    const guess = g === 0 ? "00000000000000000000000000000000" : hexSeed(random);
    shares.push(shareUnderRealSeed(portsFor(guess, table, target, ATTACKER, VIP, VIP_PORT, connections, order)));
  }
  // The attacker's ports are the most popular-looking under its guess; under the real seed they
  // are as good as random: the share is binomial around 1/10.
  const fair = 0.1;
  const sigma = Math.sqrt((fair * (1 - fair)) / connections);
  const mean = shares.reduce((a, b) => a + b, 0) / shares.length;
  const max = Math.max(...shares);
  if (known < 0.999) violations.push(`knowing the seed the attacker reaches only ${known}`);
  if (Math.abs(mean - fair) > 4 * sigma / Math.sqrt(guesses) + 0.005) violations.push(`without the seed the mean share is ${mean.toFixed(4)} (fair ${fair})`);
  if (max > fair + 5 * sigma) violations.push(`without the seed one guess reached ${max.toFixed(4)} (fair ${fair}, 5 sigma ${(fair + 5 * sigma).toFixed(4)})`);
  return {
    scenario: "steering by source port, hashing core (10 equal members, QuintupleHash)",
    figures: {
      connectionsPerAttempt: connections,
      shareKnowingSeed: known,
      guessedSeeds: guesses,
      shareWithoutSeedMean: Number(mean.toFixed(4)),
      shareWithoutSeedMax: Number(max.toFixed(4)),
      fairShare: fair,
      binomialSigma: Number(sigma.toFixed(4)),
    },
    violations,
  };
}

// --- steering through a real node ------------------------------------------------------------

/**
 * 4 identify backends behind a node with QuintupleHash and health checks off; the attacker
 * (source 127.0.10.45, then 127.0.10.46) connects from chosen ports and reads which member answered.
 */
export async function steeringThroughNode(node: CliNode, backends: TestBackend[], listenerPort: number, connections: number): Promise<HostileFigures> {
  const violations: string[] = [];
  const members = backends.map((b) => ({ address: b.host, port: b.port, weight: 10 }));
  const writes: [string, string, unknown][] = [
    ["server-groups", "steer-pool", { type: "virtual", name: "steer-pool", members: members.map((m) => ({ address: m.address, port: m.port })) }],
    ["backend-services", "steer-svc", { name: "steer-svc", port: backends[0].port, serverGroup: "steer-pool", healthCheckEnabled: false, algorithm: "QuintupleHash" }],
    ["listeners", "steer-l", { name: "steer-l", port: listenerPort, backendService: "steer-svc" }],
  ];
  for (const [kind, id, spec] of writes) {
    const answer = await jsonRequest(node.base, "PUT", `/v1/${kind}/${id}`, spec);
    if (answer.status >= 300) throw new Error(`${kind}/${id}: ${answer.status} ${answer.body}`);
  }
  const table = Maglev.build(members);
  const target = `${backends[0].host}:${backends[0].port}`;
  const random = prng(5);
  const order = shuffledPorts(random, 20000, 32000); // below the ephemeral range: no clash with other sockets
  const attack = async (source: string, seed: string): Promise<number> => {
    const ports = portsFor(seed, table, target, source, node.address, listenerPort, connections, order);
    let hits = 0;
    let answered = 0;
    for (let i = 0; i < ports.length; i += 50) {
      const names = await Promise.all(ports.slice(i, i + 50).map((p) => whoAnswers(node.address, listenerPort, source, p)));
      for (const name of names) {
        if (name === undefined) continue;
        answered++;
        if (name === target) hits++;
      }
    }
    if (answered < ports.length * 0.98) violations.push(`only ${answered} of ${ports.length} attacker connections were answered`);
    return hits / Math.max(1, answered);
  };
  const known = await attack("127.0.10.45", RELIABILITY_SEED);
  const unknown = await attack("127.0.10.46", hexSeed(random));
  const fair = 0.25;
  const sigma = Math.sqrt((fair * (1 - fair)) / connections);
  if (known < 0.999) violations.push(`knowing the seed the attacker reached ${known}: the node does not hash as modelled`);
  if (unknown > fair + 5 * sigma) violations.push(`without the seed the attacker reached ${unknown.toFixed(3)} (fair ${fair}, 5 sigma ${(fair + 5 * sigma).toFixed(3)})`);
  return {
    scenario: "steering by source port, through a node (4 equal members, QuintupleHash)",
    figures: { connections, shareKnowingSeed: Number(known.toFixed(4)), shareWithoutSeed: Number(unknown.toFixed(4)), fairShare: fair, binomialSigma: Number(sigma.toFixed(4)) },
    violations,
  };
}

/** Connects from source:port, reads the identify backend's first line, resets (no TIME_WAIT). */
function whoAnswers(host: string, port: number, localAddress: string, localPort: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, localAddress, localPort });
    let text = "";
    const finish = (name: string | undefined) => {
      clearTimeout(timer);
      socket.removeAllListeners("data");
      socket.on("error", () => undefined);
      socket.resetAndDestroy();
      resolve(name);
    };
    const timer = setTimeout(() => finish(undefined), 5000);
    socket.on("data", (d: Buffer) => {
      text += d.toString();
      const nl = text.indexOf("\n");
      if (nl >= 0) finish(text.slice(0, nl));
    });
    socket.on("error", () => finish(undefined));
  });
}
