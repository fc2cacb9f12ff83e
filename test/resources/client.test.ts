import { strict as assert } from "node:assert";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import {
  AdminClient,
  backoffDelayMs,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
  DEFAULT_RETRY,
  isNodeHttpError,
  isNodeUnreachableError,
} from "../../provider/client";

const TOKEN = "client-test-token-0123456789";

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A stand-in admin API on loopback that answers with `handler` and counts requests and connections. */
async function fakeNode(handler: Handler): Promise<{ endpoint: string; requests: http.IncomingMessage[]; connections: number; close(): Promise<void> }> {
  const requests: http.IncomingMessage[] = [];
  const state = { connections: 0 };
  const server = http.createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.on("connection", () => state.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.6.50", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.6.50:${port}`,
    requests,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

const fast = { attempts: 3, baseDelayMs: 5, maxDelayMs: 20 };

describe("admin API client", () => {
  let client: AdminClient;
  beforeEach(() => {
    client = new AdminClient({ retry: fast, connectTimeoutMs: 500, requestTimeoutMs: 300, random: () => 0.5 });
  });
  afterEach(() => client.close());

  it("retries a 5xx and returns the stored object, sending the bearer token and the precondition", async () => {
    let calls = 0;
    const node = await fakeNode((req, res) => {
      calls++;
      if (calls < 3) return json(res, 503, { error: { code: "unavailable", message: "shutting down", details: [] } });
      json(res, 201, { id: "hc-1", revision: 1, name: "hc", timeoutSeconds: 3 });
    });
    try {
      const result = await client.put(node.endpoint, TOKEN, "health-checks", "hc-1", { name: "hc" }, { create: true });
      assert.equal(result.created, true);
      assert.deepEqual(result.stored, { id: "hc-1", revision: 1, spec: { name: "hc", timeoutSeconds: 3 } });
      assert.equal(node.requests.length, 3);
      assert.equal(node.requests[0].headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(node.requests[0].headers["if-none-match"], "*");
      assert.equal(node.requests[0].url, "/v1/health-checks/hc-1");
    } finally {
      await node.close();
    }
  });

  it("never retries a 4xx, and names the node, the status, the code and the node's message", async () => {
    const node = await fakeNode((_req, res) =>
      json(res, 409, { error: { code: "in_use", message: "backend service web is used by listener web-80: delete or change that first", details: [] } }),
    );
    try {
      await assert.rejects(client.remove(node.endpoint, TOKEN, "backend-services", "web"), (error: unknown) => {
        assert.ok(isNodeHttpError(error));
        assert.equal(error.status, 409);
        assert.equal(error.code, "in_use");
        assert.equal(error.message, `${node.endpoint}: HTTP 409 in_use: backend service web is used by listener web-80: delete or change that first`);
        assert.ok(!error.message.includes(TOKEN));
        return true;
      });
      assert.equal(node.requests.length, 1);
    } finally {
      await node.close();
    }
  });

  it("gives up on a 5xx after the last attempt with the node's answer", async () => {
    const node = await fakeNode((_req, res) => json(res, 500, { error: { code: "persist_failed", message: "disk full", details: [] } }));
    try {
      await assert.rejects(client.get(node.endpoint, TOKEN, "listeners", "l"), /HTTP 500 persist_failed: disk full/);
      assert.equal(node.requests.length, fast.attempts);
    } finally {
      await node.close();
    }
  });

  it("reads a 404 as absent, for get and delete", async () => {
    const node = await fakeNode((_req, res) => json(res, 404, { error: { code: "not_found", message: "no", details: [] } }));
    try {
      assert.equal(await client.get(node.endpoint, TOKEN, "listeners", "l"), undefined);
      assert.equal(await client.remove(node.endpoint, TOKEN, "listeners", "l"), "absent");
    } finally {
      await node.close();
    }
  });

  it("retries a refused connection a bounded number of times, then says the node is unreachable", async () => {
    const started = Date.now();
    await assert.rejects(client.get("http://127.0.6.99:24999", TOKEN, "listeners", "l"), (error: unknown) => {
      assert.ok(isNodeUnreachableError(error));
      assert.equal(error.attempts, fast.attempts);
      assert.match(error.message, /^http:\/\/127\.0\.6\.99:24999: unreachable after 3 attempts \(.*ECONNREFUSED/);
      return true;
    });
    assert.ok(Date.now() - started < 2000);
  });

  it("times out a node that accepts but never answers, within the bound", async () => {
    const node = await fakeNode(() => {
      /* never answers */
    });
    try {
      const started = Date.now();
      await assert.rejects(client.get(node.endpoint, TOKEN, "listeners", "l"), /unreachable after 3 attempts \(UND_ERR_HEADERS_TIMEOUT/);
      const elapsed = Date.now() - started;
      // 3 x 300 ms plus two short backoffs; undici's timers may fire up to ~1 s late.
      assert.ok(elapsed >= 900 && elapsed < 5000, `took ${elapsed} ms`);
    } finally {
      await node.close();
    }
  });

  it("keeps the connection alive across requests", async () => {
    const node = await fakeNode((_req, res) => json(res, 200, { id: "x", revision: 4, name: "x" }));
    try {
      for (let i = 0; i < 20; i++) await client.get(node.endpoint, TOKEN, "health-checks", "x");
      assert.equal(node.requests.length, 20);
      // undici may open a second socket while the first finishes its response; never one per request.
      assert.ok(node.connections <= 2, `${node.connections} connections for 20 requests`);
    } finally {
      await node.close();
    }
  });

  it("uses the timeouts and retries docs/providers.md states", () => {
    assert.deepEqual(DEFAULT_RETRY, { attempts: 4, baseDelayMs: 150, maxDelayMs: 2000 });
    assert.equal(DEFAULT_CONNECT_TIMEOUT_MS, 3000);
    assert.equal(DEFAULT_REQUEST_TIMEOUT_MS, 15000);
    const waits = [1, 2, 3].map((attempt) => backoffDelayMs(attempt, DEFAULT_RETRY, () => 0.5));
    assert.deepEqual(waits, [150, 300, 600]);
  });

  it("backs off exponentially with bounded jitter", () => {
    assert.equal(backoffDelayMs(1, DEFAULT_RETRY, () => 0.5), DEFAULT_RETRY.baseDelayMs);
    assert.equal(backoffDelayMs(2, DEFAULT_RETRY, () => 0.5), DEFAULT_RETRY.baseDelayMs * 2);
    assert.equal(backoffDelayMs(2, DEFAULT_RETRY, () => 0), DEFAULT_RETRY.baseDelayMs * 2 * 0.75);
    assert.equal(backoffDelayMs(20, DEFAULT_RETRY, () => 0.99), DEFAULT_RETRY.maxDelayMs);
  });
});
