import { z } from "zod";
import { Cidr, cidrContains, parseCidr } from "./addresses";
import { ChangeKind, Fields, FieldMode, describeValue } from "./fields";
import { isLoopbackHost } from "./loopback";
import {
  refineHealthCheckProtocol,
  refineServiceProtocol,
  TRANSPORTS,
  udpPayload,
  UDP_PAYLOAD_BYTES,
  UDP_SESSION_TIMEOUT_DEFAULT_SECONDS,
  UDP_SESSION_TIMEOUT_RANGE,
} from "./transports";
import { isUnknown, UNKNOWN } from "./unknown";

/**
 * The one source of truth for every resource's fields: ranges, defaults, and whether a change
 * updates in place or replaces. The provider's `check`, the node's admin API and
 * docs/reference.md all read them from here. Ranges follow the JD Cloud DNLB API.
 */

export const LIMITS = {
  /** Listeners, backend services and server groups per load balancer (the node answers 409 past it). */
  perKind: 50,
  /** Health checks per load balancer: one per backend service is the most that can be in use. */
  healthChecks: 50,
  members: 1000,
  nodes: 16,
} as const;

export interface SchemaContext {
  /**
   * The load balancer's declared subnets: every member address must lie in one of them. At preview
   * the list, or one of its entries, may be the unknown sentinel.
   */
  readonly subnets?: readonly string[] | typeof UNKNOWN;
}

/**
 * The platforms a forwarder image is built for: the Dockerfile compiles the native relay for the
 * image's platform, with Node 22 and a C compiler for it (Debian images exist for both).
 */
export const NODE_PLATFORMS = ["linux/amd64", "linux/arm64"] as const;
export type NodePlatform = (typeof NODE_PLATFORMS)[number];

/** When a node's admin API serves HTTPS: "auto" when its admin address is not loopback, "always" for every node. */
export const ADMIN_TLS_MODES = ["auto", "always"] as const;
export type AdminTlsMode = (typeof ADMIN_TLS_MODES)[number];

const replace = { change: "replace" as ChangeKind };
const update = { change: "update" as ChangeKind };

export const HA_MEMBER_WEIGHT_PORT =
  "members of a high-availability group take no weight/port: all weigh the same and use the backend service port";

/** Every configuration object's `name` and `description`. */
function identityShape(f: Fields) {
  return {
    name: f.name().meta({ ...update, description: "Name shown by the load balancer; default: the Pulumi resource name." }),
    description: f.description().optional().meta({ ...update, description: "Free text." }),
  };
}

function healthCheckShape(f: Fields) {
  const payloadRange = `${UDP_PAYLOAD_BYTES.min}-${UDP_PAYLOAD_BYTES.max} bytes (UTF-8)`;
  return {
    ...identityShape(f),
    protocol: f
      .oneOf(TRANSPORTS)
      .default("TCP")
      .meta({
        ...replace,
        description:
          "TCP: a connect. UDP: a datagram to the port; an ICMP port-unreachable fails it, silence passes (see udpRequest).",
      }),
    port: f
      .port()
      .optional()
      .meta({ ...update, description: "Port probed; unset: the member's port (for a high-availability group, the service port)." }),
    timeoutSeconds: f.integer(2, 60).default(3).meta({ ...update, description: "A probe that has not connected by then fails." }),
    intervalSeconds: f.integer(5, 300).default(5).meta({ ...update, description: "Wait from one probe's end to the next one's start." }),
    unhealthyThreshold: f.integer(1, 5).default(3).meta({ ...update, description: "Consecutive failures that make a member Unhealthy." }),
    healthyThreshold: f.integer(1, 5).default(3).meta({ ...update, description: "Consecutive successes that make a member Healthy again." }),
    udpRequest: udpPayload(f)
      .optional()
      .meta({ ...update, range: payloadRange, description: "UDP only: sent as the datagram; the check then passes only on an answer within the timeout." }),
    udpExpectedResponse: udpPayload(f)
      .optional()
      .meta({ ...update, range: payloadRange, description: "UDP only, with udpRequest: the answer must equal it; unset: any answer passes." }),
  };
}

