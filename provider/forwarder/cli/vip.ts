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

/** How a peer is written, with the settings that override --bgp-hold-time and --bgp-bfd for it. */
export const PEER_FORM = "ADDRESS:ASN[,hold=SECONDS][,bfd=on|off]";
const PEER_EXAMPLES = "10.0.1.1:65000, [2001:db8::1]:65000 or 10.0.1.1:65000,hold=9,bfd=on";

function holdTime(what: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || (value !== 0 && (value < 3 || value > 65535))) {
    throw new StartupError(`${what} must be 0 (no hold timer) or an integer from 3 to 65535 seconds (got ${JSON.stringify(text)})`);
  }
  return value;
}

/** Applies one `key=value` of a --bgp-peer to `peer`. */
function peerSetting(peer: BgpPeer, setting: string, text: string): BgpPeer {
  const [key, value] = setting.split(/=(.*)/s);
  if (key === "hold" && value !== undefined) return { ...peer, holdTimeSeconds: holdTime(`--bgp-peer ${text}: hold`, value) };
  if (key === "bfd" && (value === "on" || value === "off")) return { ...peer, bfd: value === "on" };
  throw new StartupError(
    `--bgp-peer ${text}: ${JSON.stringify(setting)} is not a peer setting; a peer is ${PEER_FORM} (hold 0 or 3-65535), e.g. ${PEER_EXAMPLES}`,
  );
}

/**
 * `ADDRESS:ASN` or `[IPV6]:ASN`, then optional `,hold=SECONDS` and `,bfd=on|off`, each once;
 * what a peer leaves out comes from `defaults` (--bgp-hold-time, --bgp-bfd).
 */
export function parsePeer(text: string, defaults: Pick<BgpPeer, "holdTimeSeconds" | "bfd">): BgpPeer {
  const [target, ...settings] = text.split(",");
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):([^:]*)$/.exec(target);
  const address = match?.[1] ?? match?.[2];
  if (match === null || address === undefined || isIP(address) === 0) {
    throw new StartupError(`--bgp-peer must be ${PEER_FORM} such as ${PEER_EXAMPLES} (got ${JSON.stringify(text)})`);
  }
  const keys = settings.map((s) => s.split("=")[0]);
  const repeated = keys.find((key, i) => keys.indexOf(key) !== i);
  if (repeated !== undefined) throw new StartupError(`--bgp-peer ${text}: ${repeated} is given twice; give each setting once`);
  const peer: BgpPeer = { address, asn: asn("--bgp-peer", match[3]), ...defaults };
  return settings.reduce((p, setting) => peerSetting(p, setting, text), peer);
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
  const defaults = {
    holdTimeSeconds: holdTime("--bgp-hold-time", values["bgp-hold-time"] ?? String(DEFAULTS.vip.holdTimeSeconds)),
    bfd: values["bgp-bfd"] === true,
  };
  const peers = peerTexts.map((text) => parsePeer(text, defaults));
  const seen = new Set<string>();
  for (const peer of peers) {
    if (seen.has(peer.address)) throw new StartupError(`--bgp-peer ${peer.address} is given twice: one session per router`);
    seen.add(peer.address);
    if (isIP(peer.address) !== isIP(vip)) throw new StartupError(`--bgp-peer ${peer.address}: a peer must be of the VIP's address family (--vip ${vip})`);
  }
  const routerId = values["bgp-router-id"];
  if (routerId !== undefined && isIP(routerId) !== 4) throw new StartupError(`--bgp-router-id must be an IPv4 address such as 10.0.1.2 (got ${JSON.stringify(routerId)})`);
  return {
    ...common,
    bgp: { localAsn: asn("--bgp-local-asn", values["bgp-local-asn"]), routerId, peers },
  };
}
