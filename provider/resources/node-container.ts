/**
 * The container that runs one forwarder node, described once as plain data.
 *
 * The `LoadBalancer` component turns this spec into a `docker.Container` and the Docker end-to-end
 * test turns it into a Docker Engine API request, so what the tests run is what users deploy.
 * No Pulumi or Docker imports here: `V` is whatever carries the values known late (the image
 * reference and the secrets): a `pulumi.Output<string>` in the component, a string in the test.
 */
import { formatHostPort } from "../model";
import { nodeVipFlags, VIP_CAPABILITIES, type NodeVip } from "./node-vip";

/** Where the node keeps its configuration inside the container (a named volume is mounted there). */
export const NODE_STATE_DIR = "/var/lib/dnlb";
/**
 * Where the node reads its secrets, as files: a volume of their own, mounted read-only in the node.
 * Files, not environment variables, because `docker inspect` shows a container's environment to
 * anyone who may talk to the Docker engine, and child processes inherit it.
 */
export const NODE_SECRETS_DIR = "/run/dnlb";
export const SECRET_FILES = {
  adminToken: `${NODE_SECRETS_DIR}/admin-token`,
  hashSeed: `${NODE_SECRETS_DIR}/hash-seed`,
  tlsCertificate: `${NODE_SECRETS_DIR}/admin-cert.pem`,
  tlsKey: `${NODE_SECRETS_DIR}/admin-key.pem`,
} as const;
/** Owner only: the node runs as root without CAP_DAC_OVERRIDE, which still reads a file root owns. */
export const SECRET_FILE_MODE = 0o600;
/** The admin API port when a node does not set `adminPort`. */
export const DEFAULT_ADMIN_PORT = 9180;
/** The forwarder image's program, as the Dockerfile's ENTRYPOINT runs it. */
export const FORWARDER_ENTRYPOINT = ["node", "/opt/dnlb/dist/provider/forwarder/main.js"] as const;