interface MemberLike {
  readonly address?: unknown;
  readonly port?: unknown;
}

/**
 * The subnets the rule can be judged against, or undefined to skip it: when none are declared,
 * when one is not known yet (it may hold any member), or when one is malformed (its own failure).
 */
function knownSubnets(subnets: SchemaContext["subnets"]): Cidr[] | undefined {
  if (!Array.isArray(subnets)) return undefined; // unset, or the whole list unknown at preview
  const texts: readonly string[] = subnets;
  if (texts.length === 0 || texts.some(isUnknown)) return undefined;
  const parsed = texts.map(parseCidr);
  return parsed.every((cidr): cidr is Cidr => cidr !== undefined) ? parsed : undefined;
}

/** Members unique by (address, port), and inside the load balancer's subnets when it declares them. */
function refineMembers(members: readonly MemberLike[], refine: z.RefinementCtx, ctx: SchemaContext): void {
  if (!Array.isArray(members)) return; // the unknown sentinel at preview
  const seen = new Map<string, number>();
  const subnets = knownSubnets(ctx.subnets);
  members.forEach((member, index) => {
    if (typeof member.address !== "string" || isUnknown(member.address) || isUnknown(member.port)) return;
    const key = `${member.address}|${member.port ?? ""}`;
    const first = seen.get(key);
    if (first !== undefined) {
      const where = member.port === undefined ? member.address : `${member.address} port ${String(member.port)}`;
      refine.addIssue({
        code: "custom",
        path: [index],
        message: `repeats members[${first}] (${where}): members must be unique by address and port`,
      });
    } else {
      seen.set(key, index);
    }
    if (subnets !== undefined && !subnets.some((cidr) => cidrContains(cidr, member.address as string))) {
      refine.addIssue({
        code: "custom",
        path: [index, "address"],
        message: `${describeValue(member.address)} is outside the load balancer's subnets (${subnets.map((c) => c.text).join(", ")}): every member must lie in one of the subnets the LoadBalancer declares`,
      });
    }
  });
}

function virtualGroupShape(f: Fields, ctx: SchemaContext) {
  const member = f.object("a virtual server group member", {
    address: f.memberAddress().meta({ description: "IPv4 or IPv6 literal." }),
    port: f.port().optional().meta({ description: "Unset: the backend service's port." }),
    weight: f.integer(1, 100).default(10).meta({ description: "Traffic share is proportional to weight." }),
    enabled: f.boolean().default(true).meta({ description: "A disabled member takes no new connections." }),
  });
  return {
    ...identityShape(f),
    members: f
      .list(member, 1, LIMITS.members)
      .superRefine((members, refine) => refineMembers(members, refine, ctx))
      .meta({ ...update, description: "1-1000 members, unique by (address, port)." }),
  };
}

function haGroupShape(f: Fields, ctx: SchemaContext) {
  const refused = () => `is not allowed: ${HA_MEMBER_WEIGHT_PORT}`;
  const member = f.object("a high-availability group member", {
    address: f.memberAddress().meta({ description: "IPv4 or IPv6 literal." }),
    enabled: f.boolean().default(true).meta({ description: "A disabled member takes no new connections." }),
    weight: z.undefined({ error: refused }).optional(),
    port: z.undefined({ error: refused }).optional(),
  });
  return {
    ...identityShape(f),
    members: f
      .list(member, 1, LIMITS.members)
      .superRefine((members, refine) => refineMembers(members, refine, ctx))
      .meta({ ...update, description: "1-1000 members, unique by address; all use the service port." }),
  };
}

