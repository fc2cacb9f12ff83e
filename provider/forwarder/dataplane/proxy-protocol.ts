/**
 * PROXY protocol headers (HAProxy, "The PROXY protocol", versions 1 and 2,
 * https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt), written by the forwarder at the
 * start of a backend connection so that a member that understands it sees the client's address
 * instead of the node's (as AWS NLB and HAProxy `send-proxy` do).
 *
 * Only the `PROXY` command for TCP over IPv4/IPv6 is produced: the forwarder always knows both
 * endpoints of the client connection. An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a
 * dual-stack listener reports for an IPv4 client) is presented as IPv4, as the spec asks
 * ("a TCP4 connection ... mapped into IPv6 ... should be presented as TCP4"). If the two ends
 * still differ in family, both are presented as IPv6 (the IPv4 one mapped), which every
 * receiver accepts.
 *
 * Health probes never send a header (see prober.ts): a probe is not a client connection.
 */
import * as net from "node:net";
import * as ipaddr from "ipaddr.js";

export type ProxyProtocolVersion = "v1" | "v2";

export interface ProxyEndpoints {
  /** The client's address and port (the socket's `remoteAddress`/`remotePort`). */
  readonly sourceAddress: string;
  readonly sourcePort: number;
  /** The address and port the client connected to (the socket's `localAddress`/`localPort`). */
  readonly destinationAddress: string;
  readonly destinationPort: number;
}

/** The 12-byte version 2 signature: \r\n\r\n\0\r\nQUIT\n. */
export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);
/** Version 2 (high nibble) and command PROXY (low nibble 1). */
const V2_VERSION_PROXY = 0x21;
/** Address family (high nibble: 1 AF_INET, 2 AF_INET6) and transport (low nibble: 1 STREAM). */
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;
/** Address block lengths: two addresses and two 16-bit ports. */
const V2_IPV4_LENGTH = 4 + 4 + 2 + 2;
const V2_IPV6_LENGTH = 16 + 16 + 2 + 2;

const MAPPED_PREFIX = "::ffff:";

/** Strips the `::ffff:` prefix of an IPv4-mapped IPv6 address (dotted form, as Node reports it). */
export function unmapIPv4(address: string): string {
  if (address.length > MAPPED_PREFIX.length && address.slice(0, MAPPED_PREFIX.length).toLowerCase() === MAPPED_PREFIX) {
    const tail = address.slice(MAPPED_PREFIX.length);
    if (net.isIPv4(tail)) return tail;
  }
  return address;
}

interface Normalized {
  readonly family: 4 | 6;
  readonly source: string;
  readonly destination: string;
}

function normalize(e: ProxyEndpoints): Normalized {
  const source = unmapIPv4(stripZone(e.sourceAddress));
  const destination = unmapIPv4(stripZone(e.destinationAddress));
  const sourceV4 = net.isIPv4(source);
  const destinationV4 = net.isIPv4(destination);
  if (!sourceV4 && !net.isIPv6(source)) throw new TypeError(`PROXY header: not an IP address: ${JSON.stringify(e.sourceAddress)}`);
  if (!destinationV4 && !net.isIPv6(destination)) {
    throw new TypeError(`PROXY header: not an IP address: ${JSON.stringify(e.destinationAddress)}`);
  }
  assertPort(e.sourcePort);
  assertPort(e.destinationPort);
  if (sourceV4 && destinationV4) return { family: 4, source, destination };
  return {
    family: 6,
    source: sourceV4 ? MAPPED_PREFIX + source : source,
    destination: destinationV4 ? MAPPED_PREFIX + destination : destination,
  };
}

/** A link-local IPv6 address may carry a zone (`fe80::1%eth0`) that has no place in the header. */
function stripZone(address: string): string {
  const percent = address.indexOf("%");
  return percent < 0 ? address : address.slice(0, percent);
}

function assertPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`PROXY header: bad port ${String(port)}`);
}

/** Version 1 (text): `PROXY TCP4 <src> <dst> <sport> <dport>\r\n`, at most 107 bytes. */
export function encodeProxyV1(e: ProxyEndpoints): Buffer {
  const n = normalize(e);
  const family = n.family === 4 ? "TCP4" : "TCP6";
  return Buffer.from(`PROXY ${family} ${n.source} ${n.destination} ${e.sourcePort} ${e.destinationPort}\r\n`, "latin1");
}

/** Version 2 (binary): signature, 0x21, family, big-endian length, addresses, ports. No TLVs. */
export function encodeProxyV2(e: ProxyEndpoints): Buffer {
  const n = normalize(e);
  const length = n.family === 4 ? V2_IPV4_LENGTH : V2_IPV6_LENGTH;
  const header = Buffer.allocUnsafe(16 + length);
  PROXY_V2_SIGNATURE.copy(header, 0);
  header[12] = V2_VERSION_PROXY;
  header[13] = n.family === 4 ? V2_TCP4 : V2_TCP6;
  header.writeUInt16BE(length, 14);
  let offset = 16;
  if (n.family === 4) {
    offset = writeIPv4(header, offset, n.source);
    offset = writeIPv4(header, offset, n.destination);
  } else {
    offset = writeIPv6(header, offset, n.source);
    offset = writeIPv6(header, offset, n.destination);
  }
  header.writeUInt16BE(e.sourcePort, offset);
  header.writeUInt16BE(e.destinationPort, offset + 2);
  return header;
}

export function encodeProxyHeader(version: ProxyProtocolVersion, e: ProxyEndpoints): Buffer {
  return version === "v1" ? encodeProxyV1(e) : encodeProxyV2(e);
}

function writeIPv4(out: Buffer, offset: number, address: string): number {
  const parts = address.split(".");
  for (let i = 0; i < 4; i++) out[offset + i] = Number(parts[i]);
  return offset + 4;
}

/** Writes the 16 bytes of an IPv6 literal (already validated by net.isIPv6). */
function writeIPv6(out: Buffer, offset: number, address: string): number {
  const bytes = ipaddr.IPv6.parse(address).toByteArray();
  for (let i = 0; i < 16; i++) out[offset + i] = bytes[i];
  return offset + 16;
}
