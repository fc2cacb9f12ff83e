import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { ContainerSpec, nodeContainerSpec, nodeSecretsSpec, type NodeTlsFiles } from "./node-container";
import {
  canonicalAddress,
  checkLoadBalancerArgs,
  NODE_PLATFORMS,
  type AdminTlsMode,
  type CheckFailure,
  type LoadBalancerArgsSpec,
  type LoadBalancerConnection,
  type NodePlatform,
} from "../model";
import { AdminCertificates, type AdminCertificateNode } from "./admin-certificates-resource";
import { dockerHostPlatform, FALLBACK_PLATFORM, isNodePlatform } from "./docker-platform";
import { packageRoot, stageForwarderContext } from "./load-balancer-image";
import { dockerHosts, nodeConflicts, planNodes, type LoadBalancerNodeArgs, type PlannedNode } from "./load-balancer-nodes";
import { GeneratedSecretsResource } from "./load-balancer-secrets";
import { routerIdOf } from "./node-vip";

export { LoadBalancerNodeArgs } from "./load-balancer-nodes";

/** The engine every node of a LoadBalancer runs: its containers start with `--require-native`. */
export const REQUIRED_ENGINE = "native";

/** The public Node 22 image the forwarder is built on when `baseImage` is not given. */
export const DEFAULT_BASE_IMAGE = "node:22-bookworm-slim";

/**
 * Arguments of a {@link LoadBalancer}. `nodes` and `networkMode` decide which resources exist,
 * so they are plain values; the others may be outputs of other resources.
 */
export interface LoadBalancerArgs {
  /** A count of local nodes (1-16, on 127.0.1.1, 127.0.1.2, ...) or one entry per node. Default: 2. */
  readonly nodes?: number | readonly LoadBalancerNodeArgs[];
  /** A prebuilt forwarder image (pulled on each Docker host); unset: build provider/forwarder/Dockerfile. */
  readonly image?: pulumi.Input<string>;
  /** The BASE_IMAGE build argument: any image with Node.js 22 on its PATH. Default: node:22-bookworm-slim. */
  readonly baseImage?: pulumi.Input<string>;
  /**
   * The BUILDER_IMAGE build argument, where the native relay is compiled: Node.js 22 with its
   * headers and a C compiler as `cc`. Default (the Dockerfile's): node:22-bookworm.
   */
  readonly builderImage?: pulumi.Input<string>;
  /**
   * The platform images are built (or pulled) for, `linux/amd64` or `linux/arm64`, for every node
   * without its own `platform`. Unset: what each Docker host's engine reports where the provider
   * can ask it (a unix socket or tcp:// host), else linux/amd64.
   */
  readonly platform?: NodePlatform;
  /** Only host networking: each node binds its own address of the Docker host. */
  readonly networkMode?: "host";
  /** CIDRs every server group member must lie in. */
  readonly subnets?: pulumi.Input<pulumi.Input<string>[]>;
  /** Admin API bearer token (16+ characters); unset: a generated secret, stable across runs. */
  readonly adminToken?: pulumi.Input<string>;
  /** Keyed hash seed (32 hex characters); unset: a generated secret, stable across runs. */
  readonly hashSeed?: pulumi.Input<string>;
  /**
   * Which nodes' admin APIs serve HTTPS, with certificates from a private CA the connection pins:
   * `"auto"`, every node whose admin address is not loopback (the token would cross the network);
   * `"always"`, every node. Default: "auto".
   */
  readonly adminTls?: AdminTlsMode;
  /**
   * Memory of each node container in MiB (256-1048576): past it the kernel stops the node and
   * Docker restarts it. Default: 2048.
   */
  readonly memoryLimitMiB?: number;
  /**
   * One virtual IP served by every node, announced over BGP by each node's BIRD while the node can
   * serve (router side: examples/vip-bgp). The router id of each node is its own address. The
   * node containers then also get CAP_NET_ADMIN, to put the VIP on their loopback.
   */
  readonly vip?: LoadBalancerVipArgs;
}

export interface LoadBalancerVipArgs {
  /** The virtual IP (a unicast address); every node binds its listeners to it. */
  readonly address: string;
  readonly bgp: {
    /** The nodes' AS number (1-4294967295). */
    readonly localAsn: number;
    /** The routers each node peers with, unique by address, of the VIP's address family. */
    readonly peers: readonly {
      readonly address: string;
      readonly asn: number;
      /** BFD with the peer (a silent node leaves in about 0.3 s). Default: false; the same for every peer. */
      readonly bfd?: boolean;
      /** 0 or 3-65535. Default: 3; the same for every peer. */
      readonly holdTimeSeconds?: number;
    }[];
  };
}

