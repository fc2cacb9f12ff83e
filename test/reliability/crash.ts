/**
 * Crash consistency: configuration writes to a real node, `kill -9` at random moments, restart.
 *
 * Four writers run at once, each owning its own objects (so at most one write per object is in
 * flight): health checks, server groups of up to 300 members (a state file of tens of KiB, so a
 * kill can land inside a write), and listeners moving between ports. After every kill:
 * - the state file parses, and every object in it equals either its last acknowledged state or
 *   the state its in-flight write asked for (never a mix, never an older one): nothing
 *   acknowledged is lost, nothing half-written is kept;
 * - after the restart the node serves exactly what the file holds, every restored listener is
 *   Listening again, and no temporary file is left.
 */
import { promises as fsp } from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { delay } from "../support/wait";
import { CliNode, jsonRequest, percentile, prng } from "./support";

export interface CrashOptions {
  /** At least this many writes are sent (the last cycle may send a few more). */
  readonly writes: number;
  readonly seed: number;
  /** A kill comes a random 0..maxKillDelayMs after the writers start. */
  readonly maxKillDelayMs: number;
  /** Kill at least this often, even when `writes` are done sooner. */
  readonly minKills: number;
}

export interface CrashFigures {
  readonly writes: number;
  readonly acknowledged: number;
  readonly kills: number;
  /**
   * Writes in flight at a kill (never acknowledged) whose result was found in the file / not found:
   * either is allowed, since the client was never told the write succeeded.
   */
  readonly inFlightPersisted: number;
  readonly inFlightNotPersisted: number;
  /** Temporary files found after a kill (removed by the next start). */
  readonly tempFilesAfterKill: number;
  readonly largestStateFileBytes: number;
  /** Listeners found restored (and Listening) after the restarts, summed. */
  readonly restoredListeners: number;
  readonly restartMsP50: number;
  readonly restartMsMax: number;
  readonly durationMs: number;
  readonly violations: string[];
}

type Kind = "health-checks" | "server-groups" | "listeners";
/** undefined: absent. */
type ObjectState = { spec: Record<string, unknown> } | undefined;

interface Tracked {
  readonly kind: Kind;
  readonly id: string;
  acked: ObjectState;
  /** The state an unanswered write asked for (undefined = no write in flight). */
  inFlight: { wanted: ObjectState } | undefined;
}

interface StateFile {
  format: string;
  version: number;
  objects: Record<string, Record<string, { revision: number; spec: Record<string, unknown> }>>;
}

/** Listener ports: each listener has its own range, so two listeners never ask for one port. */
const LISTENER_PORT_BASE = 26300;

function specFor(kind: Kind, id: string, random: () => number): Record<string, unknown> {
  if (kind === "listeners") {
    const index = Number(id.slice(id.lastIndexOf("-") + 1));
    return { name: id, protocol: "TCP", port: LISTENER_PORT_BASE + index * 50 + Math.floor(random() * 50), backendService: "crash-svc" };
  }
  if (kind === "health-checks") {
    return {
      name: id,
      protocol: "TCP",
      timeoutSeconds: 2 + Math.floor(random() * 59),
      intervalSeconds: 5 + Math.floor(random() * 296),
      unhealthyThreshold: 1 + Math.floor(random() * 5),
      healthyThreshold: 1 + Math.floor(random() * 5),
    };
  }
  const count = 1 + Math.floor(random() * 300);
  const weight = 1 + Math.floor(random() * 100);
  return {
    type: "virtual",
    name: id,
    members: Array.from({ length: count }, (_, i) => ({ address: `10.9.${i >> 8}.${i & 255}`, port: 8080, weight, enabled: true })),
  };
}

