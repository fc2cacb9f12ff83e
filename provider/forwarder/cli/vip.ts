/** The VIP and BGP flags (--vip, --bgp-*, --bird-binary, --withdraw-grace-seconds) as VipOptions. */
import { isIP } from "node:net";
import { MAX_ASN } from "../../model";
import { StartupError } from "../errors";
import { DEFAULTS, type BgpPeer, type VipOptions } from "../options";

export interface VipFlags {
  readonly vip?: string;
  readonly "bgp-local-asn"?: string;
  readonly "bgp-router-id"?: string;
  readonly "bgp-peer"?: readonly string[];
  readonly "bgp-hold-time"?: string;
  readonly "bgp-bfd"?: boolean;
  readonly "bird-binary"?: string;
  readonly "withdraw-grace-seconds"?: string;
}

export { MAX_ASN };

function asn(flag: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > MAX_ASN) throw new StartupError(`${flag}: the AS number must be an integer from 1 to ${MAX_ASN} (got ${JSON.stringify(text)})`);
  return value;
}

/** `ADDRESS:ASN` or `[IPV6]:ASN`. */
export function parsePeer(text: string): BgpPeer {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([^:]*)$/.exec(text);
  const address = match?.[1] ?? match?.[2];
  if (match === null || address === undefined || isIP(address) === 0) {
    throw new StartupError(`--bgp-peer must be ADDRESS:ASN such as 10.0.1.1:65000 or [2001:db8::1]:65000 (got ${JSON.stringify(text)})`);
  }
  return { address, asn: asn("--bgp-peer", match[3]) };
}

/** Undefined without --vip; BGP flags without --vip, or BGP flags without a peer, are refused. */
export function parseVipFlags(values: VipFlags): VipOptions | undefined {
  const peerTexts = values["bgp-peer"] ?? [];
  const bgpGiven = values["bgp-local-asn"] !== undefined || peerTexts.length > 0 || values["bgp-router-id"] !== undefined || values["bgp-hold-time"] !== undefined || values["bgp-bfd"] === true;
  const vip = values.vip;
  if (vip === undefined) {
    if (bgpGiven) throw new StartupError("the --bgp-* flags announce a VIP: give --vip ADDRESS with them");
    return undefined;
  }
  if (isIP(vip) === 0) throw new StartupError(`--vip must be an IPv4 or IPv6 address such as 10.99.0.1 (got ${JSON.stringify(vip)})`);
  const grace = Number(values["withdraw-grace-seconds"] ?? DEFAULTS.vip.withdrawGraceMs / 1000);
  if (!Number.isFinite(grace) || grace < 0 || grace > 600) {
    throw new StartupError(`--withdraw-grace-seconds must be a number from 0 to 600 (got ${JSON.stringify(values["withdraw-grace-seconds"])})`);
  }
  const common = { address: vip, birdBinary: values["bird-binary"] ?? DEFAULTS.vip.birdBinary, withdrawGraceMs: Math.round(grace * 1000) };
  if (!bgpGiven) return common;
  if (values["bgp-local-asn"] === undefined) throw new StartupError("--bgp-local-asn N is required with --bgp-peer");
  if (peerTexts.length === 0) throw new StartupError("--bgp-peer ADDRESS:ASN is required with --bgp-local-asn (one per router)");
  const peers = peerTexts.map(parsePeer);
  const seen = new Set<string>();
  for (const peer of peers) {
    if (seen.has(peer.address)) throw new StartupError(`--bgp-peer ${peer.address} is given twice: one session per router`);
    seen.add(peer.address);
    if (isIP(peer.address) !== isIP(vip)) throw new StartupError(`--bgp-peer ${peer.address}: a peer must be of the VIP's address family (--vip ${vip})`);
  }
  const routerId = values["bgp-router-id"];
  if (routerId !== undefined && isIP(routerId) !== 4) throw new StartupError(`--bgp-router-id must be an IPv4 address such as 10.0.1.2 (got ${JSON.stringify(routerId)})`);
  const holdText = values["bgp-hold-time"] ?? String(DEFAULTS.vip.holdTimeSeconds);
  const hold = Number(holdText);
  if (!/^\d+$/.test(holdText) || (hold !== 0 && (hold < 3 || hold > 65535))) {
    throw new StartupError(`--bgp-hold-time must be 0 (no hold timer) or an integer from 3 to 65535 seconds (got ${JSON.stringify(holdText)})`);
  }
  return {
    ...common,
    bgp: { localAsn: asn("--bgp-local-asn", values["bgp-local-asn"]), routerId, peers, holdTimeSeconds: hold, bfd: values["bgp-bfd"] === true },
  };
}
