/**
 * A data-plane worker process (started by WorkerPool with `child_process.fork`): one DataPlane
 * whose listeners listen on sockets the primary bound and hands over (bound-sockets.ts): every TCP
 * listener, and the UDP listeners this worker owns (the only ones its plans carry), driven
 * entirely by the primary over IPC. It never probes and never reads
 * the configuration: plans carry the members' health already.
 *
 * It exits when the primary asks (after letting connections finish for the grace period given),
 * and at once when the IPC channel closes (the primary is gone): a worker must not keep serving
 * a configuration nobody can change any more.
 */
import { DataPlane } from "../dataplane/dataplane";
import type { BoundSocket } from "../dataplane/listener";
import type { Transport } from "../dataplane/plan";
import { socketKey } from "./bound-sockets";
import type { FromWorker, ToWorker, WorkerSettings } from "./messages";

function send(message: FromWorker): void {
  // The channel may be closing (the primary exited): nothing is left to tell.
  if (process.connected) process.send?.(message);
}

/** Asks the primary for listener ports' sockets; each request is answered by one `socket` message, in order. */
class SocketRequests {
  /** By socketKey. */
  private readonly waiting = new Map<string, { resolve: (socket: BoundSocket) => void; reject: (error: Error) => void }[]>();

  request(transport: Transport, port: number): Promise<BoundSocket> {
    return new Promise<BoundSocket>((resolve, reject) => {
      const key = socketKey(transport, port);
      const queue = this.waiting.get(key) ?? [];
      queue.push({ resolve, reject });
      this.waiting.set(key, queue);
      send({ type: "socket-request", transport, port });
    });
  }

  answered(transport: Transport, port: number, error: string | undefined, handle: BoundSocket | undefined): void {
    const key = socketKey(transport, port);
    const queue = this.waiting.get(key);
    const waiter = queue?.shift();
    if (queue?.length === 0) this.waiting.delete(key);
    if (waiter === undefined) {
      handle?.close(); // nobody asked (cannot happen: one answer per request)
      return;
    }
    if (handle !== undefined) waiter.resolve(handle);
    else waiter.reject(new Error(error ?? `the primary sent no ${transport} socket for port ${port}`));
  }
}

function start(settings: WorkerSettings): void {
  const { statsIntervalMs, ...dataPlaneSettings } = settings;
  const sockets = new SocketRequests();
  const dataplane = new DataPlane({
    ...dataPlaneSettings,
    boundSocket: (port, transport) => sockets.request(transport, port),
    onEvent: (event) => send({ type: "event", event }),
  });
  const usage = (): { rssBytes: number; cpuSeconds: number } => {
    const cpu = process.cpuUsage();
    return { rssBytes: process.memoryUsage.rss(), cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  };
  const statsTimer = setInterval(() => send({ type: "stats", stats: dataplane.stats(), usage: usage() }), statsIntervalMs);
  statsTimer.unref();
  let closing = false;
  const exitAfterClose = (graceMs: number): void => {
    if (closing) return;
    closing = true;
    clearInterval(statsTimer);
    dataplane.close({ graceMs }).finally(() => process.exit(0));
  };
  process.on("message", (message: ToWorker, handle: BoundSocket | undefined) => {
    switch (message.type) {
      case "socket":
        sockets.answered(message.transport, message.port, message.error, handle);
        break;
      case "plan":
        dataplane.apply(message.plan).then(
          (failed) => send({ type: "applied", seq: message.seq, failed: [...failed], stats: dataplane.stats() }),
          (error: unknown) => send({ type: "apply-failed", seq: message.seq, error: error instanceof Error ? error.message : String(error) }),
        );
        break;
      case "prepare":
        dataplane.prepare(message.listeners).then(
          (failed) => send({ type: "prepared", seq: message.seq, failed: [...failed] }),
          (error: unknown) => send({ type: "apply-failed", seq: message.seq, error: error instanceof Error ? error.message : String(error) }),
        );
        break;
      case "release":
        void dataplane.release();
        break;
      case "close":
        exitAfterClose(message.graceMs);
        break;
      case "init":
        break; // already running
    }
  });
  send({ type: "ready" });
}

function main(): void {
  if (process.send === undefined) {
    process.stderr.write("dnlb-forwarder data-plane worker: must be started by the forwarder (no IPC channel)\n");
    process.exit(2);
  }
  // Signals sent to the whole process group (a terminal's Ctrl-C) are the primary's to handle:
  // it closes every worker in order.
  process.on("SIGINT", () => undefined);
  process.once("message", (message: ToWorker) => {
    if (message.type !== "init") {
      process.stderr.write(`dnlb-forwarder data-plane worker: expected init, got ${message.type}\n`);
      process.exit(2);
    }
    start(message.settings);
  });
  // The primary is gone: stop serving at once (its sockets close with the process).
  process.once("disconnect", () => process.exit(0));
}

main();