export async function runCrashConsistency(node: CliNode, opts: CrashOptions): Promise<CrashFigures> {
  const started = performance.now();
  const random = prng(opts.seed);
  const violations: string[] = [];
  const writers: Tracked[][] = [
    [0, 1].map((i) => ({ kind: "health-checks" as Kind, id: `crash-hc-${i}`, acked: undefined, inFlight: undefined })),
    [0, 1].map((i) => ({ kind: "server-groups" as Kind, id: `crash-sg-${i}`, acked: undefined, inFlight: undefined })),
    [2, 3].map((i) => ({ kind: "health-checks" as Kind, id: `crash-hc-${i}`, acked: undefined, inFlight: undefined })),
    [0, 1].map((i) => ({ kind: "listeners" as Kind, id: `crash-l-${i}`, acked: undefined, inFlight: undefined })),
  ];
  // The backend service the listeners use; never deleted.
  const pool = await jsonRequest(node.base, "PUT", "/v1/server-groups/crash-pool", { type: "virtual", name: "crash-pool", members: [{ address: "10.9.9.9" }] });
  if (pool.status >= 300) throw new Error(`creating crash-pool: ${pool.status} ${pool.body}`);
  const service = await jsonRequest(node.base, "PUT", "/v1/backend-services/crash-svc", { name: "crash-svc", port: 9, healthCheckEnabled: false, serverGroup: "crash-pool" });
  if (service.status >= 300) throw new Error(`creating crash-svc: ${service.status} ${service.body}`);
  const all = writers.flat();
  let sent = 0;
  let acknowledged = 0;
  let kills = 0;
  let inFlightPersisted = 0;
  let inFlightNotPersisted = 0;
  let tempFilesAfterKill = 0;
  let largest = 0;
  let restoredListeners = 0;
  const restartMs: number[] = [];

  // Writers run until the kill makes their request fail.
  const writeLoop = async (objects: Tracked[]): Promise<void> => {
    for (;;) {
      const target = objects[Math.floor(random() * objects.length)];
      const remove = target.acked !== undefined && random() < 0.15;
      const wanted: ObjectState = remove ? undefined : { spec: specFor(target.kind, target.id, random) };
      target.inFlight = { wanted };
      sent++;
      let status: number;
      try {
        const answer = remove
          ? await jsonRequest(node.base, "DELETE", `/v1/${target.kind}/${target.id}`)
          : await jsonRequest(node.base, "PUT", `/v1/${target.kind}/${target.id}`, wanted?.spec);
        status = answer.status;
        if (status >= 300) {
          violations.push(`${remove ? "DELETE" : "PUT"} ${target.kind}/${target.id} answered ${status}: ${answer.body.slice(0, 300)}`);
          target.inFlight = undefined;
          continue;
        }
      } catch {
        return; // the node is gone: this write stays in flight
      }
      target.acked = wanted;
      target.inFlight = undefined;
      acknowledged++;
    }
  };

  while ((sent < opts.writes || kills < opts.minKills) && violations.length === 0) {
    const loops = writers.map((objects) => writeLoop(objects));
    await delay(random() * opts.maxKillDelayMs);
    await node.kill9();
    kills++;
    await Promise.all(loops);

    // The file as the crash left it.
    const names = await fsp.readdir(node.stateDir);
    tempFilesAfterKill += names.filter((n) => n.startsWith("config.json.tmp")).length;
    let file: StateFile | undefined;
    try {
      const text = await fsp.readFile(node.configFile, "utf8");
      largest = Math.max(largest, Buffer.byteLength(text));
      file = JSON.parse(text) as StateFile;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || all.some((t) => t.acked !== undefined)) {
        violations.push(`after kill ${kills} the state file cannot be read: ${(error as Error).message}`);
        break;
      }
    }
    for (const t of all) {
      const entry = file?.objects[t.kind]?.[t.id];
      const onDisk: ObjectState = entry === undefined ? undefined : { spec: entry.spec };
      if (isDeepStrictEqual(onDisk, t.acked)) {
        if (t.inFlight !== undefined && !isDeepStrictEqual(t.inFlight.wanted, t.acked)) inFlightNotPersisted++;
      } else if (t.inFlight !== undefined && isDeepStrictEqual(onDisk, t.inFlight.wanted)) {
        inFlightPersisted++;
        t.acked = t.inFlight.wanted; // persisted before the kill: it is the state from now on
      } else {
        violations.push(
          `after kill ${kills}, ${t.kind}/${t.id} on disk is ${JSON.stringify(onDisk)?.slice(0, 200)}; acknowledged ${JSON.stringify(t.acked)?.slice(0, 200)}; in flight ${JSON.stringify(t.inFlight)?.slice(0, 200)}`,
        );
      }
      t.inFlight = undefined;
    }

    const restartStarted = performance.now();
    try {
      await node.launch();
    } catch (error) {
      violations.push(`restart after kill ${kills} failed: ${(error as Error).message}`);
      break;
    }
    restartMs.push(performance.now() - restartStarted);
    const leftovers = (await fsp.readdir(node.stateDir)).filter((n) => n.startsWith("config.json.tmp"));
    if (leftovers.length > 0) violations.push(`after restart ${kills} temporary files remain: ${leftovers.join(", ")}`);
    // Restored listeners listen again (the killed process released their ports).
    const status = JSON.parse((await jsonRequest(node.base, "GET", "/v1/status")).body) as { listeners: { id: string; state: string; error?: string }[] };
    for (const l of status.listeners) {
      if (l.state !== "Listening") violations.push(`after restart ${kills}, listener ${l.id} is ${l.state} ${l.error ?? ""}`);
    }
    restoredListeners += status.listeners.length;
    for (const t of all) {
      const answer = await jsonRequest(node.base, "GET", `/v1/${t.kind}/${t.id}`);
      const served: ObjectState = answer.status === 404 ? undefined : { spec: withoutIdentity(JSON.parse(answer.body) as Record<string, unknown>) };
      if (!isDeepStrictEqual(served, t.acked)) {
        violations.push(`after restart ${kills}, ${t.kind}/${t.id} is served as ${JSON.stringify(served)?.slice(0, 200)}, expected ${JSON.stringify(t.acked)?.slice(0, 200)}`);
      }
    }
  }
  return {
    writes: sent,
    acknowledged,
    kills,
    inFlightPersisted,
    inFlightNotPersisted,
    tempFilesAfterKill,
    largestStateFileBytes: largest,
    restoredListeners,
    restartMsP50: percentile(restartMs, 50),
    restartMsMax: Math.max(...restartMs),
    durationMs: performance.now() - started,
    violations,
  };
}

function withoutIdentity(stored: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, revision: _revision, ...spec } = stored;
  return spec;
}
