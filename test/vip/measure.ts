/** Counting and timing for the VIP tests. */

export function countBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

export function format(counts: Map<string, number>): string {
  return [...counts].sort().map(([k, v]) => `${k}: ${v}`).join(", ");
}

/** Polls `probe` every 10 ms (bounded by `timeoutMs`); resolves with the ms it took since `since`. */
export async function timeUntil(what: string, timeoutMs: number, probe: () => Promise<boolean>, since = Date.now()): Promise<number> {
  for (;;) {
    if (await probe()) return Date.now() - since;
    if (Date.now() - since > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Whether the router's next hops `hops` (sorted) are exactly `expected`. */
export const sameHops = (hops: readonly string[], expected: readonly string[]) => hops.join() === [...expected].sort().join();
