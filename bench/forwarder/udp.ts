/**
 * The UDP part of the forwarder benchmark: DNS queries (dnsperf) and bulk datagrams (iperf3 -u)
 * through nginx stream (`listen ... udp`, one worker: HAProxy does not proxy UDP) and through the
 * forwarder, and directly to the backends: one NSD server and an iperf3 server on BACKEND_HOST.
 * iperf3 -u keeps its control connection on TCP, so the iperf3 port is proxied on both transports.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { delay } from "../../test/support/wait";
import { DnsClient, QUESTION, writeNsdConfig } from "../../test/forwarder/helpers/dns";
import { BACKEND_HOST, waitForPort } from "./backends";
import { record, type Samples, type Target } from "./figures";
import { runDnsperf, runIperfUdp, type LoadSettings } from "./load";
import { cpuSeconds, type Processes, type Started } from "./processes";
import type { ForwardedService, Proxy } from "./proxies";

export const NGINX_STREAM_HOST = "127.0.9.3";
export const UDP_PORTS = { dns: 15353, iperf: 15202 } as const;
/** iperf3 -u's datagram size: below a 1500-byte Ethernet MTU with IPv4 and UDP headers. */
export const DATAGRAM_BYTES = 1200;
export const NGINX_STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so";

export const UDP_SERVICES: readonly ForwardedService[] = [
  { name: "dns", port: UDP_PORTS.dns, protocol: "UDP" },
  { name: "iperf-udp-control", port: UDP_PORTS.iperf, protocol: "TCP" },
  { name: "iperf-udp", port: UDP_PORTS.iperf, protocol: "UDP" },
];

export interface UdpBackends {
  readonly nsd: Started;
  readonly iperf: Started;
  /** dnsperf's input: the one question NSD answers. */
  readonly queryFile: string;
}

export async function startUdpBackends(procs: Processes, dir: string, cpus: string | undefined): Promise<UdpBackends> {
  const nsdDir = join(dir, "nsd");
  mkdirSync(nsdDir, { recursive: true });
  const conf = writeNsdConfig(nsdDir, BACKEND_HOST, UDP_PORTS.dns, "bench");
  const nsd = procs.start("nsd", "nsd", ["-d", "-c", conf], { cpus });
  const iperf = procs.start("iperf3 -u server", "iperf3", ["-s", "-B", BACKEND_HOST, "-p", String(UDP_PORTS.iperf)], { cpus });
  const queryFile = join(dir, "dns-queries.txt");
  writeFileSync(queryFile, `${QUESTION} TXT\n`);
  await waitForDns(BACKEND_HOST, () => `nsd did not start: ${nsd.output().slice(-2000)}`);
  await waitForPort(BACKEND_HOST, UDP_PORTS.iperf, 10_000, () => `iperf3 did not start: ${iperf.output().slice(-2000)}`);
  return { nsd, iperf, queryFile };
}

export async function startNginxStream(procs: Processes, dir: string, workers: number, cpus: string | undefined): Promise<Proxy> {
  const conf = join(dir, `nginx-stream-${workers}.conf`);
  writeFileSync(conf, nginxStreamConfig(dir, workers));
  const process = procs.start("nginx stream", "nginx", ["-e", join(dir, "nginx-stream-error.log"), "-c", conf], { cpus });
  const describe = (): string => `nginx stream did not start: ${process.output().slice(-2000)}`;
  await waitForPort(NGINX_STREAM_HOST, UDP_PORTS.iperf, 10_000, describe);
  await waitForDns(NGINX_STREAM_HOST, describe);
  return { name: `nginx stream, ${workers} workers`, host: NGINX_STREAM_HOST, process };
}

/**
 * One worker: one process (no master); more: a master and its workers, which share each UDP port
 * with `reuseport` as the forwarder's workers do. `proxy_responses 1` ends a DNS session with its
 * answer, as a DNS proxy would; iperf3's datagrams keep their session open.
 */
function nginxStreamConfig(dir: string, workers: number): string {
  const reuseport = workers > 1 ? " reuseport" : "";
  return `load_module ${NGINX_STREAM_MODULE};
daemon off;
master_process ${workers > 1 ? "on" : "off"};
worker_processes ${workers};
worker_rlimit_nofile 19000;
pid ${join(dir, "nginx-stream.pid")};
error_log ${join(dir, "nginx-stream-error.log")} warn;
events { worker_connections 18000; }
stream {
  server {
    listen ${NGINX_STREAM_HOST}:${UDP_PORTS.dns} udp${reuseport};
    proxy_pass ${BACKEND_HOST}:${UDP_PORTS.dns};
    proxy_responses 1;
    proxy_timeout 5s;
  }
  server {
    listen ${NGINX_STREAM_HOST}:${UDP_PORTS.iperf};
    proxy_pass ${BACKEND_HOST}:${UDP_PORTS.iperf};
  }
  server {
    listen ${NGINX_STREAM_HOST}:${UDP_PORTS.iperf} udp${reuseport};
    proxy_pass ${BACKEND_HOST}:${UDP_PORTS.iperf};
    proxy_timeout 30s;
  }
}
`;
}

/** Resolves once `host` answers QUESTION on the DNS port (through a proxy: once it forwards). */
export async function waitForDns(host: string, describe: () => string, timeoutMs = 20_000): Promise<void> {
  const client = await DnsClient.open("127.0.0.1");
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const answered = await client.ask(host, UDP_PORTS.dns, 300).then(
        () => true,
        () => false,
      );
      if (answered) return;
      await delay(100);
    }
  } finally {
    client.close();
  }
  throw new Error(describe());
}

/**
 * One repeat of the UDP figures against `host`. CPU per datagram counts a DNS query as two
 * datagrams (the question and the answer); bulk counts the datagrams the server received.
 */
export async function measureUdp(
  procs: Processes,
  samples: Samples,
  target: Target,
  host: string,
  proxy: Started | undefined,
  settings: LoadSettings,
  backends: UdpBackends,
  logFile: string,
  step: (what: string, run: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const cpu = (): number => (proxy === undefined ? NaN : cpuSeconds(proxy.pid));
  await step("dnsperf", async () => {
    const before = cpu();
    const r = await runDnsperf(procs, host, UDP_PORTS.dns, settings, backends.queryFile, logFile);
    record(samples, target, "dnsRate", r.queriesPerSecond);
    record(samples, target, "dnsP99", r.p99Ms);
    record(samples, target, "dnsLost", r.lostPercent);
    record(samples, target, "cpuPerDnsDatagram", ((cpu() - before) * 1e6) / (2 * r.completed));
  });
  await step("iperf3 -u", async () => {
    const before = cpu();
    const r = await runIperfUdp(procs, host, UDP_PORTS.iperf, settings, DATAGRAM_BYTES);
    record(samples, target, "udpBulk", r.gbitPerSecond);
    record(samples, target, "udpBulkLost", r.lostPercent);
    record(samples, target, "cpuPerBulkDatagram", ((cpu() - before) * 1e6) / r.datagramsReceived);
  });
}
