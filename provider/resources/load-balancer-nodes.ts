import { adminEndpoint, DEFAULT_ADMIN_PORT } from "./node-container";
import { canonicalAddress, formatHostPort, type AdminTlsMode, type NodePlatform } from "../model";

/** One node entry as users write it (every field optional). */
export interface LoadBalancerNodeArgs {
  /** Docker host, e.g. `ssh://ops@lb-1`; unset: the engine the Pulumi program talks to by default. */
  readonly dockerHost?: string;
  /** Where listeners bind; default 127.0.1.N on the local engine, 0.0.0.0 on a remote one. */
  readonly listenAddress?: string;
  /**
   * Where the admin API (and /metrics) binds: a management address of the Docker host, kept off
   * the listeners' network. Default: on the local engine, the listen address when it is loopback,
   * else 127.0.1.N; on a remote host, the host's IP when `dockerHost` names it by IP. Required for
   * a remote host named by a host name.
   */
  readonly adminAddress?: string;
  /** Admin API port; default 9180. */
  readonly adminPort?: number;
  /** The image platform (`linux/amd64`, `linux/arm64`); default: the LoadBalancer's `platform`. */
  readonly platform?: NodePlatform;
}

/** A node with every default decided: what the component deploys and where Pulumi reaches it. */
export interface PlannedNode {
  /** 1-based, as in names (`lb-node-1`). */
  readonly number: number;
  readonly dockerHost?: string;
  readonly listenAddress: string;
  readonly adminAddress: string;
  readonly adminPort: number;
  /** The name the node's Docker host is reached by (remote hosts only). */
  readonly hostName?: string;
  /**
   * Where Pulumi dials the admin API: the admin address, or for a wildcard one the host's name
   * (loopback on the local engine). A TLS node's certificate names it.
   */
  readonly adminHost: string;
  /** The admin API serves HTTPS (with a certificate from the LoadBalancer's private CA). */
  readonly adminTls: boolean;
  /** Admin API base URL, e.g. `http://127.0.1.1:9180` or `https://10.0.0.11:9180`. */
  readonly endpoint: string;
  /** Given for the node or the whole LoadBalancer; unset: what the Docker host reports. */
  readonly platform?: NodePlatform;
}

/** Nodes on the local engine take 127.0.1.N: Linux routes all of 127/8 to lo, so each node has its own address. */
export function defaultLocalAddress(number: number): string {
  return `127.0.1.${number}`;
}

/** A Docker host reached over the network: nodes there bind every address and are reached by the host's name. */
function remoteHostName(dockerHost: string | undefined): string | undefined {
  if (dockerHost === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    return undefined;
  }
  if (url.protocol === "unix:" || url.protocol === "npipe:" || url.hostname === "") return undefined;
  return url.hostname.replace(/^\[(.*)\]$/, "$1");
}

function isWildcard(address: string): boolean {
  return address === "0.0.0.0" || address === "::";
}

/** 127.0.0.0/8 or ::1, of an address already in canonical form. */
export function isLoopbackAddress(address: string): boolean {
  return address === "::1" || address.startsWith("127.");
}

/** A problem with the `nodes` argument, in the shape `check` reports. */
export interface NodeFailure {
  readonly property: string;
  readonly reason: string;
}

/**
 * The admin address a node binds when none is given, or a failure saying what to set. The admin
 * API holds the configuration and /metrics, so it never takes every address of a remote host by
 * default: there, 0.0.0.0 would also expose it on the listeners' network.
 */
function adminAddressOf(entry: LoadBalancerNodeArgs, index: number, listenAddress: string, hostName: string | undefined): string | NodeFailure {
  const property = `nodes[${index}].adminAddress`;
  const given = entry.adminAddress === undefined ? undefined : canonicalAddress(entry.adminAddress);
  if (hostName === undefined) {
    return given ?? (isLoopbackAddress(listenAddress) ? listenAddress : defaultLocalAddress(index + 1));
  }
  if (given !== undefined) {
    if (!isLoopbackAddress(given)) return given;
    return {
      property,
      reason:
        `${property} ${given} is a loopback address of ${entry.dockerHost}: Pulumi, on this machine, cannot reach it there. ` +
        "Set it to a management address of that host (its private IP)",
    };
  }
  const hostIp = canonicalAddress(hostName);
  if (hostIp !== undefined) return hostIp;
  return {
    property,
    reason:
      `${property} is required for a node on ${entry.dockerHost}: the admin API (and /metrics) must bind one management address of that host, ` +
      `and "${hostName}" is a name, not an IP to bind. Set ${property} to the host's private IP (e.g. 10.0.0.11), ` +
      "or name the host by that IP in dockerHost (e.g. ssh://ops@10.0.0.11); 0.0.0.0 binds every address, the listeners' network included",
  };
}

/**
 * Decides every node's addresses, port, endpoint, TLS and platform from the (validated) `nodes`,
 * `platform` and `adminTls` arguments.
 */
