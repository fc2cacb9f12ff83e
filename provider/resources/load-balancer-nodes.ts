import { adminEndpoint, DEFAULT_ADMIN_PORT } from "./node-container";
import { canonicalAddress, type NodePlatform } from "../model";

/** One node entry as users write it (every field optional). */
export interface LoadBalancerNodeArgs {
  /** Docker host, e.g. `ssh://ops@lb-1`; unset: the engine the Pulumi program talks to by default. */
  readonly dockerHost?: string;
  /** Where listeners and the admin API bind; default 127.0.1.N on the local engine, 0.0.0.0 on a remote one. */
  readonly listenAddress?: string;
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
  readonly adminPort: number;
  /** Admin API base URL, e.g. `http://127.0.1.1:9180`. */
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

/** Decides every node's address, port, endpoint and platform from the (validated) `nodes` and `platform` arguments. */
export function planNodes(nodes: number | readonly LoadBalancerNodeArgs[], platform?: NodePlatform): PlannedNode[] {
  const entries: readonly LoadBalancerNodeArgs[] = typeof nodes === "number" ? Array.from({ length: nodes }, () => ({})) : nodes;
  return entries.map((entry, index) => {
    const number = index + 1;
    const remote = remoteHostName(entry.dockerHost);
    const listenAddress = canonicalAddress(entry.listenAddress ?? "") ?? (remote === undefined ? defaultLocalAddress(number) : "0.0.0.0");
    const adminPort = entry.adminPort ?? DEFAULT_ADMIN_PORT;
    const reachAt = isWildcard(listenAddress) ? (remote ?? (listenAddress === "::" ? "::1" : "127.0.0.1")) : listenAddress;
    const nodePlatform = entry.platform ?? platform;
    return {
      number,
      dockerHost: entry.dockerHost,
      listenAddress,
      adminPort,
      endpoint: adminEndpoint(reachAt, adminPort),
      ...(nodePlatform === undefined ? {} : { platform: nodePlatform }),
    };
  });
}

/**
 * Nodes sharing a Docker host share its addresses (host networking): each needs its own listen
 * address, or its listeners would collide on their ports; a wildcard takes every address. They
 * also share its platform: one image per host, built for what the host runs.
 */
export function nodeConflicts(planned: readonly PlannedNode[]): { property: string; reason: string }[] {
  const failures: { property: string; reason: string }[] = [];
  planned.forEach((node, index) => {
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
