/**
 * Which worker took which client. The workers wait on one shared accept queue, so the kernel's
 * scheduler picks the worker: a handful of clients may all land on one of them. Tests that need
 * every worker to have served therefore send clients in batches until each has, within a bound.
 */
import { strict as assert } from "node:assert";
import type { WorkerPool } from "../../../provider/forwarder/workers/pool";
import { waitFor } from "../../support/wait";
import { identify, runConcurrently, sourceAddress, tally } from "./clients";

/** Clients accepted on `listenerId` by each live worker, per its last snapshot. */
export function acceptedPerWorker(pool: WorkerPool, listenerId: string): number[] {
  return pool.workerStats().map((w) => w.stats.listeners.find((l) => l.id === listenerId)?.connections ?? 0);
}

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

export interface BatchOptions {
  readonly host: string;
  readonly port: number;
  readonly listenerId: string;
  /** The member every client must reach. */
  readonly expected: string;
  /** Second octet of the clients' source addresses (127.N.x.y) and the index of the first. */
  readonly sourceOctet: number;
  readonly firstSource: number;
  /** Each worker's count before; default none. */
  readonly before?: readonly number[];
  readonly batch?: number;
  readonly withinMs?: number;
}

/**
 * Sends batches of clients (default 40, 10 at a time; each must reach `expected`) until every one
 * of the pool's workers has accepted more than `before`, for at most `withinMs` (default 10 s).
 * Resolves with the counts per worker and how many clients were sent.
 */
export async function servedPerWorker(pool: WorkerPool, opts: BatchOptions): Promise<{ counts: number[]; sent: number }> {
  const before = opts.before ?? [];
  const batch = opts.batch ?? 40;
  const deadline = Date.now() + (opts.withinMs ?? 10_000);
  let sent = 0;
  let counts: number[];
  do {
    const names = await runConcurrently(batch, 10, (i) => identify({ host: opts.host, port: opts.port, localAddress: sourceAddress(opts.firstSource + sent + i, opts.sourceOctet) }));
    assert.deepEqual(tally(names), new Map([[opts.expected, batch]]));
    sent += batch;
    await waitFor(() => sum(acceptedPerWorker(pool, opts.listenerId)) === sum(before) + sent, 5000, `the workers' stats to count the ${sent} clients`);
    counts = acceptedPerWorker(pool, opts.listenerId);
  } while (!(counts.length === pool.pids().length && counts.every((n, i) => n > (before[i] ?? 0))) && Date.now() < deadline);
  return { counts, sent };
}
