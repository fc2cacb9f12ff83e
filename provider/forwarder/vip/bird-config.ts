/**
 * The BIRD 2 configuration a node's speaker runs with: one static route for the VIP (the
 * announcement: enabled to announce, disabled to withdraw) and one BGP session per peer, each
 * with the peer's own hold time and BFD setting.
 *
 * Every node of a load balancer writes the same attributes for the VIP (origin IGP, no MED,
 * its one AS in the path): a router merges equal paths only, and one odd attribute leaves it
 * with a single next hop instead of ECMP over every node. No `connect delay` and short
 * `connect retry` and `error wait` times bring a session back within seconds after a restart;
 * BIRD's defaults wait 5 s at start and about a minute after an error.
 */
import { isIPv6 } from "node:net";
import type { BgpOptions } from "../options";

/** The static protocol holding the VIP route; birdc enables or disables it by this name. */
export const VIP_PROTOCOL = "vip_route";

/** The BGP protocol name of the peer at `index` in BgpOptions.peers (status maps it back). */
export function peerProtocol(index: number): string {
  return `peer${index + 1}`;
}

/** BFD timers: a peer missing 3 packets 100 ms apart is down. */
const BFD_INTERVAL_MS = 100;
const BFD_MULTIPLIER = 3;

export function birdConfig(vip: string, bgp: BgpOptions, announced: boolean): string {
  const family = isIPv6(vip) ? "ipv6" : "ipv4";
  const prefix = `${vip}/${family === "ipv6" ? 128 : 32}`;
  const lines = [
    "# Written by dnlb-forwarder at every start and announcement change: edits are overwritten.",
    ...(bgp.routerId === undefined ? [] : [`router id ${bgp.routerId};`]),
    "log stderr { info, warning, error, fatal, bug };",
    "",
    "protocol device {}",
    "",
  ];
  // The timers of every BFD session; a session exists only with a peer whose protocol says `bfd on`.
  if (bgp.peers.some((peer) => peer.bfd)) {
    lines.push(
      "protocol bfd {",
      `  interface "*" { min rx interval ${BFD_INTERVAL_MS} ms; min tx interval ${BFD_INTERVAL_MS} ms; multiplier ${BFD_MULTIPLIER}; };`,
      "}",
      "",
    );
  }
  lines.push(
    `protocol static ${VIP_PROTOCOL} {`,
    `  disabled ${announced ? "no" : "yes"};`,
    `  ${family};`,
    `  route ${prefix} blackhole;`,
    "}",
    "",
  );
  bgp.peers.forEach((peer, index) => {
    lines.push(
      `protocol bgp ${peerProtocol(index)} {`,
      `  local as ${bgp.localAsn};`,
      `  neighbor ${peer.address} as ${peer.asn};`,
      `  hold time ${peer.holdTimeSeconds};`,
      // Without a hold timer BIRD sends no keepalives and refuses a keepalive time.
      ...(peer.holdTimeSeconds === 0 ? [] : [`  keepalive time ${Math.max(1, Math.floor(peer.holdTimeSeconds / 3))};`]),
      "  connect delay time 0;",
      "  connect retry time 1;",
      "  error wait time 1, 5;",
      ...(peer.bfd ? ["  bfd on;"] : []),
      `  ${family} {`,
      "    import none;",
      `    export filter { if proto = "${VIP_PROTOCOL}" then { bgp_origin = ORIGIN_IGP; accept; } reject; };`,
      "    next hop self;",
      "  };",
      "}",
      "",
    );
  });
  return lines.join("\n");
}
