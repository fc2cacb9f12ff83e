/**
 * The two proxies under test, each on its own loopback address, forwarding each service port to
 * the backend on BACKEND_HOST: HAProxy in TCP mode without splicing (the forwarder cannot splice
 * either, so both copy bytes through user space) and the forwarder node, configured through its
 * admin API with health checking off, so that its members are eligible at once.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BACKEND_HOST, PORTS, waitForPort, type Service } from "./backends";
import type { Processes, Started } from "./processes";

/** Each proxy has an address of its own: HAProxy .1, the forwarder .2, nginx stream .3 (udp.ts), the forwarder in a container .4. */
export const HAPROXY_HOST = "127.0.9.1";
export const FORWARDER_HOST = "127.0.9.2";
/** The forwarder in a container, measured in the same run as the host process. */
export const CONTAINER_FORWARDER_HOST = "127.0.9.4";
export const FORWARDER_ADMIN_PORT = 19180;
const TOKEN = "bench-forwarder-admin-token";
const SEED = "00112233445566778899aabbccddeeff";

/** The most connections a proxy holds at once: the idle test's count plus margin. */
export const PROXY_MAXCONN = 9_900;

/** A port the forwarder forwards to the same port on BACKEND_HOST: its own group, service and listener. */
export interface ForwardedService {
  readonly name: string;
  readonly port: number;
  readonly protocol: "TCP" | "UDP";
}

export const TCP_SERVICES: readonly ForwardedService[] = (Object.keys(PORTS) as Service[]).map((name) => ({ name, port: PORTS[name], protocol: "TCP" }));

export interface Proxy {
  readonly name: string;
  readonly host: string;
  readonly process: Started;
}

export async function startHaproxy(procs: Processes, dir: string, threads: number, cpus: string | undefined): Promise<Proxy> {
  const conf = join(dir, `haproxy-${threads}.cfg`);
  writeFileSync(conf, haproxyConfig(threads));
  const process = procs.start(`haproxy-nbthread${threads}`, "haproxy", ["-db", "-f", conf], { cpus });
  await waitForPorts(HAPROXY_HOST, () => `haproxy did not start: ${process.output().slice(-2000)}`);
  return { name: `HAProxy nbthread ${threads}`, host: HAPROXY_HOST, process };
}

/** TCP mode, splicing off (`nosplice`), timeouts like the forwarder's defaults (900 s idle, 3 s connect). */
function haproxyConfig(threads: number): string {
  const sections = (Object.keys(PORTS) as Service[]).map(
    (service) => `listen ${service}
  bind ${HAPROXY_HOST}:${PORTS[service]}
  server ${service} ${BACKEND_HOST}:${PORTS[service]}
`,
  );
  return `global
  nbthread ${threads}
  maxconn ${PROXY_MAXCONN}
  nosplice
  log stdout format raw local0 err

defaults
  mode tcp
  no option splice-auto
  no option splice-request
  no option splice-response
  timeout connect 3s
  timeout client 900s
  timeout server 900s

${sections.join("\n")}`;
}

/** Whether the built forwarder accepts `--workers N`. */
export async function forwarderSupportsWorkers(procs: Processes, mainJs: string): Promise<boolean> {
  const { output } = await procs.run("forwarder-help", process.execPath, [mainJs, "--help"], { timeoutMs: 10_000 });
  return output.includes("--workers");
}

/** The secrets every forwarder of the run shares (a loopback-only benchmark: fixed values). */
export const FORWARDER_SECRETS = { adminToken: TOKEN, hashSeed: SEED } as const;

/**
 * What one forwarder of the run is: the address of its listeners and admin API (port
 * FORWARDER_ADMIN_PORT), its workers (undefined: the build's default), CPUs and extra flags.
 */
export interface ForwarderLaunch {
  readonly name: string;
  readonly host: string;
  readonly workers: number | undefined;
  readonly cpus: string | undefined;
  /** Flags beyond the addresses, state and secrets: workers, log level, the run's extra ones. */
  readonly flags: readonly string[];
}

/**
 * Starts a forwarder node as `launch` says, with FORWARDER_SECRETS, and resolves with the process
 * to measure: a host process (`hostForwarder`), or the first process of a container
 * (bench/forwarder/container.ts).
 */
export type ForwarderLauncher = (procs: Processes, dir: string, launch: ForwarderLaunch) => Promise<Started>;

/** The forwarder as a process of this host, `node [nodeArgs] main.js ...`. */
export function hostForwarder(mainJs: string, nodeArgs: readonly string[]): ForwarderLauncher {
  return async (procs, dir, launch) => {
    const stateDir = join(dir, `forwarder-state-${launch.host}-${launch.workers ?? "single"}`);
    mkdirSync(stateDir, { recursive: true });
    const admin = `${launch.host}:${FORWARDER_ADMIN_PORT}`;
    const args = [...nodeArgs, mainJs, "--admin-listen", admin, "--listen-address", launch.host, "--state-dir", stateDir, ...launch.flags];
    const env = { ...process.env, DNLB_ADMIN_TOKEN: TOKEN, DNLB_HASH_SEED: SEED };
    return procs.start(launch.name, process.execPath, args, { cpus: launch.cpus, env });
  };
}

export async function startForwarder(
  procs: Processes,
  dir: string,
  launcher: ForwarderLauncher,
  host: string,
  workers: number | undefined,
  cpus: string | undefined,
  forwarderArgs: readonly string[] = [],
  services: readonly ForwardedService[] = TCP_SERVICES,
): Promise<Proxy> {
  const flags = ["--log-level", "warn", ...(workers === undefined ? [] : ["--workers", String(workers)]), ...forwarderArgs];
  const name = workers === undefined ? "forwarder" : `forwarder --workers ${workers}`;
  const child = await launcher(procs, dir, { name, host, workers, cpus, flags });
  const describe = (): string => `the forwarder did not start: ${child.output().slice(-2000)}`;
  await waitForPort(host, FORWARDER_ADMIN_PORT, 30_000, describe);
  await configureForwarder(`http://${host}:${FORWARDER_ADMIN_PORT}`, services);
  for (const service of services) if (service.protocol === "TCP") await waitForPort(host, service.port, 20_000, describe);
  return { name, host, process: child };
}

/** One virtual group, backend service and listener per service, health checking off. */
async function configureForwarder(base: string, services: readonly ForwardedService[]): Promise<void> {
  for (const { name, port, protocol } of services) {
    await put(base, `server-groups/${name}`, { name, type: "virtual", members: [{ address: BACKEND_HOST, port }] });
    await put(base, `backend-services/${name}`, { name, protocol, port, serverGroup: name, healthCheckEnabled: false });
    await put(base, `listeners/${name}`, { name, protocol, port, backendService: name });
  }
}

async function put(base: string, path: string, body: unknown): Promise<void> {
  const response = await fetch(`${base}/v1/${path}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (response.status !== 200 && response.status !== 201) {
    throw new Error(`PUT /v1/${path}: ${response.status} ${await response.text()}`);
  }
}

async function waitForPorts(host: string, describe: () => string): Promise<void> {
  for (const { port } of TCP_SERVICES) await waitForPort(host, port, 20_000, describe);
}
