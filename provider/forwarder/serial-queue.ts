/**
 * Runs async tasks one at a time, in the order they were queued: a data plane's plans, a worker
 * pool's plans, the store's writes. A task that fails does not stop the ones queued after it;
 * its caller gets the failure.
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` once every task queued before it has settled; resolves or rejects as it does. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Resolves once every task queued so far has settled. */
  async idle(): Promise<void> {
    await this.tail;
  }
}
