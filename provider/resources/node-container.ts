/**
 * The container that runs one forwarder node, described once as plain data.
 *
 * The `LoadBalancer` component turns this spec into a `docker.Container` and the Docker end-to-end
 * test turns it into a Docker Engine API request, so what the tests run is what users deploy.
 * No Pulumi or Docker imports here: `V` is whatever carries the values known late (the image
 * reference and the secrets): a `pulumi.Output<string>` in the component, a string in the test.
 */
import { formatHostPort } from "../model";

/** Where the node keeps its configuration inside the container (a named volume is mounted there). */
export const NODE_STATE_DIR = "/var/lib/dnlb";
/** The admin API port when a node does not set `adminPort`. */
export const DEFAULT_ADMIN_PORT = 9180;
/** The environment variables the forwarder reads its secrets from (see docs/admin-api.md, "Command line"). */
export const TOKEN_ENV = "DNLB_ADMIN_TOKEN";
export const SEED_ENV = "DNLB_HASH_SEED";
/** The forwarder image's program, as the Dockerfile's ENTRYPOINT runs it. */
export const FORWARDER_ENTRYPOINT = ["node", "/opt/dnlb/dist/provider/forwarder/main.js"] as const;

export interface NodeContainerInput<V> {
  /** Docker container name, unique on its Docker host. */
  readonly containerName: string;
  readonly image: V;
  /** Where listeners and the admin API bind (host networking: an address of the Docker host). */
  readonly listenAddress: string;
  readonly adminPort: number;
  /** The named volume holding the node's state directory. */
  readonly stateVolume: string;
  readonly adminToken: V;
  readonly hashSeed: V;
  /** Labels to find the containers again (`docker ps --filter label=...`). */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface ContainerEnv<V> {
  readonly name: string;
  readonly value: V;
  /** The value must not appear in plain text (Pulumi state, logs). */
  readonly secret: boolean;
}

export interface ContainerHealthcheck {
  /** Exec form: the image has no shell. */
  readonly test: readonly string[];
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly retries: number;
  readonly startPeriodSeconds: number;
}

export interface ContainerSpec<V> {
  readonly name: string;
  readonly image: V;
  /** Replaces the image's ENTRYPOINT when set. */
  readonly entrypoint?: readonly string[];
  readonly command: readonly string[];
  readonly env: readonly ContainerEnv<V>[];
  /** Host networking: the node binds the host's addresses itself, like an LVS director. */
  readonly networkMode: "host";
  readonly restart: "unless-stopped";
  readonly volumes: readonly { readonly volumeName: string; readonly containerPath: string }[];
  readonly healthcheck?: ContainerHealthcheck;
  readonly labels: Readonly<Record<string, string>>;
  /** The forwarder drains and exits on SIGTERM; this bounds how long Docker waits before SIGKILL. */
  readonly stopTimeoutSeconds: number;
  /** Logs go to stdout (JSON lines); the json-file driver keeps them bounded. */
  readonly logOptions: Readonly<Record<string, string>>;
  /** `uid:gid` of the first process; unset: the image's user. */
  readonly user?: string;
  /** Linux capabilities dropped, then added back. */
  readonly capabilities?: { readonly drop: readonly string[]; readonly add: readonly string[] };
}

const LOG_OPTIONS = { "max-size": "10m", "max-file": "3" } as const;

/** The admin API base URL Pulumi and the tests use for a node. */
export function adminEndpoint(address: string, port: number): string {
  return `http://${formatHostPort(address, port)}`;
}

/** The address a local probe reaches when the node binds a wildcard. */
function reachableAddress(listenAddress: string): string {
  if (listenAddress === "0.0.0.0") return "127.0.0.1";
  if (listenAddress === "::") return "::1";
  return listenAddress;
}

/**
 * Docker's healthcheck: `/healthz` answers within 2 s. Node 22's fetch keeps the image free of
 * curl or a shell.
 */
function healthcheck(listenAddress: string, adminPort: number): ContainerHealthcheck {
  const url = `${adminEndpoint(reachableAddress(listenAddress), adminPort)}/healthz`;
  const script =
    `fetch(${JSON.stringify(url)},{signal:AbortSignal.timeout(2000)})` +
    ".then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";
  return { test: ["CMD", "node", "-e", script], intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 10 };
}

/** The one place that says how a forwarder node runs. */
export function nodeContainerSpec<V>(input: NodeContainerInput<V>): ContainerSpec<V> {
  return {
    name: input.containerName,
    image: input.image,
    command: [
      "--admin-listen",
      formatHostPort(input.listenAddress, input.adminPort),
      "--listen-address",
      input.listenAddress,
      "--state-dir",
      NODE_STATE_DIR,
      // Host networking gives every container the host's name: logs and status say which node.
      "--node-name",
      input.containerName,
      // The image compiles the relay for its platform: a node without it is a broken image, so it
      // exits saying why instead of running the slower streams engine unnoticed.
      "--require-native",
    ],
    env: [
      { name: TOKEN_ENV, value: input.adminToken, secret: true },
      { name: SEED_ENV, value: input.hashSeed, secret: true },
    ],
    networkMode: "host",
    restart: "unless-stopped",
    volumes: [{ volumeName: input.stateVolume, containerPath: NODE_STATE_DIR }],
    healthcheck: healthcheck(input.listenAddress, input.adminPort),
    labels: { "dnlb.role": "forwarder", ...input.labels },
    stopTimeoutSeconds: 30,
    logOptions: LOG_OPTIONS,
    // Listeners are added later by configuration and users expect ports such as 80 and 443, which
    // a non-root user cannot bind; Docker grants a non-root user no effective capability. So the
    // node runs as root holding only the capability to bind low ports, and nothing else.
    user: "0:0",
    capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] },
  };
}

export interface DemoBackendInput<V> {
  readonly containerName: string;
  /** Any image with Node 22 on its PATH: the examples reuse the forwarder image. */
  readonly image: V;
  readonly address: string;
  readonly port: number;
  /** Said in every reply, so a client sees which member answered. */
  readonly label: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/**
 * A tiny HTTP server answering `hello from <label>` (plain TCP clients such as `nc` see the same
 * bytes), for the examples and the end-to-end test. It stops on SIGTERM at once.
 */
export function demoBackendContainerSpec<V>(input: DemoBackendInput<V>): ContainerSpec<V> {
  const script = [
    'const http = require("node:http");',
    "const [address, port, label] = process.argv.slice(1);",
    "const server = http.createServer((req, res) => res.end(`hello from ${label}\\n`));",
    "server.listen(Number(port), address, () => console.log(JSON.stringify({ msg: \"listening\", address, port, label })));",
    'process.on("SIGTERM", () => { server.close(); server.closeAllConnections(); process.exit(0); });',
  ].join("\n");
  return {
    name: input.containerName,
    image: input.image,
    entrypoint: ["node"],
    command: ["-e", script, input.address, String(input.port), input.label],
    env: [],
    networkMode: "host",
    restart: "unless-stopped",
    volumes: [],
    labels: { "dnlb.role": "demo-backend", ...input.labels },
    stopTimeoutSeconds: 5,
    logOptions: LOG_OPTIONS,
  };
}