/** Every problem with a LoadBalancer's arguments, found before anything is created. */
export class LoadBalancerArgsError extends Error {
  constructor(
    resourceName: string,
    public readonly failures: readonly CheckFailure[],
  ) {
    super(`LoadBalancer "${resourceName}" has invalid arguments:\n${failures.map((f) => `  - ${f.reason}`).join("\n")}`);
    this.name = "LoadBalancerArgsError";
  }
}

function isPlain(value: unknown): boolean {
  if (pulumi.Output.isInstance(value) || value instanceof Promise) return false;
  return Array.isArray(value) ? value.every(isPlain) : true;
}

const DEFERRABLE = ["image", "baseImage", "builderImage", "subnets", "adminToken", "hashSeed"] as const;
type DeferrableArg = (typeof DEFERRABLE)[number];

/**
 * Validates what is known now with the model's schema (the messages `check` gives everywhere),
 * plus what only a LoadBalancer can get wrong: nodes colliding on one host, and a base image
 * that would be ignored.
 */
export function validateLoadBalancerArgs(name: string, args: LoadBalancerArgs): { spec: LoadBalancerArgsSpec; nodes: PlannedNode[] } {
  const raw: Record<string, unknown> = {
    nodes: args.nodes,
    networkMode: args.networkMode,
    platform: args.platform,
    memoryLimitMiB: args.memoryLimitMiB,
    vip: args.vip,
    adminTls: args.adminTls,
  };
  for (const key of DEFERRABLE) if (isPlain(args[key])) raw[key] = args[key];
  for (const key of Object.keys(raw)) if (raw[key] === undefined) delete raw[key];
  const checked = checkLoadBalancerArgs(raw);
  const failures = [...checked.failures];
  for (const key of ["baseImage", "builderImage"] as const) {
    if (args.image !== undefined && args[key] !== undefined) {
      failures.push({ property: key, reason: `${key} is a build argument and image is a prebuilt image: give one of them, not both` });
    }
  }
  if (failures.length > 0) throw new LoadBalancerArgsError(name, failures);
  const spec = checked.inputs as LoadBalancerArgsSpec;
  const { nodes, failures: unplanned } = planNodes(spec.nodes, spec.platform, spec.adminTls);
  if (unplanned.length > 0) throw new LoadBalancerArgsError(name, unplanned);
  const conflicts = nodeConflicts(nodes, spec.vip?.address);
  if (conflicts.length > 0) throw new LoadBalancerArgsError(name, conflicts);
  return { spec, nodes };
}

/** Checks a value that was an output at construction, once it is known. */
function validatedLater<T>(resourceName: string, key: DeferrableArg, value: pulumi.Input<T>): pulumi.Output<pulumi.Unwrap<T>> {
  return pulumi.output(value).apply((known) => {
    checkKnownArg(resourceName, key, known);
    return known;
  });
}

/** The check an argument given as an output gets once it is known (throws LoadBalancerArgsError). */
export function checkKnownArg(resourceName: string, key: DeferrableArg, value: unknown): void {
  const failures = checkLoadBalancerArgs({ [key]: value }).failures;
  if (failures.length > 0) throw new LoadBalancerArgsError(resourceName, failures);
}