function backendServiceShape(f: Fields) {
  return {
    ...identityShape(f),
    protocol: f.oneOf(TRANSPORTS).default("TCP").meta({ ...replace, description: "Transport; listeners bound to the service use the same." }),
    port: f.port().meta({ ...update, description: "Members' default port; may repeat across services." }),
    algorithm: f
      .oneOf(["IpHash", "QuintupleHash"])
      .default("IpHash")
      .meta({ ...update, description: "IpHash: weighted source IP. QuintupleHash: weighted 5-tuple." }),
    healthCheck: f
      .reference("HealthCheck")
      .optional()
      .meta({ ...update, description: "Unset: a check with the defaults, of the service's protocol. A UDP service may use a TCP or a UDP check." }),
    healthCheckEnabled: f.boolean().default(true).meta({ ...update, description: "Off: members show N/A and all enabled members take traffic." }),
    serverGroup: f
      .reference("VirtualServerGroup or HighAvailabilityGroup")
      .optional()
      .meta({ ...update, description: "Unset: no group yet. A group binds to at most one service." }),
    idleTimeoutSeconds: f.integer(1, 86400).default(900).meta({ ...update, description: "An idle connection is closed after it." }),
    drainingTimeoutSeconds: f
      .integer(0, 3600)
      .default(300)
      .meta({ ...update, description: "A removed or disabled member's connections are closed after it." }),
    proxyProtocol: f
      .oneOf(["off", "v1", "v2"])
      .default("off")
      .meta({ ...update, description: "PROXY protocol header carrying the client address to members (TCP only)." }),
    udpSessionTimeoutSeconds: f
      .integer(UDP_SESSION_TIMEOUT_RANGE.min, UDP_SESSION_TIMEOUT_RANGE.max)
      .optional()
      .meta({
        ...update,
        description: `UDP only: a session (client address and port, listener) idle this long is forgotten; unset: ${UDP_SESSION_TIMEOUT_DEFAULT_SECONDS}.`,
      }),
  };
}

function listenerShape(f: Fields) {
  return {
    ...identityShape(f),
    protocol: f.oneOf(TRANSPORTS).default("TCP").meta({ ...replace, description: "Transport; the backend service's must match." }),
    port: f.port().meta({ ...replace, description: "Unique per load balancer and protocol: a TCP and a UDP listener may share it." }),
    backendService: f.reference("BackendService").meta({ ...update, description: "Where connections go." }),
  };
}

/** BGP AS numbers are 4 octets (RFC 6793); 0 is reserved. */
export const MAX_ASN = 4_294_967_295;
/** RFC 4271: a hold time is 0 (no keepalives) or at least 3 seconds. */
export const DEFAULT_BGP_HOLD_TIME_SECONDS = 3;

function holdTimeSeconds(f: Fields) {
  const message = (issue: { input?: unknown }) => `must be 0 (no hold timer) or an integer from 3 to 65535 seconds (got ${describeValue(issue.input)})`;
  return f.maybeUnknown(
    z
      .number({ error: message })
      .int({ error: message })
      .refine((n) => n === 0 || (n >= 3 && n <= 65535), { error: message }),
  );
}

function vipShape(f: Fields) {
  const peer = f.object("a BGP peer", {
    address: f.unicastAddress("a BGP session is made to an IP"),
    asn: f.integer(1, MAX_ASN),
    bfd: f.boolean().optional().meta({ description: "BFD with this peer: a silent node is noticed in about 0.3 s. Default: false." }),
    holdTimeSeconds: holdTimeSeconds(f).optional().meta({ description: `BGP hold time with this peer (keepalives every third of it): 0 or 3-65535. Default: ${DEFAULT_BGP_HOLD_TIME_SECONDS}.` }),
  });
  return {
    address: f
      .unicastAddress("every node puts the VIP on its loopback and announces it as a host route")
      .meta({ description: "The virtual IP every node serves its listeners on and announces over BGP." }),
    bgp: f.object("the VIP's BGP", {
      localAsn: f.integer(1, MAX_ASN).meta({ description: "The nodes' AS number." }),
      peers: f.list(peer, 1, 16).superRefine(refinePeers).meta({ description: "The routers each node peers with." }),
    }),
  };
}