export interface NodeContainerInput<V> {
  /** Docker container name, unique on its Docker host. */
  readonly containerName: string;
  readonly image: V;
  /** Where listeners bind (host networking: an address of the Docker host). */
  readonly listenAddress: string;
  /** Where the admin API and /metrics bind: a management address of the Docker host. */
  readonly adminAddress: string;
  readonly adminPort: number;
  /** The named volume holding the node's state directory. */
  readonly stateVolume: string;
  /** The named volume holding the node's secret files (written by its secrets carrier). */
  readonly secretsVolume: string;
  /** The admin API serves HTTPS with the certificate and key in the secrets volume. */
  readonly tls: boolean;
  readonly memoryLimitMiB: number;
  /** The VIP this node serves and announces; unset: the node serves its own address. */
  readonly vip?: NodeVip;
  /** Labels to find the containers again (`docker ps --filter label=...`). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** The admin API's TLS certificate and key for one node, as PEM text. */
export interface NodeTlsFiles<V> {
  readonly certificatePem: V;
  readonly privateKeyPem: V;
}

export interface NodeSecretsInput<V> {
  /** The node's container name: the carrier is named after it. */
  readonly nodeContainerName: string;
  /** Any image: the carrier never runs. The node's own image is already on the host. */
  readonly image: V;
  readonly secretsVolume: string;
  readonly adminToken: V;
  readonly hashSeed: V;
  readonly tls?: NodeTlsFiles<V>;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A file written into a container after it is created and before it starts. */
export interface ContainerFile<V> {
  /** Absolute path in the container; it must lie in one of the container's volumes. */
  readonly path: string;
  readonly content: V;
  /** Permission bits, e.g. 0o600. */
  readonly mode: number;
  /** Numeric owner and group. */
  readonly uid: number;
  readonly gid: number;
  /** The content must not appear in plain text (Pulumi state, logs). */
  readonly secret: boolean;
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

export interface ContainerVolume {
  readonly volumeName: string;
  readonly containerPath: string;
  readonly readOnly?: boolean;
}

export interface ContainerSpec<V> {
  readonly name: string;
  readonly image: V;
  /** Replaces the image's ENTRYPOINT when set. */
  readonly entrypoint?: readonly string[];
  readonly command: readonly string[];
  readonly env: readonly ContainerEnv<V>[];
  /** Host networking: the node binds the host's addresses itself, like an LVS director. `none`: no network at all. */
  readonly networkMode: "host" | "none";
  readonly restart: "unless-stopped" | "no";
  /** false: the container is created, its files written, and it is never started. */
  readonly start: boolean;
  readonly volumes: readonly ContainerVolume[];
  /** Written before the container starts, through its volumes (Docker writes no file onto a read-only root). */
  readonly files: readonly ContainerFile<V>[];
  /** The image's files cannot be changed; only volumes and `tmpfs` are writable. */
  readonly readOnlyRootFilesystem: boolean;
  /** Memory file systems (path: mount options), for what must be written besides the volumes. */
  readonly tmpfs: Readonly<Record<string, string>>;
  /** Docker's `--security-opt` values. */
  readonly securityOptions: readonly string[];
  /** Memory limit in MiB; unset: none. */
  readonly memoryLimitMiB?: number;
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

/** The admin API base URL Pulumi and the tests use for a node; `tls`: the node serves HTTPS. */
export function adminEndpoint(address: string, port: number, tls: boolean): string {
  return `${tls ? "https" : "http"}://${formatHostPort(address, port)}`;
}

/** The address a local probe reaches when the node binds a wildcard. */
function reachableAddress(address: string): string {
  if (address === "0.0.0.0") return "127.0.0.1";
  if (address === "::") return "::1";
  return address;
}

/**
 * Docker's healthcheck: the admin API's `/healthz` answers within 2 s. Node 22's `fetch` and
 * `https` keep the image free of curl or a shell. Over TLS the probe does not verify the
 * certificate: it sends no token and reads only the status, from a node on its own host.
 */
function healthcheck(adminAddress: string, adminPort: number, tls: boolean): ContainerHealthcheck {
  const authority = formatHostPort(reachableAddress(adminAddress), adminPort);
  const script = tls
    ? `require("https").get(${JSON.stringify(`https://${authority}/healthz`)},` +
      "{rejectUnauthorized:false,timeout:2000}," +
      "r=>process.exit(r.statusCode===200?0:1)).on(\"error\",()=>process.exit(1)).on(\"timeout\",()=>process.exit(1))"
    : `fetch(${JSON.stringify(`http://${authority}/healthz`)},{signal:AbortSignal.timeout(2000)})` +
      ".then(r=>process.exit(r.ok?0:1),()=>process.exit(1))";
  return { test: ["CMD", "node", "-e", script], intervalSeconds: 5, timeoutSeconds: 3, retries: 3, startPeriodSeconds: 10 };
}

/** The node's user: root, for ports below 1024 (see nodeContainerSpec). Secret files belong to it. */
const NODE_UID = 0;
const NODE_GID = 0;

/**
 * The one writable place besides the volumes. The node writes only its state directory; a small
 * /tmp keeps a library that expects one working on the read-only root.
 */
const NODE_TMPFS = { "/tmp": "rw,noexec,nosuid,nodev,size=16m" } as const;

/** The one place that says how a forwarder node runs. */
export function nodeContainerSpec<V>(input: NodeContainerInput<V>): ContainerSpec<V> {
  return {
    name: input.containerName,
    image: input.image,
    command: [
      "--admin-listen",
      formatHostPort(input.adminAddress, input.adminPort),
      "--listen-address",
      // With a VIP the listeners bind the VIP; the node refuses any other listen address.
      input.vip === undefined ? input.listenAddress : input.vip.spec.address,
      "--state-dir",
      NODE_STATE_DIR,
      // Host networking gives every container the host's name: logs and status say which node.
      "--node-name",
      input.containerName,
      // The image compiles the relay for its platform: a node without it is a broken image, so it
      // exits saying why instead of running the slower streams engine unnoticed.
      "--require-native",
      "--token-file",
      SECRET_FILES.adminToken,
      "--hash-seed-file",
      SECRET_FILES.hashSeed,
      ...(input.tls ? ["--tls-cert-file", SECRET_FILES.tlsCertificate, "--tls-key-file", SECRET_FILES.tlsKey] : []),
      ...(input.vip === undefined ? [] : nodeVipFlags(input.vip)),
    ],
    env: [],
    networkMode: "host",
    restart: "unless-stopped",
    start: true,
    volumes: [
      { volumeName: input.stateVolume, containerPath: NODE_STATE_DIR },
      { volumeName: input.secretsVolume, containerPath: NODE_SECRETS_DIR, readOnly: true },
    ],
    files: [],
    readOnlyRootFilesystem: true,
    tmpfs: NODE_TMPFS,
    // setuid binaries in the image (or a library) cannot gain what the node was not given.
    securityOptions: ["no-new-privileges:true"],
    memoryLimitMiB: input.memoryLimitMiB,
    healthcheck: healthcheck(input.adminAddress, input.adminPort, input.tls),
    labels: { "dnlb.role": "forwarder", ...input.labels },
    stopTimeoutSeconds: 30,
    logOptions: LOG_OPTIONS,
    // Listeners are added later by configuration and users expect ports such as 80 and 443, which
    // a non-root user cannot bind; Docker grants a non-root user no effective capability. So the
    // node runs as root holding only the capability to bind low ports, and nothing else.
    user: `${NODE_UID}:${NODE_GID}`,
    capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE", ...(input.vip === undefined ? [] : VIP_CAPABILITIES)] },
  };
}

/**
 * The node's secrets carrier: a container that is created, receives the secret files into the
 * node's secrets volume, and never runs. Docker writes files into a container only through a
 * writable root or a volume, and @pulumi/docker uploads through the root, which the node keeps
 * read-only; the carrier's root is writable and it has nothing to protect.
 */
export function nodeSecretsSpec<V>(input: NodeSecretsInput<V>): ContainerSpec<V> {
  const secretFile = (path: string, content: V): ContainerFile<V> => ({ path, content, mode: SECRET_FILE_MODE, uid: NODE_UID, gid: NODE_GID, secret: true });
  return {
    name: `${input.nodeContainerName}-secrets`,
    image: input.image,
    entrypoint: ["node"],
    command: ["-e", ""],
    env: [],
    networkMode: "none",
    restart: "no",
    start: false,
    volumes: [{ volumeName: input.secretsVolume, containerPath: NODE_SECRETS_DIR }],
    files: [
      secretFile(SECRET_FILES.adminToken, input.adminToken),
      secretFile(SECRET_FILES.hashSeed, input.hashSeed),
      ...(input.tls === undefined
        ? []
        : [secretFile(SECRET_FILES.tlsCertificate, input.tls.certificatePem), secretFile(SECRET_FILES.tlsKey, input.tls.privateKeyPem)]),
    ],
    readOnlyRootFilesystem: false,
    tmpfs: {},
    securityOptions: [],
    labels: { "dnlb.role": "secrets", ...input.labels },
    stopTimeoutSeconds: 0,
    logOptions: LOG_OPTIONS,
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
 * bytes), and the same answer to every UDP datagram on the same port, for the examples and the
 * end-to-end test. It stops on SIGTERM at once.
 */
export function demoBackendContainerSpec<V>(input: DemoBackendInput<V>): ContainerSpec<V> {
  const script = [
    'const http = require("node:http");',
    "const [address, port, label] = process.argv.slice(1);",
    "const server = http.createServer((req, res) => res.end(`hello from ${label}\\n`));",
    "server.listen(Number(port), address, () => console.log(JSON.stringify({ msg: \"listening\", address, port, label })));",
    // The same answer over UDP on the same port, for UDP listeners.
    'const udp = require("node:dgram").createSocket(require("node:net").isIPv6(address) ? "udp6" : "udp4");',
    'udp.on("error", (error) => console.log(JSON.stringify({ msg: "udp", error: error.message })));',
    "udp.on(\"message\", (message, peer) => udp.send(`hello from ${label}\\n`, peer.port, peer.address));",
    "udp.bind(Number(port), address);",
    'process.on("SIGTERM", () => { server.close(); server.closeAllConnections(); udp.close(); process.exit(0); });',
  ].join("\n");
  return {
    name: input.containerName,
    image: input.image,
    entrypoint: ["node"],
    command: ["-e", script, input.address, String(input.port), input.label],
    env: [],
    networkMode: "host",
    restart: "unless-stopped",
    start: true,
    volumes: [],
    files: [],
    readOnlyRootFilesystem: false,
    tmpfs: {},
    securityOptions: [],
    labels: { "dnlb.role": "demo-backend", ...input.labels },
    stopTimeoutSeconds: 5,
    logOptions: LOG_OPTIONS,
  };
}