function packageVersion(root: string): string {
  return (JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")) as { version?: string }).version ?? "dev";
}

/**
 * A digest of the node containers' ids: a replaced container (new image, new volume, new
 * secrets) has a new id, so the connection changes and every configuration resource updates.
 */
export function connectionGeneration(containerIds: readonly string[]): string {
  return createHash("sha256").update(containerIds.join("\n")).digest("hex").slice(0, 16);
}

/** Where one Docker host's nodes come from: its provider (none for the default engine), platform and image. */
interface HostResources {
  readonly provider?: docker.Provider;
  readonly platform: pulumi.Output<NodePlatform>;
  readonly image: pulumi.Output<string>;
}

/** The platform given for a host's nodes, else the one its engine reports, else the fallback. */
export function hostPlatform(resourceName: string, dockerHost: string | undefined, given: NodePlatform | undefined): pulumi.Output<NodePlatform> {
  if (given !== undefined) return pulumi.output(given);
  return pulumi.output(dockerHostPlatform(dockerHost)).apply((reported) => reportedPlatform(resourceName, dockerHost, reported));
}

/** What a Docker host reported, when an image can be built for it (throws LoadBalancerArgsError). */
export function reportedPlatform(resourceName: string, dockerHost: string | undefined, reported: string | undefined): NodePlatform {
  if (reported === undefined) return FALLBACK_PLATFORM;
  if (isNodePlatform(reported)) return reported;
  const host = dockerHost ?? "the local Docker engine";
  throw new LoadBalancerArgsError(resourceName, [
    {
      property: "platform",
      reason:
        `platform is unset and ${host} reports ${reported}, but the forwarder image is built for ${NODE_PLATFORMS.join(" or ")}: ` +
        "set platform to one the host can run (emulated), or run the nodes on another host",
    },
  ]);
}

/**
 * A distributed L4 load balancer: N forwarder nodes as Docker containers, one per Docker host in
 * production, several on one host (each on its own address) for development.
 *
 * Configuration resources (`HealthCheck`, `VirtualServerGroup`, `BackendService`, `Listener`, ...)
 * take its `connection` output as `loadBalancer`. The connection carries a `generation` that
 * changes whenever a node container is replaced, so every configuration resource updates and the
 * fresh node (with an empty state volume) receives the whole configuration.
 */
export class LoadBalancer extends pulumi.ComponentResource {
  /**
   * What configuration resources take as `loadBalancer`: endpoints, token, seed, subnets,
   * generation, and the CA of the nodes' admin certificates when a node serves HTTPS. Secret.
   */
  public readonly connection!: pulumi.Output<LoadBalancerConnection>;
  /** Admin API base URLs, e.g. `http://127.0.1.1:9180` (loopback) or `https://10.0.0.11:9180`. */
  public readonly endpoints!: pulumi.Output<string[]>;
  /** The forwarder image reference on the first node's Docker host (the examples run demo backends from it). */
  public readonly image!: pulumi.Output<string>;
  /** Docker container names, one per node. */
  public readonly containerNames!: pulumi.Output<string[]>;
  /** Each node's image platform, e.g. `linux/arm64`. */
  public readonly platforms!: pulumi.Output<string[]>;
  /**
   * Each node's data-plane engine: `native`, the one every node is required to run. Nodes start
   * with `--require-native`, so a node whose relay does not load exits instead of falling back to
   * Node's sockets, its container never turns healthy, and `pulumi up` fails naming it.
   */
  public readonly engines!: pulumi.Output<string[]>;

  constructor(name: string, args: LoadBalancerArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    const { spec: checked, nodes } = validateLoadBalancerArgs(name, args);
    super("dnlb:index:LoadBalancer", name, {}, opts);

    const secrets = this.tokenAndSeed(name, args);
    const hosts = this.hostResources(name, args, nodes);
    const certificates = this.adminCertificates(name, nodes);

    const containers = nodes.map((node) => {
      const host = hosts.get(node.dockerHost)!;
      const childOpts = { parent: this, provider: host.provider };
      const nodeName = nodeContainerName(name, node);
      const labels = { "dnlb.load-balancer": name, "dnlb.node": String(node.number) };
      const volume = (suffix: string) =>
        new docker.Volume(`${nodeName}-${suffix}`, { name: `${nodeName}-${suffix}`, labels: [{ label: "dnlb.load-balancer", value: name }] }, childOpts);
      const stateVolume = volume("state");
      const secretsVolume = volume("secrets");
      const tls = certificates === undefined || !node.adminTls ? undefined : nodeTlsFiles(certificates, nodeName);
      const carrierSpec = nodeSecretsSpec<pulumi.Output<string>>({
        nodeContainerName: nodeName,
        image: host.image,
        secretsVolume: `${nodeName}-secrets`,
        adminToken: secrets.token,
        hashSeed: secrets.hashSeed,
        tls,
        labels,
      });
      const carrier = new docker.Container(carrierSpec.name, containerArgs(carrierSpec), {
        ...childOpts,
        dependsOn: [secretsVolume],
        // Its name is taken until the old carrier is gone.
        deleteBeforeReplace: true,
        additionalSecretOutputs: ["uploads"],
      });
      const spec = nodeContainerSpec<pulumi.Output<string>>({
        containerName: nodeName,
        image: host.image,
        listenAddress: node.listenAddress,
        adminAddress: node.adminAddress,
        adminPort: node.adminPort,
        stateVolume: `${nodeName}-state`,
        secretsVolume: `${nodeName}-secrets`,
        tls: tls !== undefined,
        memoryLimitMiB: checked.memoryLimitMiB,
        ...(checked.vip === undefined ? {} : { vip: { spec: checked.vip, routerId: routerIdOf(node) } }),
        labels,
      });
      // The carrier's id as a label: new secrets make a new carrier, and so a new node that reads them.
      return new docker.Container(nodeName, containerArgs(spec, { "dnlb.secrets": carrier.id }), {
        ...childOpts,
        dependsOn: [stateVolume, secretsVolume],
        // Host networking: the new container cannot bind the node's address until the old one is gone.
        deleteBeforeReplace: true,
      });
    });

    const generation = pulumi.all(containers.map((c) => c.id)).apply(connectionGeneration);
    const endpoints = nodes.map((n) => n.endpoint);
    const subnets = args.subnets === undefined ? undefined : validatedLater(name, "subnets", args.subnets);

    this.endpoints = pulumi.output(endpoints);
    this.containerNames = pulumi.output(nodes.map((n) => nodeContainerName(name, n)));
    this.image = hosts.get(nodes[0].dockerHost)!.image;
    this.platforms = pulumi.all(nodes.map((n) => hosts.get(n.dockerHost)!.platform));
    this.engines = pulumi.output(nodes.map(() => REQUIRED_ENGINE));
    this.connection = pulumi.secret(
      pulumi.all([secrets.token, secrets.hashSeed, subnets, generation, certificates?.caCertificate]).apply(
        ([token, hashSeed, knownSubnets, gen, caCertificate]): LoadBalancerConnection => ({
          endpoints,
          token,
          hashSeed,
          ...(knownSubnets === undefined ? {} : { subnets: knownSubnets }),
          generation: gen,
          ...(caCertificate === undefined ? {} : { caCertificate }),
        }),
      ),
    );
    this.registerOutputs({
      connection: this.connection,
      endpoints: this.endpoints,
      image: this.image,
      containerNames: this.containerNames,
      platforms: this.platforms,
      engines: this.engines,
    });
  }

  /** The given token and seed (kept secret), or generated ones drawn once and kept in the state. */
  private tokenAndSeed(name: string, args: LoadBalancerArgs): { token: pulumi.Output<string>; hashSeed: pulumi.Output<string> } {
    const generated =
      args.adminToken === undefined || args.hashSeed === undefined ? new GeneratedSecretsResource(`${name}-secrets`, { parent: this }) : undefined;
    const token = args.adminToken === undefined ? generated!.token : pulumi.secret(validatedLater(name, "adminToken", args.adminToken));
    const hashSeed = args.hashSeed === undefined ? generated!.hashSeed : pulumi.secret(validatedLater(name, "hashSeed", args.hashSeed));
    return { token, hashSeed };
  }

  /**
   * The private CA and a certificate per node that serves HTTPS, or undefined when none does
   * (every admin API on loopback): then nothing is issued and the connection carries no CA.
   */
  private adminCertificates(name: string, nodes: readonly PlannedNode[]): AdminCertificates | undefined {
    const tlsNodes = nodes.filter((n) => n.adminTls);
    if (tlsNodes.length === 0) return undefined;
    return new AdminCertificates(`${name}-admin-certificates`, { nodes: tlsNodes.map((n) => certificateSubject(name, n)) }, { parent: this });
  }

  /** One provider per remote Docker host and one image per host: an image built on one engine is not on another. */
  private hostResources(name: string, args: LoadBalancerArgs, nodes: readonly PlannedNode[]): Map<string | undefined, HostResources> {
    const result = new Map<string | undefined, HostResources>();
    let remote = 0;
    let context: string | undefined;
    let version = "dev";
    for (const host of dockerHosts(nodes)) {
      const suffix = host === undefined ? "" : `-h${++remote}`;
      const provider = host === undefined ? undefined : new docker.Provider(`${name}-docker${suffix}`, { host }, { parent: this });
      const childOpts = { parent: this, provider };
      // nodeConflicts made every node of a host agree on its platform.
      const platform = hostPlatform(name, host, nodes.find((n) => n.dockerHost === host)!.platform);
      let image: pulumi.Output<string>;
      if (args.image !== undefined) {
        // keepLocally: the image is the user's; destroying the load balancer must not delete it.
        image = new docker.RemoteImage(
          `${name}-image${suffix}`,
          { name: validatedLater(name, "image", args.image), keepLocally: true, platform },
          childOpts,
        ).imageId;
      } else {
        if (context === undefined) {
          const root = packageRoot();
          context = stageForwarderContext(root).dir;
          version = packageVersion(root);
        }
        const baseImage = args.baseImage === undefined ? DEFAULT_BASE_IMAGE : validatedLater(name, "baseImage", args.baseImage);
        // BUILDER_IMAGE only when given: the Dockerfile's default is the public node:22-bookworm.
        const buildArgs: Record<string, pulumi.Input<string>> = { BASE_IMAGE: baseImage };
        if (args.builderImage !== undefined) buildArgs.BUILDER_IMAGE = validatedLater(name, "builderImage", args.builderImage);
        // repoDigest is the local image id: containers follow a rebuilt image, not a reused tag.
        image = new docker.Image(
          `${name}-image${suffix}`,
          {
            imageName: `pulumi-dnlb-forwarder:${version}`,
            skipPush: true,
            build: { context, dockerfile: path.join(context, "Dockerfile"), args: buildArgs, platform },
          },
          childOpts,
        ).repoDigest;
      }
      result.set(host, { provider, platform, image });
    }
    return result;
  }
}

/** The container name of a LoadBalancer's node: also the key of its certificate. */
function nodeContainerName(lbName: string, node: PlannedNode): string {
  return `${lbName}-node-${node.number}`;
}

/**
 * What a node's certificate names: the address Pulumi dials and, on a remote host named by a
 * host name, that name too.
 */
export function certificateSubject(lbName: string, node: PlannedNode): AdminCertificateNode {
  const named = node.hostName !== undefined && canonicalAddress(node.hostName) === undefined && node.hostName !== node.adminHost;
  return { name: nodeContainerName(lbName, node), adminAddress: node.adminHost, ...(named ? { hostNames: [node.hostName!] } : {}) };
}

/** One node's certificate and key from the LoadBalancer's AdminCertificates; the key stays secret. */
function nodeTlsFiles(certificates: AdminCertificates, nodeName: string): NodeTlsFiles<pulumi.Output<string>> {
  const pick = (byNode: Record<string, string>, what: string) => {
    const pem = byNode[nodeName];
    if (pem === undefined) throw new Error(`AdminCertificates has no ${what} for ${nodeName} (it has ${Object.keys(byNode).join(", ") || "none"})`);
    return pem;
  };
  return {
    certificatePem: certificates.certificates.apply((byNode) => pick(byNode, "certificate")),
    privateKeyPem: pulumi.secret(certificates.privateKeys.apply((byNode) => pick(byNode, "private key"))),
  };
}

/**
 * A container spec as `docker.Container` takes it; secrets stay secret in the state. `extraLabels`
 * adds labels known only as outputs.
 */
export function containerArgs(spec: ContainerSpec<pulumi.Input<string>>, extraLabels: Record<string, pulumi.Input<string>> = {}): docker.ContainerArgs {
  const hc = spec.healthcheck;
  const keep = <T>(value: pulumi.Input<T>, secret: boolean) => (secret ? pulumi.secret(value) : value);
  return {
    name: spec.name,
    image: spec.image,
    entrypoints: spec.entrypoint === undefined ? undefined : [...spec.entrypoint],
    command: [...spec.command],
    envs: spec.env.map((e) => keep(pulumi.interpolate`${e.name}=${e.value}`, e.secret)),
    uploads: spec.files.map((f) => ({
      file: f.path,
      content: keep(f.content, f.secret),
      permissions: `0${f.mode.toString(8)}`,
      owner: String(f.uid),
      group: String(f.gid),
    })),
    networkMode: spec.networkMode,
    restart: spec.restart,
    start: spec.start,
    readOnly: spec.readOnlyRootFilesystem,
    tmpfs: { ...spec.tmpfs },
    securityOpts: [...spec.securityOptions],
    // No memorySwap: a host without swap accounting reports -1 for it, a difference on every run.
    memory: spec.memoryLimitMiB,
    volumes: spec.volumes.map((v) => ({ volumeName: v.volumeName, containerPath: v.containerPath, readOnly: v.readOnly ?? false })),
    healthcheck:
      hc === undefined
        ? undefined
        : {
            tests: [...hc.test],
            interval: `${hc.intervalSeconds}s`,
            timeout: `${hc.timeoutSeconds}s`,
            retries: hc.retries,
            startPeriod: `${hc.startPeriodSeconds}s`,
          },
    labels: Object.entries({ ...spec.labels, ...extraLabels }).map(([label, value]) => ({ label, value })),
    stopTimeout: spec.stopTimeoutSeconds,
    user: spec.user,
    capabilities:
      spec.capabilities === undefined ? undefined : { drops: [...spec.capabilities.drop], adds: [...spec.capabilities.add] },
    logDriver: "json-file",
    logOpts: { ...spec.logOptions },
    // Wait until Docker reports the healthcheck passing: configuration is pushed right after.
    wait: hc !== undefined,
    waitTimeout: 120,
    // A container that is never started is not expected to run.
    mustRun: spec.start,
  };
}
