/**
 * Partial failure under `pulumi up`: three real nodes (127.0.10.21-23); the second is reached
 * through a FaultProxy (127.0.10.24) that forwards, answers 500, or drops the connection ("down").
 * The providers run in Pulumi's own dynamic-provider host, driven in the engine's order
 * (test/engine/helpers). For create, update and delete under each fault:
 * - the step fails with a message that names the faulty node's endpoint;
 * - create leaves no object on any node (rolled back); update and delete leave the stack state as
 *   it was (the engine keeps the old outputs);
 * - the next run, with the node healthy again, completes, and all three nodes then hold the same
 *   object (or none): converged, no orphans.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { isDeepStrictEqual } from "node:util";
import * as net from "node:net";
import { backendServiceProvider, healthCheckProvider, listenerProvider, virtualServerGroupProvider } from "../../provider/resources";
import { MiniEngine, type Goal } from "../engine/helpers/engine";
import { ProviderHost } from "../engine/helpers/host";
import { serializeProvider } from "../engine/helpers/serialize";
import { CliNode, jsonRequest, RELIABILITY_SEED, RELIABILITY_TOKEN } from "./support";

export type Fault = "500" | "down";
export type Operation = "create" | "update" | "delete";

/** An HTTP proxy in front of one node that can answer 500 or drop connections instead. */
export class FaultProxy {
  mode: "pass" | Fault = "pass";
  /** When set, the fault applies only to request paths that start with it (e.g. "/v1/listeners"). */
  only: string | undefined;
  requests = 0;

  private constructor(
    private readonly server: http.Server,
    private readonly target: URL,
  ) {}

  static async start(host: string, target: string): Promise<FaultProxy> {
    let proxy: FaultProxy | undefined;
    const server = http.createServer((req, res) => proxy?.handle(req, res));
    await new Promise<void>((resolve) => server.listen({ host, port: 0 }, () => resolve()));
    proxy = new FaultProxy(server, new URL(target));
    return proxy;
  }

