import { strict as assert } from "node:assert";
import * as net from "node:net";
import { Worker } from "node:worker_threads";
import { probeTcp } from "../../provider/forwarder/health/prober";
import { closeServer, listen } from "../support/net";

// Addresses reserved for the health tests: 127.0.3.x (Linux routes all of 127/8 to lo).
const HOST_UP = "127.0.3.1";
const HOST_CLOSED = "127.0.3.2";
const HOST_STALLED = "127.0.3.3";

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Sockets and timers alive in this process; a probe must not add to them once it resolved. */
function liveHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap" || r === "Timeout").length;
}

async function settledHandles(): Promise<number> {
  // Closing a handle completes on a later loop turn.
  await turn();
  await turn();
  return liveHandles();
}

/** What the member's side of a probe connection saw. */
interface ServerView {
  bytes: number;
  ended: boolean; // a FIN arrived
  errorCode?: string; // e.g. ECONNRESET when a RST arrived
  closed: Promise<void>;
}

/**
 * A listener whose accept queue is full, so that a further SYN is dropped and the connect hangs.
 *
 * Method (Linux): the listener (backlog 1) lives in a worker thread whose event loop is then
 * blocked in Atomics.wait, so nothing ever calls accept(). The kernel completes handshakes into
 * the accept queue until it is full (backlog + 1 on Linux) and then drops new SYNs; the client
 * retransmits its SYN after 1 s, so a probe with a shorter timeout sees no handshake at all.
 * We fill the queue with plain sockets until one of them stalls, bounded at 8 attempts.
 */
class StalledListener {
  private constructor(
    private readonly worker: Worker,
    private readonly wake: Int32Array,
    readonly port: number,
    private readonly fillers: net.Socket[],
  ) {}

  static async start(host: string): Promise<StalledListener> {
    const wake = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(
      `
      const net = require("node:net");
      const { parentPort, workerData } = require("node:worker_threads");
      const server = net.createServer();
      server.listen({ host: workerData.host, port: 0, backlog: 1 }, () => {
        parentPort.postMessage(server.address().port);
        // Block this thread's event loop (bounded: 15 s) so that accept() is never called.
        Atomics.wait(workerData.wake, 0, 0, 15000);
        server.close();
        process.exit(0);
      });
      `,
      { eval: true, workerData: { host, wake } },
    );
    const port = await new Promise<number>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    const fillers: net.Socket[] = [];
    const listener = new StalledListener(worker, wake, port, fillers);
    for (let attempt = 0; attempt < 8; attempt++) {
      const socket = net.connect({ host, port });
      socket.on("error", () => undefined); // reset at teardown; nothing to report
      fillers.push(socket);
      const connected = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 300);
        socket.once("connect", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!connected) return listener;
    }
    await listener.stop();
    throw new Error("could not fill the accept queue of a blocked listener in 8 connections");
  }

  async stop(): Promise<void> {
    for (const s of this.fillers) s.destroy();
    Atomics.store(this.wake, 0, 1);
    Atomics.notify(this.wake, 0);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => void this.worker.terminate().then(() => resolve()), 2000);
      this.worker.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

