import { isIPv4 } from "node:net";
import { DEFAULT_BGP_HOLD_TIME_SECONDS, formatHostPort, type LoadBalancerArgsSpec } from "../model";

/** A LoadBalancer's `vip`, as checked by the model's schema. */
export type VipSpec = NonNullable<LoadBalancerArgsSpec["vip"]>;

/** What one node is told about the VIP: the LoadBalancer's `vip` plus the node's router id. */
export interface NodeVip {
  readonly spec: VipSpec;
  /** Unset: BIRD picks one of the node's IPv4 addresses. */
  readonly routerId?: string;
}

/**
 * A node's BGP router id: its own address when that is one IPv4 host address. A router id must
 * differ per speaker, so a node bound to 0.0.0.0 (or IPv6 only) leaves the choice to BIRD, which
 * takes an address of the host's interfaces.
 */
export function routerIdOf(node: { readonly listenAddress: string; readonly adminAddress: string }): string | undefined {
  return [node.listenAddress, node.adminAddress].find((a) => isIPv4(a) && a !== "0.0.0.0");
}

/**
 * The node's command-line flags for the VIP (`dnlb-forwarder --vip ... --bgp-*`). Each peer
 * carries its own hold time (always, so a node image with another default keeps the model's)
 * and BFD when it is on: `--bgp-peer ADDRESS:ASN,hold=SECONDS[,bfd=on]`.
 */
export function nodeVipFlags(vip: NodeVip): string[] {
  const { address, bgp } = vip.spec;
  const peerFlag = (p: VipSpec["bgp"]["peers"][number]) =>
    [formatHostPort(p.address, p.asn), `hold=${p.holdTimeSeconds ?? DEFAULT_BGP_HOLD_TIME_SECONDS}`, ...(p.bfd === true ? ["bfd=on"] : [])].join(",");
  return [
    ...["--vip", address, "--bgp-local-asn", String(bgp.localAsn)],
    ...(vip.routerId === undefined ? [] : ["--bgp-router-id", vip.routerId]),
    ...bgp.peers.flatMap((p) => ["--bgp-peer", peerFlag(p)]),
  ];
}

/**
 * Capabilities a node needs for the VIP besides NET_BIND_SERVICE (which also lets its BIRD listen
 * on BGP's port 179): NET_ADMIN to put the VIP on `lo`. BIRD's BFD runs over UDP sockets
 * (ports 3784/3785, TTL 255 set per socket), so it needs no NET_RAW.
 */
export const VIP_CAPABILITIES = ["NET_ADMIN"] as const;