interface PeerLike {
  readonly address?: unknown;
}

/** Peers unique by address: a node runs one BGP session per router. */
function refinePeers(peers: readonly PeerLike[], refine: z.RefinementCtx): void {
  if (!Array.isArray(peers)) return; // the unknown sentinel at preview
  const seen = new Map<string, number>();
  peers.forEach((peer, index) => {
    if (typeof peer.address !== "string" || isUnknown(peer.address)) return;
    const first = seen.get(peer.address);
    if (first === undefined) seen.set(peer.address, index);
    else refine.addIssue({ code: "custom", path: [index, "address"], message: `repeats peers[${first}] (${peer.address}): one session per router, peers must be unique by address` });
  });
}

/** The VIP's peers must be of its address family: a session carries the routes of its own family. */
function refineVipFamily(vip: { address?: unknown; bgp?: { peers?: unknown } }, refine: z.RefinementCtx): void {
  if (typeof vip !== "object" || typeof vip.address !== "string" || isUnknown(vip.address) || !Array.isArray(vip.bgp?.peers)) return;
  const v6 = vip.address.includes(":");
  (vip.bgp.peers as PeerLike[]).forEach((peer, index) => {
    if (typeof peer.address !== "string" || isUnknown(peer.address) || peer.address.includes(":") === v6) return;
    refine.addIssue({
      code: "custom",
      path: ["bgp", "peers", index, "address"],
      message: `${describeValue(peer.address)} is not of the VIP's address family (address ${describeValue(vip.address)}): peer with the routers over the VIP's family`,
    });
  });
}