export function planNodes(
  nodes: number | readonly LoadBalancerNodeArgs[],
  platform?: NodePlatform,
  adminTls: AdminTlsMode = "auto",
): { nodes: PlannedNode[]; failures: NodeFailure[] } {
  const entries: readonly LoadBalancerNodeArgs[] = typeof nodes === "number" ? Array.from({ length: nodes }, () => ({})) : nodes;
  const planned: PlannedNode[] = [];
  const failures: NodeFailure[] = [];
  entries.forEach((entry, index) => {
    const number = index + 1;
    const remote = remoteHostName(entry.dockerHost);
    const listenAddress = canonicalAddress(entry.listenAddress ?? "") ?? (remote === undefined ? defaultLocalAddress(number) : "0.0.0.0");
    const adminAddress = adminAddressOf(entry, index, listenAddress, remote);
    if (typeof adminAddress !== "string") {
      failures.push(adminAddress);
      return;
    }
    const adminPort = entry.adminPort ?? DEFAULT_ADMIN_PORT;
    const adminHost = isWildcard(adminAddress) ? (remote ?? (adminAddress === "::" ? "::1" : "127.0.0.1")) : adminAddress;
    // A wildcard binds the host's other addresses too: only a loopback bind keeps the token on the machine.
    const tls = adminTls === "always" || !isLoopbackAddress(adminAddress);
    const nodePlatform = entry.platform ?? platform;
    planned.push({
      number,
      dockerHost: entry.dockerHost,
      listenAddress,
      adminAddress,
      adminPort,
      ...(remote === undefined ? {} : { hostName: remote }),
      adminHost,
      adminTls: tls,
      endpoint: adminEndpoint(adminHost, adminPort, tls),
      ...(nodePlatform === undefined ? {} : { platform: nodePlatform }),
    });
  });
  return { nodes: planned, failures };
}

/**
 * Nodes sharing a Docker host share its addresses (host networking): each needs its own listen
 * address, or its listeners would collide on their ports; a wildcard takes every address. With a
 * `vip`, every node's listeners bind the VIP, so no two nodes may share a host. Nodes of a host
 * also share its platform: one image per host, built for what the host runs.
 */
export function nodeConflicts(planned: readonly PlannedNode[], vip?: string): NodeFailure[] {
  const failures: NodeFailure[] = [];
  planned.forEach((node, index) => {
    const sameHost = planned.slice(0, index).findIndex((other) => (other.dockerHost ?? "") === (node.dockerHost ?? ""));
    if (vip !== undefined && sameHost >= 0) {
      const host = node.dockerHost === undefined ? "the local Docker engine" : node.dockerHost;
      failures.push({
        property: `nodes[${index}].dockerHost`,
        reason:
          `nodes[${index}].dockerHost (${host}) is nodes[${sameHost}]'s too: with vip every node's listeners bind ${vip} on its host, ` +
          "so each node needs a Docker host of its own (one next hop of the routers' ECMP route)",
      });
      return;
    }
    const adminClash = planned.slice(0, index).findIndex(
      (other) =>
        (other.dockerHost ?? "") === (node.dockerHost ?? "") &&
        other.adminPort === node.adminPort &&
        (other.adminAddress === node.adminAddress || isWildcard(other.adminAddress) || isWildcard(node.adminAddress)),
    );
    if (adminClash >= 0) {
      const host = node.dockerHost === undefined ? "the local Docker engine" : node.dockerHost;
      const other = planned[adminClash];
      failures.push({
        property: `nodes[${index}].adminAddress`,
        reason:
          `nodes[${index}]'s admin API ${formatHostPort(node.adminAddress, node.adminPort)} collides with nodes[${adminClash}]'s (${formatHostPort(other.adminAddress, other.adminPort)}) on ${host}: ` +
          "give each node of a host its own adminAddress or adminPort",
      });
    }
    const clash = planned.slice(0, index).findIndex(
      (other) =>
        (other.dockerHost ?? "") === (node.dockerHost ?? "") &&
        (other.listenAddress === node.listenAddress || isWildcard(other.listenAddress) || isWildcard(node.listenAddress)),
    );
    if (clash >= 0) {
      const host = node.dockerHost === undefined ? "the local Docker engine" : node.dockerHost;
      failures.push({
        property: `nodes[${index}].listenAddress`,
        reason:
          `nodes[${index}].listenAddress ${node.listenAddress} collides with nodes[${clash}] (${planned[clash].listenAddress}) on ${host}: ` +
          "nodes on one Docker host use host networking, so each needs its own address (and none may bind 0.0.0.0 or ::)",
      });
    }
    const other = planned.slice(0, index).findIndex((o) => (o.dockerHost ?? "") === (node.dockerHost ?? "") && o.platform !== node.platform);
    if (other >= 0) {
      const host = node.dockerHost === undefined ? "the local Docker engine" : node.dockerHost;
      const name = (p: PlannedNode) => p.platform ?? "unset (what the host reports)";
      failures.push({
        property: `nodes[${index}].platform`,
        reason:
          `nodes[${index}].platform ${name(node)} differs from nodes[${other}].platform ${name(planned[other])} on ${host}: ` +
          "a Docker host runs one platform, and its nodes share one image built for it",
      });
    }
  });
  return failures;
}

/** The distinct Docker hosts, in order of first use; `undefined` is the default engine. */
export function dockerHosts(planned: readonly PlannedNode[]): (string | undefined)[] {
  const hosts: (string | undefined)[] = [];
  for (const node of planned) if (!hosts.includes(node.dockerHost)) hosts.push(node.dockerHost);
  return hosts;
}
