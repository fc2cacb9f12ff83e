/**
 * The forwarder against real programs:
 * - nginx behind a PROXY protocol listener must see the client's address (v1 and v2);
 * - redis-benchmark through the forwarder to two redis-server members completes with zero
 *   errors, and again after one member is killed and the failure window has passed.
 *
 * Needs nginx, redis-server and redis-benchmark (Debian: `apt-get install -y nginx redis-server
 * redis-tools`). Without them the tests are skipped, unless DNLB_REQUIRE_PEERS=1 (set it in CI),
 * which turns a missing program into a failure.
 *
 * Addresses: forwarder 127.0.4.4, nginx 127.0.2.31, redis 127.0.2.32-33, clients 127.7.x.y.
 */
import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";
import { freePort } from "../support/net";
import { skipUnlessPresent } from "../support/peers";
import { waitFor } from "../support/wait";
import { failureWindowMs } from "../../provider/health";
import type { ForwarderRuntime } from "../../provider/forwarder/runtime/runtime";
import type { Registry } from "prom-client";
import { connect, sourceAddress } from "./helpers/clients";
import { ConfigBuilder } from "./helpers/config";
import { findProgram, PeerProcess, runProgram, tempDir } from "./helpers/processes";
import { metricValue, startRuntime } from "./helpers/runtime";

const FORWARDER = "127.0.4.4";
const SCALE = 0.1;

function requirePrograms(ctx: Mocha.Context, names: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {};
  const missing: string[] = [];
  for (const name of names) {
    const p = findProgram(name);
    if (p === undefined) missing.push(name);
    else found[name] = p;
  }
  skipUnlessPresent(ctx, missing.length > 0 ? `${missing.join(", ")} not installed (apt-get install -y nginx redis-server redis-tools)` : undefined);
  return found;
}

/** One HTTP/1.0 GET over a fresh connection from `localAddress`; resolves with the response and the client port used. */
async function httpGet(port: number, localAddress: string): Promise<{ body: string; status: number; clientPort: number }> {
  const socket = await connect({ host: FORWARDER, port, localAddress });
  const clientPort = socket.localPort as number;
  socket.end("GET / HTTP/1.0\r\nHost: test\r\n\r\n");
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  await new Promise<void>((resolve, reject) => {
    socket.once("end", () => resolve());
    socket.once("error", reject);
  });
  socket.destroy();
  const text = Buffer.concat(chunks).toString("latin1");
  const [head, body = ""] = text.split("\r\n\r\n");
  return { status: Number(head.split(" ")[1]), body, clientPort };
}