function loadBalancerShape(f: Fields) {
  const node = f.object("a node", {
    dockerHost: f.text("a Docker host such as ssh://ops@lb-1", { minLength: 1 }).optional().meta({ description: "Docker host, e.g. ssh://ops@lb-1; unset: the local engine." }),
    listenAddress: f
      .address("the node binds this address on its Docker host, and binding takes an IP (use the host's own address, or 0.0.0.0 for all of them)")
      .optional()
      .meta({ description: "Where listeners and the admin API bind." }),
    adminAddress: f
      .address("the admin API binds this address on its Docker host, and binding takes an IP (use the host's management address)")
      .optional()
      .meta({
        description:
          "Where the admin API and /metrics bind: a management address of the Docker host. Default: a loopback address on the local engine, the host's IP from dockerHost on a remote one (required when dockerHost names the host).",
      }),
    adminPort: f.port().optional().meta({ description: "Admin API port (default 9180)." }),
    platform: f.oneOf(NODE_PLATFORMS).optional().meta({ description: "The node's image platform; unset: the LoadBalancer's platform." }),
  });
  const message = (issue: { input?: unknown }) =>
    `must be a node count from 1 to ${LIMITS.nodes} or a list of 1 to ${LIMITS.nodes} nodes (got ${describeValue(issue.input)})`;
  return {
    nodes: z
      .union([f.integer(1, LIMITS.nodes), f.list(node, 1, LIMITS.nodes)], { error: message })
      .default(2)
      .meta({ ...update, description: "A count of local nodes (127.0.1.1, 127.0.1.2, ...) or one entry per node. Default: 2." }),
    image: f.text("an image reference such as dnlb-forwarder:0.1.0", { minLength: 1 }).optional().meta({ ...update, description: "A prebuilt forwarder image; unset: build provider/forwarder/Dockerfile." }),
    baseImage: f.text("an image reference such as node:22-slim", { minLength: 1 }).optional().meta({ ...update, description: "BASE_IMAGE build argument when building." }),
    builderImage: f
      .text("an image reference such as node:22-bookworm", { minLength: 1 })
      .optional()
      .meta({ ...update, description: "BUILDER_IMAGE build argument (Node 22 with its headers and a C compiler) when building." }),
    platform: f
      .oneOf(NODE_PLATFORMS)
      .optional()
      .meta({ ...update, description: "Image platform of every node without its own; unset: what each Docker host reports, else linux/amd64." }),
    networkMode: f.oneOf(["host"], "only host networking is supported").default("host").meta(update),
    subnets: f.list(f.cidr(), 1, 64).optional().meta({ ...update, description: "Member addresses must lie in one of them." }),
    // A node is its main process and one worker per CPU, each a Node.js process, plus the
    // kernel's socket buffers, which the container's memory limit counts too.
    memoryLimitMiB: f
      .integer(256, 1_048_576)
      .default(2048)
      .meta({ ...update, description: "Memory of each node container in MiB (past it the kernel stops the node and Docker restarts it). Default: 2048." }),
    vip: f
      .maybeUnknown(f.strictObject("the VIP", vipShape(f)).superRefine(refineVipFamily))
      .optional()
      .meta({
        ...update,
        description:
          "One virtual IP served by every node: each node puts it on its loopback, binds its listeners to it and announces it over BGP while it can serve: `{ address, bgp: { localAsn, peers: [{ address, asn, bfd?, holdTimeSeconds? }] } }` (ASNs 1-4294967295; 1-16 peers unique by address, of the VIP's family, each with its own bfd (default false) and holdTimeSeconds (0 or 3-65535, default 3)). Each node needs a Docker host of its own. Router side: examples/vip-bgp. Unset: each node serves its own address.",
      }),
    // The admin token crosses the network to a node whose admin address is not loopback: such a
    // node always serves HTTPS. "always" also puts loopback nodes behind TLS.
    adminTls: f
      .oneOf(ADMIN_TLS_MODES)
      .default("auto")
      .meta({
        ...update,
        description:
          'When node admin APIs serve HTTPS: "auto" for every node whose admin address is not loopback, "always" for every node. Default: "auto".',
      }),
    adminToken: f.text("a token of at least 16 characters", { minLength: 16, secret: true }).optional().meta({ ...update, description: "Admin API bearer token; unset: generated secret." }),
    hashSeed: f
      .text("32 hex characters (0-9, a-f)", { pattern: /^[0-9a-f]{32}$/, secret: true })
      .optional()
      .meta({ ...update, description: "32 hex characters; unset: generated secret." }),
  };
}

/**
 * A node's admin API URL. Plain `http://` only reaches loopback: anywhere else the bearer token
 * would cross the network in clear text.
 */
function adminEndpoint() {
  return z
    .url({ protocol: /^https?$/, error: (issue) => `must be an admin API URL such as https://10.0.0.5:9180 or http://127.0.1.1:9180 (got ${describeValue(issue.input)})` })
    .refine((text) => !text.startsWith("http:") || isLoopbackHost(new URL(text).hostname), {
      error: (issue) =>
        `must use https:// with the connection's caCertificate (got ${describeValue(issue.input)}): plain http:// is only for loopback nodes (127.0.0.0/8, ::1), anywhere else the admin token would cross the network in clear text`,
    });
}

function connectionShape(f: Fields) {
  const pem = expectingPem();
  return {
    endpoints: f.list(f.maybeUnknown(adminEndpoint()), 1, LIMITS.nodes),
    token: f.maybeUnknown(z.string({ error: () => "must be the admin API token" }).min(1, { error: () => "must be the admin API token" })),
    hashSeed: f.maybeUnknown(z.string()).optional(),
    subnets: f.list(f.cidr(), 1, 64).optional(),
    /**
     * Changes whenever a node container is replaced (a digest of the container ids), so that every
     * configuration resource sees a new connection, updates, and pushes itself to the fresh node.
     */
    generation: f.maybeUnknown(z.string().min(1)).optional(),
    /** The CA that signed the nodes' admin certificates (PEM); unset: the host's trusted CAs. */
    caCertificate: f
      .maybeUnknown(z.string({ error: pem }).regex(/^\s*(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\s*)+$/, { error: pem }))
      .optional(),
  };
}

