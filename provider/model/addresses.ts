import * as ipaddr from "ipaddr.js";

export { formatHostPort } from "../hashing/host-port";

/**
 * IP literals and CIDRs, parsed without any lookup (the model is pure).
 * Addresses are stored canonically (RFC 5952 for IPv6, IPv4-mapped IPv6 as plain IPv4) so that
 * `10.0.0.1` and `::ffff:10.0.0.1`, or `2001:db8::1` and `2001:0db8:0::1`, are one member, and
 * every node sorts members the same way.
 */

export type AddressFamily = 4 | 6;

function parseLiteral(text: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!text.includes("%") && ipaddr.IPv6.isValid(text)) {
    const v6 = ipaddr.IPv6.parse(text);
    return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
  }
  return undefined;
}

export function isIpLiteral(text: string): boolean {
  return parseLiteral(text) !== undefined;
}

/** Canonical text of an IP literal, or undefined when `text` is not one. */
export function canonicalAddress(text: string): string | undefined {
  const ip = parseLiteral(text);
  if (ip === undefined) return undefined;
  return ip.kind() === "ipv6" ? (ip as ipaddr.IPv6).toRFC5952String() : ip.toString();
}

/**
 * Why a literal cannot be a member: traffic is proxied to it, so it must name one host.
 * Loopback stays allowed: a node may front services on its own host (and the tests do).
 */
export function nonUnicastReason(text: string): string | undefined {
  const ip = parseLiteral(text);
  if (ip === undefined) return undefined;
  const range = ip.range();
  if (range === "unspecified") return "an unspecified address names no host";
  if (range === "multicast") return "a multicast address names a group, not a host";
  if (range === "broadcast") return "the broadcast address names no single host";
  return undefined;
}

export interface Cidr {
  readonly text: string;
  readonly address: ipaddr.IPv4 | ipaddr.IPv6;
  readonly prefix: number;
}

export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  if (slash < 0) return undefined;
  const address = parseLiteral(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  if (address === undefined || !/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (address.kind() === "ipv4" ? 32 : 128)) return undefined;
  return { text, address, prefix };
}

export function cidrContains(cidr: Cidr, addressText: string): boolean {
  const ip = parseLiteral(addressText);
  if (ip === undefined || ip.kind() !== cidr.address.kind()) return false;
  return ip.match(cidr.address, cidr.prefix);
}
