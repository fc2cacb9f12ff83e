/**
 * Which worker reads each UDP listener's socket. A UDP socket has no accept queue to share: every
 * worker reading it would be woken for every datagram, and one client's datagrams would be spread
 * over the workers, each opening its own session (its own source port) towards the member, which
 * breaks any protocol that keeps state per client port. So each UDP listener (by socketKey) has one
 * owner, the only worker that opens it; the listeners are spread over the workers, each new one
 * going to the worker that owns the fewest (the first in the given order on a tie).
 *
 * An owner keeps its listeners while it lives, whatever plans come: ownership moves only when the
 * owner is gone, so a restarted worker never takes a listener back from the one that took over.
 */
export class UdpListenerOwners<W> {
  private readonly owners = new Map<string, W>();

  ownerOf(key: string): W | undefined {
    return this.owners.get(key);
  }

  /** How many listeners `worker` owns. */
  count(worker: W): number {
    let n = 0;
    for (const owner of this.owners.values()) if (owner === worker) n++;
    return n;
  }

  /**
   * Gives each of `keys` that has no owner to the worker of `workers` owning the fewest; returns the
   * workers that gained listeners. With no worker to give them to, they stay without an owner.
   */
  assign(keys: Iterable<string>, workers: readonly W[]): Set<W> {
    const gained = new Set<W>();
    if (workers.length === 0) return gained;
    const counts = new Map(workers.map((w) => [w, this.count(w)]));
    for (const key of keys) {
      if (this.owners.has(key)) continue;
      let fewest = workers[0];
      for (const w of workers) if ((counts.get(w) ?? 0) < (counts.get(fewest) ?? 0)) fewest = w;
      this.owners.set(key, fewest);
      counts.set(fewest, (counts.get(fewest) ?? 0) + 1);
      gained.add(fewest);
    }
    return gained;
  }

  /** The worker is gone: its listeners have no owner until the next `assign`. Returns their keys. */
  forget(worker: W): string[] {
    const orphans: string[] = [];
    for (const [key, owner] of this.owners) {
      if (owner !== worker) continue;
      this.owners.delete(key);
      orphans.push(key);
    }
    return orphans;
  }

  /** Forgets the owners of listeners whose keys are not in `keys` (removed from the node's configuration). */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const key of [...this.owners.keys()]) if (!keys.has(key)) this.owners.delete(key);
  }
}
