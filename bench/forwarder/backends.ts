/**
 * The benchmark's backends, all on one loopback "host" (BACKEND_HOST): a tiny nginx answering
 * every request with a few bytes, a redis server and an iperf3 server. Each is one process, so
 * that it can be pinned with `taskset -p` between configurations.
 */
import { writeFileSync } from "node:fs";
import * as net from "node:net";
import { join } from "node:path";
import { delay } from "../../test/support/wait";
import type { Processes, Started } from "./processes";

export const BACKEND_HOST = "127.0.8.1";

/** One port per kind of traffic; proxies listen on the same ports on their own address. */
export const PORTS = { http: 18080, redis: 16379, iperf: 15201 } as const;
export type Service = keyof typeof PORTS;

export interface Backends {
  readonly nginx: Started;
  readonly redis: Started;
  readonly iperf: Started;
}

export async function startBackends(procs: Processes, dir: string, cpus: string | undefined): Promise<Backends> {
  const nginxConf = join(dir, "nginx.conf");
  writeFileSync(nginxConf, nginxConfig(dir));
  const nginx = procs.start("nginx", "nginx", ["-e", join(dir, "nginx-error.log"), "-c", nginxConf], { cpus });
  const redis = procs.start(
    "redis",
    "redis-server",
    ["--bind", BACKEND_HOST, "--port", String(PORTS.redis), "--save", "", "--appendonly", "no", "--maxclients", "19000", "--dir", dir, "--protected-mode", "no"],
    { cpus },
  );
  const iperf = procs.start("iperf3", "iperf3", ["-s", "-B", BACKEND_HOST, "-p", String(PORTS.iperf)], { cpus });
  const backends = { nginx, redis, iperf };
  for (const [name, port] of [["nginx", PORTS.http], ["redis", PORTS.redis], ["iperf3", PORTS.iperf]] as const) {
    await waitForPort(BACKEND_HOST, port, 10_000, () => {
      const p = backends[name === "iperf3" ? "iperf" : name];
      return `${name} did not start: ${p.output().slice(-2000)}`;
    });
  }
  return backends;
}

/**
 * One process (no master), one worker connection limit far above the idle test's count,
 * keep-alive without a request cap, so that keep-alive runs measure the proxy and not reconnects.
 */
function nginxConfig(dir: string): string {
  return `daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 19000;
pid ${join(dir, "nginx.pid")};
error_log ${join(dir, "nginx-error.log")} warn;
events { worker_connections 18000; multi_accept on; }
http {
  access_log off;
  client_body_temp_path ${join(dir, "nginx-body")};
  proxy_temp_path ${join(dir, "nginx-proxy")};
  fastcgi_temp_path ${join(dir, "nginx-fastcgi")};
  uwsgi_temp_path ${join(dir, "nginx-uwsgi")};
  scgi_temp_path ${join(dir, "nginx-scgi")};
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  server {
    listen ${BACKEND_HOST}:${PORTS.http} backlog=4096 reuseport;
    location / { default_type text/plain; return 200 "ok\\n"; }
  }
}
`;
}

/** Resolves once `host:port` accepts a connection; rejects with `describe()` after `timeoutMs`. */
export async function waitForPort(host: string, port: number, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (ok) return;
    await delay(100);
  }
  throw new Error(describe());
}