/** PEM text, checked for its shape only: the model parses no certificates. */
function expectingPem(): (issue: { readonly input?: unknown }) => string {
  return (issue) =>
    `must be PEM text of the CA certificate that signed the nodes' admin certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----) (got ${describeValue(issue.input)})`;
}

/**
 * Builds the schemas for one mode: `allowUnknown` for `pulumi preview`, strict for the admin API.
 * Called where needed (never cached at module level: see fields.ts). Each schema is built when it
 * is read, not before: building one costs far more than a parse, and a check needs only one.
 */
export function modelSchemas(mode: FieldMode, ctx: SchemaContext = {}) {
  const f = new Fields(mode);
  return {
    get healthCheck() {
      return f.maybeUnknown(f.strictObject("a HealthCheck", healthCheckShape(f)).superRefine(refineHealthCheckProtocol));
    },
    get virtualServerGroup() {
      return f.object("a VirtualServerGroup", virtualGroupShape(f, ctx));
    },
    get highAvailabilityGroup() {
      return f.object("a HighAvailabilityGroup", haGroupShape(f, ctx));
    },
    /** Server groups as the admin API stores them, tagged with their type. */
    get serverGroup() {
      return z.discriminatedUnion(
        "type",
        [
          f.strictObject("a virtual server group", { type: z.literal("virtual"), ...virtualGroupShape(f, ctx) }),
          f.strictObject("a high-availability group", { type: z.literal("high-availability"), ...haGroupShape(f, ctx) }),
        ],
        {
          error: (issue) =>
            issue.input !== null && typeof issue.input === "object" && !Array.isArray(issue.input)
              ? `must be "virtual" or "high-availability" (got ${describeValue((issue.input as { type?: unknown }).type)})`
              : `must be an object (a server group with type "virtual" or "high-availability") (got ${describeValue(issue.input)})`,
        },
      );
    },
    get backendService() {
      return f.maybeUnknown(f.strictObject("a BackendService", backendServiceShape(f)).superRefine(refineServiceProtocol));
    },
    get listener() {
      return f.object("a Listener", listenerShape(f));
    },
    get loadBalancer() {
      return f.object("LoadBalancer arguments", loadBalancerShape(f));
    },
    get connection() {
      return f.object("a LoadBalancerConnection", connectionShape(f));
    },
  };
}

type Strict = ReturnType<typeof modelSchemas>;

export type HealthCheckSpec = z.output<Strict["healthCheck"]>;
export type VirtualServerGroupSpec = z.output<Strict["virtualServerGroup"]>;
export type HighAvailabilityGroupSpec = z.output<Strict["highAvailabilityGroup"]>;
export type ServerGroupSpec = z.output<Strict["serverGroup"]>;
export type BackendServiceSpec = z.output<Strict["backendService"]>;
export type ListenerSpec = z.output<Strict["listener"]>;
export type LoadBalancerArgsSpec = z.output<Strict["loadBalancer"]>;
export type LoadBalancerConnection = z.output<Strict["connection"]>;

export type HealthCheckInput = z.input<Strict["healthCheck"]>;
export type VirtualServerGroupInput = z.input<Strict["virtualServerGroup"]>;
export type HighAvailabilityGroupInput = z.input<Strict["highAvailabilityGroup"]>;
export type BackendServiceInput = z.input<Strict["backendService"]>;
export type ListenerInput = z.input<Strict["listener"]>;

export type VirtualMember = VirtualServerGroupSpec["members"][number];
export type HighAvailabilityMember = HighAvailabilityGroupSpec["members"][number];