describe("forwarder runtime with real peers", function () {
  this.timeout(60_000);

  describe("PROXY protocol to nginx", () => {
    let nginx: PeerProcess | undefined;
    let runtime: ForwarderRuntime | undefined;
    let dir: string;
    let nginxPort: number;
    let lport: number;

    before(async function () {
      const programs = requirePrograms(this, ["nginx"]);
      dir = tempDir("dnlb-nginx-");
      nginxPort = await freePort("127.0.2.31");
      for (const sub of ["body", "proxy", "fastcgi", "uwsgi", "scgi"]) fs.mkdirSync(path.join(dir, sub));
      fs.writeFileSync(
        path.join(dir, "nginx.conf"),
        `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.2.31:${nginxPort} proxy_protocol;
    location / {
      return 200 "$proxy_protocol_addr $proxy_protocol_port $proxy_protocol_server_addr $proxy_protocol_server_port";
    }
  }
}
`,
      );
      nginx = PeerProcess.start("nginx", programs.nginx, ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", path.join(dir, "error.log")]);
      await nginx.ready("127.0.2.31", nginxPort);
      lport = await freePort(FORWARDER);
      ({ runtime } = startRuntime({ dataPlane: { listenAddress: FORWARDER }, health: { timeScale: SCALE } }));
    });

    after(async () => {
      await runtime?.close();
      await nginx?.stop();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    for (const version of ["v1", "v2"] as const) {
      it(`nginx sees the client's source address and port with PROXY protocol ${version}`, async () => {
        const rt = runtime as ForwarderRuntime;
        const config = new ConfigBuilder()
          .healthCheck("hc", { unhealthyThreshold: 1, healthyThreshold: 1 })
          .virtualGroup("g", { members: [{ address: "127.0.2.31" }] })
          .service("s", { port: nginxPort, serverGroup: "g", healthCheck: "hc", proxyProtocol: version })
          .listener("l", { port: lport, backendService: "s" })
          .build();
        await rt.apply(config);
        // Health probes reach nginx too and must not disturb it (they send no header and no byte).
        await waitFor(() => rt.status().backendServices[0].members[0].health === "Healthy", 3000, "nginx healthy");
        for (const i of [1, 2, 3]) {
          const client = sourceAddress(i * 17, 7);
          const { status, body, clientPort } = await httpGet(lport, client);
          assert.equal(status, 200, body);
          assert.equal(body, `${client} ${clientPort} ${FORWARDER} ${lport}`);
        }
      });
    }

    it("without PROXY protocol nginx's proxy_protocol listener refuses the request (the header is what made it work)", async () => {
      const rt = runtime as ForwarderRuntime;
      const config = new ConfigBuilder()
        .virtualGroup("g", { members: [{ address: "127.0.2.31" }] })
        .service("s", { port: nginxPort, serverGroup: "g", healthCheckEnabled: false, proxyProtocol: "off" })
        .listener("l", { port: lport, backendService: "s" })
        .build();
      await rt.apply(config);
      const { status, body } = await httpGet(lport, sourceAddress(5, 7)).catch(() => ({ status: 0, body: "", clientPort: 0 }));
      assert.notEqual(status, 200, `nginx answered ${status} ${body}`);
    });
  });

  describe("redis-benchmark through the forwarder to two redis-server members", () => {
    const hosts = ["127.0.2.32", "127.0.2.33"];
    const redis: PeerProcess[] = [];
    let runtime: ForwarderRuntime | undefined;
    let registry: Registry;
    let programs: Record<string, string>;
    let dir: string;
    let redisPort: number;
    let lport: number;

    before(async function () {
      programs = requirePrograms(this, ["redis-server", "redis-benchmark"]);
      dir = tempDir("dnlb-redis-");
      redisPort = await freePort(hosts[0]);
      for (const host of hosts) {
        const sub = path.join(dir, host);
        fs.mkdirSync(sub);
        const args = ["--bind", host, "--port", String(redisPort), "--save", "", "--appendonly", "no", "--protected-mode", "no", "--daemonize", "no", "--dir", sub];
        const p = PeerProcess.start(`redis ${host}`, programs["redis-server"], args);
        redis.push(p);
      }
      await Promise.all(redis.map((p, i) => p.ready(hosts[i], redisPort)));
      lport = await freePort(FORWARDER);
      ({ runtime, registry } = startRuntime({ dataPlane: { listenAddress: FORWARDER }, health: { timeScale: SCALE } }));
    });

    after(async () => {
      await runtime?.close();
      await Promise.all(redis.map((p) => p.stop()));
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    async function benchmark(): Promise<string> {
      const args = ["-h", FORWARDER, "-p", String(lport), "-n", "20000", "-c", "20", "-t", "set,get", "-q"];
      const result = await runProgram(programs["redis-benchmark"], args, 60_000);
      assert.equal(result.timedOut, false, `redis-benchmark did not finish: ${result.output}`);
      assert.equal(result.code, 0, result.output);
      assert.doesNotMatch(result.output, /error|reset|refused/i, result.output);
      assert.match(result.output, /SET: [\d.]+ requests per second/);
      assert.match(result.output, /GET: [\d.]+ requests per second/);
      return result.output.trim().split(/\r?\n|\r/).filter((l) => /requests per second/.test(l)).map((l) => l.trim()).join("; ");
    }

    it("completes with zero errors, and again after one member is killed and the failure window has passed", async () => {
      const rt = runtime as ForwarderRuntime;
      const hc = { timeoutSeconds: 2, intervalSeconds: 5, unhealthyThreshold: 2, healthyThreshold: 2 };
      const config = new ConfigBuilder()
        .healthCheck("hc", hc)
        .virtualGroup("g", { members: hosts.map((address) => ({ address })) })
        // QuintupleHash: redis-benchmark's 20 connections come from one address; spread them.
        .service("s", { port: redisPort, serverGroup: "g", healthCheck: "hc", algorithm: "QuintupleHash" })
        .listener("l", { port: lport, backendService: "s" })
        .build();
      await rt.apply(config);
      await waitFor(() => rt.status().backendServices[0].members.every((m) => m.health === "Healthy"), 3000, "redis members healthy");

      const first = await benchmark();
      const perMember = await Promise.all(
        hosts.map((h) => metricValue(registry, "dnlb_member_connections_total", { service: "s", member: `${h}:${redisPort}` })),
      );
      console.log(`      both members: ${first} (connections per member ${perMember.join("/")})`);
      assert.ok(perMember.every((n) => (n ?? 0) > 0), `both members took connections: ${perMember.join("/")}`);

      const killedAt = Date.now();
      await redis[1].stop("SIGKILL");
      const windowMs = failureWindowMs({ timeoutMs: hc.timeoutSeconds * 1000 * SCALE, intervalMs: hc.intervalSeconds * 1000 * SCALE, unhealthyThreshold: hc.unhealthyThreshold });
      const intervalMs = hc.intervalSeconds * 1000 * SCALE;
      await waitFor(() => rt.status().backendServices[0].members[1].health === "Unhealthy", windowMs + intervalMs + 2000, "the killed member to be unhealthy");
      const detected = Date.now() - killedAt;
      console.log(`      killed member marked unhealthy after ${detected} ms (failure window ${windowMs} ms + interval ${intervalMs} ms)`);
      assert.ok(detected <= windowMs + intervalMs + 300, `took ${detected} ms`);

      const second = await benchmark();
      console.log(`      one member left: ${second}`);
      assert.equal(rt.status().backendServices[0].failOpen, false);
    });
  });
});