  get endpoint(): string {
    const a = this.server.address() as AddressInfo;
    return `http://${a.address}:${a.port}`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests++;
    const faulty = this.mode !== "pass" && (this.only === undefined || (req.url ?? "").startsWith(this.only));
    if (faulty && this.mode === "down") {
      req.socket.destroy();
      return;
    }
    if (faulty && this.mode === "500") {
      req.resume();
      req.on("end", () => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "internal", message: "injected fault: the node failed", details: [] } }));
      });
      return;
    }
    const upstream = http.request(
      { host: this.target.hostname, port: this.target.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export interface PartialCase {
  readonly operation: Operation;
  readonly fault: Fault;
  readonly error: string;
  readonly secondRun: string;
  readonly violations: string[];
}

export class PartialBench {
  private constructor(
    readonly nodes: CliNode[],
    readonly proxy: FaultProxy,
    readonly host: ProviderHost,
    readonly engine: MiniEngine,
    private readonly providers: Record<string, string>,
  ) {}

  static async start(): Promise<PartialBench> {
    const nodes = await Promise.all([21, 22, 23].map((i) => CliNode.start({ address: `127.0.10.${i}` })));
    const proxy = await FaultProxy.start("127.0.10.24", nodes[1].base);
    const host = await ProviderHost.start();
    const providers: Record<string, string> = {
      HealthCheck: await serializeProvider(healthCheckProvider),
      VirtualServerGroup: await serializeProvider(virtualServerGroupProvider),
      BackendService: await serializeProvider(backendServiceProvider),
      Listener: await serializeProvider(listenerProvider),
    };
    return new PartialBench(nodes, proxy, host, new MiniEngine(host), providers);
  }

  get endpoints(): string[] {
    return [this.nodes[0].base, this.proxy.endpoint, this.nodes[2].base];
  }

  get loadBalancer(): Record<string, unknown> {
    return { endpoints: this.endpoints, token: RELIABILITY_TOKEN, hashSeed: RELIABILITY_SEED };
  }

  goal(name: string, timeoutSeconds: number): Goal {
    return { type: "HealthCheck", name, provider: this.providers.HealthCheck, props: { loadBalancer: this.loadBalancer, timeoutSeconds } };
  }

  /**
   * A whole stack (health check, server group, backend service, listener) brought up while the
   * second node answers 500 (or is down) for listeners only: the run stops at the listener, as
   * `pulumi up` does for a failed resource and its dependents. The next run completes, traffic
   * flows through all three nodes, and a destroy with the node failing again for listeners leaves
   * the stack to be finished by the next destroy; at the end no node holds anything of it.
   */
  async stack(fault: Fault): Promise<PartialCase> {
    const violations: string[] = [];
    const echo = net.createServer((s) => {
      s.on("error", () => s.destroy());
      s.pipe(s);
    });
    await new Promise<void>((resolve) => echo.listen({ host: "127.0.10.25", port: 26202 }, () => resolve()));
    const lb = this.loadBalancer;
    const order = ["HealthCheck", "VirtualServerGroup", "BackendService", "Listener"] as const;
    const names: Record<(typeof order)[number], string> = { HealthCheck: `st-hc-${fault}`, VirtualServerGroup: `st-pool-${fault}`, BackendService: `st-svc-${fault}`, Listener: `st-l-${fault}` };
    const up = async (): Promise<void> => {
      const hc = await this.engine.up({ type: "HealthCheck", name: names.HealthCheck, provider: this.providers.HealthCheck, props: { loadBalancer: lb } });
      const pool = await this.engine.up({ type: "VirtualServerGroup", name: names.VirtualServerGroup, provider: this.providers.VirtualServerGroup, props: { loadBalancer: lb, members: [{ address: "127.0.10.25" }] } });
      const svc = await this.engine.up({
        type: "BackendService",
        name: names.BackendService,
        provider: this.providers.BackendService,
        props: { loadBalancer: lb, port: 26202, healthCheck: hc.state.id, serverGroup: pool.state.id },
      });
      await this.engine.up({ type: "Listener", name: names.Listener, provider: this.providers.Listener, props: { loadBalancer: lb, port: 26201, backendService: svc.state.id } });
    };
    const destroy = async (): Promise<void> => {
      for (const type of [...order].reverse()) await this.engine.destroy(type, names[type]);
    };
    let error = "";
    let secondRun = "";
    try {
      this.proxy.mode = fault;
      this.proxy.only = "/v1/listeners";
      try {
        await up();
        violations.push("the stack came up although a node refused listeners");
      } catch (e) {
        error = (e as Error).message;
      } finally {
        this.proxy.mode = "pass";
      }
      if (!error.includes(this.proxy.endpoint)) violations.push(`the error does not name the faulty node: ${error}`);
      if (this.engine.state.has(`urn:pulumi:test::dnlb::pulumi-nodejs:dynamic/dnlb:Listener::${names.Listener}`)) violations.push("the failed listener is in the stack state");
      if ((await this.ids("listeners")).length > 0) violations.push("the failed listener was left on a node");
      await up();
      secondRun = "completed";
      for (const node of this.nodes) {
        const answer = await echoThrough(node.address, 26201, `via ${node.address}`);
        if (answer !== `via ${node.address}`) violations.push(`no traffic through ${node.address} after the second run: ${answer}`);
      }
      // Destroy with the node failing listeners again: stops at the listener; the next destroy finishes.
      this.proxy.mode = fault;
      let destroyError = "";
      try {
        await destroy();
      } catch (e) {
        destroyError = (e as Error).message;
      } finally {
        this.proxy.mode = "pass";
        this.proxy.only = undefined;
      }
      if (!destroyError.includes(this.proxy.endpoint)) violations.push(`the destroy error does not name the faulty node: ${destroyError}`);
      await destroy();
      for (const kind of ["listeners", "backend-services", "server-groups", "health-checks"]) {
        const left = (await this.ids(kind)).filter((id) => id.startsWith("st-"));
        if (left.length > 0) violations.push(`orphans after destroy: ${kind} ${left.join(", ")}`);
      }
    } catch (e) {
      violations.push(`unexpected failure: ${(e as Error).message}`);
    } finally {
      this.proxy.mode = "pass";
      this.proxy.only = undefined;
      await new Promise<void>((resolve) => echo.close(() => resolve()));
    }
    return { operation: "create", fault, error: firstLine(error), secondRun, violations };
  }

  /** Ids of `kind` on any node (directly). */
  async ids(kind: string): Promise<string[]> {
    const ids = new Set<string>();
    for (const node of this.nodes) {
      const answer = await jsonRequest(node.base, "GET", `/v1/${kind}`);
      for (const item of (JSON.parse(answer.body) as { items: { id: string }[] }).items) ids.add(item.id);
    }
    return [...ids].sort();
  }

  /** The object on each node (directly, not through the proxy): its timeoutSeconds or "absent". */
  async onNodes(id: string): Promise<(number | "absent")[]> {
    return Promise.all(
      this.nodes.map(async (node) => {
        const answer = await jsonRequest(node.base, "GET", `/v1/health-checks/${id}`);
        if (answer.status === 404) return "absent";
        return (JSON.parse(answer.body) as { timeoutSeconds: number }).timeoutSeconds;
      }),
    );
  }

  /** Every health check id on any node. */
  async allIds(): Promise<string[]> {
    const ids = new Set<string>();
    for (const node of this.nodes) {
      const answer = await jsonRequest(node.base, "GET", "/v1/health-checks");
      for (const item of (JSON.parse(answer.body) as { items: { id: string }[] }).items) ids.add(item.id);
    }
    return [...ids].sort();
  }

  /** One operation with the second node faulty, then the same run again with it healthy. */
  async run(operation: Operation, fault: Fault): Promise<PartialCase> {
    const violations: string[] = [];
    const name = `pf-${operation}-${fault}`;
    const urnKey = `urn:pulumi:test::dnlb::pulumi-nodejs:dynamic/dnlb:HealthCheck::${name}`;
    if (operation !== "create") await this.engine.up(this.goal(name, 3));
    const idBefore = this.engine.state.get(urnKey)?.id;
    const outputsBefore = this.engine.state.get(urnKey)?.outputs;
    const step = () => (operation === "delete" ? this.engine.destroy("HealthCheck", name) : this.engine.up(this.goal(name, 7)));

    this.proxy.mode = fault;
    let error = "";
    try {
      await step();
      violations.push(`${operation} succeeded although ${this.proxy.endpoint} ${fault === "500" ? "answered 500" : "was down"}`);
    } catch (e) {
      error = (e as Error).message;
    } finally {
      this.proxy.mode = "pass";
    }
    if (error !== "" && !error.includes(this.proxy.endpoint)) violations.push(`the error does not name the faulty node ${this.proxy.endpoint}: ${error}`);
    if (error !== "" && fault === "500" && !error.includes("500")) violations.push(`the error does not give the status 500: ${error}`);

    const state = this.engine.state.get(urnKey);
    if (operation === "create") {
      if (state !== undefined) violations.push("a failed create left the resource in the stack state");
      const stray = (await this.allIds()).filter((id) => id.startsWith(name));
      if (stray.length > 0) violations.push(`a failed create left ${stray.join(", ")} on the nodes (not rolled back)`);
    } else if (!isDeepStrictEqual(state?.outputs, outputsBefore)) {
      violations.push(`a failed ${operation} changed the stack state`);
    }

    // The next run, the node healthy again.
    let secondRun = "";
    try {
      await step();
      secondRun = "completed";
    } catch (e) {
      secondRun = `failed: ${(e as Error).message}`;
      violations.push(`the next run failed: ${(e as Error).message}`);
    }
    const id = this.engine.state.get(urnKey)?.id ?? idBefore;
    if (id !== undefined) {
      const seen = await this.onNodes(id);
      const expected = operation === "delete" ? "absent" : 7;
      if (!seen.every((v) => v === expected)) violations.push(`after the next run the nodes hold ${JSON.stringify(seen)}, expected ${expected} everywhere`);
    }
    if (operation !== "delete") await this.engine.destroy("HealthCheck", name);
    const left = (await this.allIds()).filter((i) => i.startsWith(name));
    if (left.length > 0) violations.push(`orphans after destroy: ${left.join(", ")}`);
    return { operation, fault, error: firstLine(error), secondRun, violations };
  }

  async close(): Promise<void> {
    await this.host.close();
    await this.proxy.close();
    await Promise.all(this.nodes.map((n) => n.destroy()));
  }
}

/** Sends `text` through host:port and returns what comes back (or the error). */
function echoThrough(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let received = "";
    const timer = setTimeout(() => finish(`timeout (got ${JSON.stringify(received)})`), 5000);
    const finish = (result: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    socket.on("connect", () => socket.write(text));
    socket.on("data", (d: Buffer) => {
      received += d.toString();
      if (received.length >= text.length) finish(received);
    });
    socket.on("error", (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
  });
}

function firstLine(text: string): string {
  return text.split("\n").slice(0, 6).join(" | ").slice(0, 700);
}