describe("TCP prober (probeTcp) on loopback", function () {
  this.timeout(20_000);

  let server: net.Server;
  let port: number;
  let views: ServerView[];

  before(async () => {
    views = [];
    server = net.createServer((socket) => {
      let closedResolve: () => void = () => undefined;
      const view: ServerView = { bytes: 0, ended: false, closed: new Promise((r) => (closedResolve = r)) };
      views.push(view);
      socket.on("data", (chunk: Buffer) => (view.bytes += chunk.length));
      socket.on("end", () => (view.ended = true));
      socket.on("error", (err: NodeJS.ErrnoException) => (view.errorCode = err.code));
      socket.on("close", () => closedResolve());
    });
    port = await listen(server, HOST_UP);
  });

  after(async () => {
    await closeServer(server);
  });

  it("L4OK against a listener; the member sees a reset, not a FIN, and receives zero bytes", async () => {
    const before = await settledHandles();
    const outcome = await probeTcp(HOST_UP, port, 2000);
    assert.equal(outcome.code, "L4OK");
    assert.equal(outcome.ok, true);
    assert.equal(outcome.description, "connected");
    assert.ok(outcome.latencyMs >= 0 && outcome.latencyMs < 2000, `latency ${outcome.latencyMs}`);

    // Wait for the member's side to see the connection and its end (bounded by mocha's timeout).
    while (views.length === 0) await turn();
    const view = views[views.length - 1]!;
    await view.closed;
    assert.equal(view.bytes, 0, "a TCP probe sends nothing, not even a PROXY header");
    assert.equal(view.ended, false, "closed with a FIN: the probe must reset");
    assert.equal(view.errorCode, "ECONNRESET");
    assert.ok((await settledHandles()) <= before, "the probe left a socket or timer behind");
  });

  it("L4CON with the errno against a closed port, quickly", async () => {
    const probeServer = net.createServer();
    const closedPort = await listen(probeServer, HOST_CLOSED);
    await closeServer(probeServer);

    const before = await settledHandles();
    const outcome = await probeTcp(HOST_CLOSED, closedPort, 2000);
    assert.equal(outcome.code, "L4CON");
    assert.equal(outcome.ok, false);
    assert.match(outcome.description, /ECONNREFUSED/);
    assert.ok(outcome.latencyMs < 1000, `a refusal should not wait for the timeout (${outcome.latencyMs} ms)`);
    assert.ok((await settledHandles()) <= before, "the probe left a socket or timer behind");
  });

  it("L4CON instead of throwing for a target that can never connect", async () => {
    for (const badPort of [70_000, -1, Number.NaN]) {
      const outcome = await probeTcp(HOST_CLOSED, badPort, 500);
      assert.equal(outcome.code, "L4CON");
      assert.match(outcome.description, /cannot probe/);
    }
    // Port 0 is accepted by connect() and refused by the kernel.
    assert.equal((await probeTcp(HOST_CLOSED, 0, 500)).code, "L4CON");
  });

  it("uses the injected clock for latency", async () => {
    let t = 1000;
    const clock = (): number => (t += 7);
    const outcome = await probeTcp(HOST_UP, port, 2000, clock);
    assert.equal(outcome.latencyMs, 7);
  });

  describe("against a listener whose accept queue is full", () => {
    let stalled: StalledListener;

    before(async () => {
      stalled = await StalledListener.start(HOST_STALLED);
    });

    after(async () => {
      await stalled.stop();
    });

    it("L4TOUT after the timeout, not before and not much later", async () => {
      const before = await settledHandles();
      const started = performance.now();
      const outcome = await probeTcp(HOST_STALLED, stalled.port, 300);
      const elapsed = performance.now() - started;
      assert.equal(outcome.code, "L4TOUT");
      assert.equal(outcome.ok, false);
      assert.match(outcome.description, /300 ms/);
      assert.ok(outcome.latencyMs >= 295, `gave up after ${outcome.latencyMs} ms`);
      assert.ok(elapsed < 900, `took ${elapsed} ms for a 300 ms timeout`);
      assert.ok((await settledHandles()) <= before, "the probe left a socket or timer behind");
    });

    it("a zero or NaN timeout means 1 ms, not \"no timeout\"", async () => {
      for (const timeout of [0, Number.NaN]) {
        const outcome = await probeTcp(HOST_STALLED, stalled.port, timeout);
        assert.equal(outcome.code, "L4TOUT");
        assert.match(outcome.description, /within 1 ms/);
      }
    });

    it("an abort ends a pending probe at once", async () => {
      const controller = new AbortController();
      const started = performance.now();
      const pending = probeTcp(HOST_STALLED, stalled.port, 10_000, undefined, controller.signal);
      setTimeout(() => controller.abort(), 50);
      const outcome = await pending;
      assert.equal(outcome.ok, false);
      assert.equal(outcome.description, "probe aborted");
      assert.ok(performance.now() - started < 1000);
    });
  });

  it("an already aborted signal resolves without connecting", async () => {
    const connections = views.length;
    const outcome = await probeTcp(HOST_UP, port, 2000, undefined, AbortSignal.abort());
    assert.equal(outcome.description, "probe aborted");
    await turn();
    assert.equal(views.length, connections);
  });
});
