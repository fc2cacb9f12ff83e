/**
 * Parses IP address text into network-order bytes without allocating, for the flow-hash hot path.
 *
 * The flow key must not depend on how the kernel spelled an address: a dual-stack socket reports an
 * IPv4 client as `::ffff:127.0.0.1`, a plain IPv4 socket as `127.0.0.1`, and both must land on the
 * same member. So every IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, also written `::ffff:7f00:1`) is
 * reduced to its 4 IPv4 bytes; other IPv6 addresses keep their 16 bytes. A zone suffix (`%eth0`)
 * is ignored: it names the local interface, not the client.
 */

const DOT = 0x2e;
const COLON = 0x3a;
const PERCENT = 0x25;

/** Value of one hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/**
 * Dotted-quad `text[start..end)` as a uint32, or -1 if it is not exactly four decimal parts 0-255
 * without leading zeros.
 */
export function parseIPv4(text: string, start: number, end: number): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    let part = 0;
    let digits = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      part = part * 10 + (c - 0x30);
      digits++;
      i++;
      if (digits > 3) return -1;
    }
    // A leading zero is refused, as Node's net.isIP does: "010" would be octal 8 to inet_aton.
    if (digits === 0 || part > 255 || (digits > 1 && text.charCodeAt(i - digits) === 0x30)) return -1;
    value = value * 256 + part;
    parts++;
    if (parts < 4) {
      if (i >= end || text.charCodeAt(i) !== DOT) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

/**
 * Parses IPv6 `text[0..end)` into eight 16-bit groups. Accepts `::` compression and a dotted-quad
 * tail (`::ffff:1.2.3.4`). Returns false when the text is not an IPv6 literal.
 */
export function parseIPv6(text: string, end: number, groups: Uint16Array): boolean {
  let count = 0;
  let gap = -1; // index in `groups` where `::` stands
  let i = 0;
  if (end >= 2 && text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
  }
  while (i < end) {
    if (count === 8) return false;
    const start = i;
    let value = 0;
    while (i < end && i - start < 5) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      value = value * 16 + d;
      i++;
    }
    if (i < end && text.charCodeAt(i) === DOT) {
      // Dotted-quad tail: it must be the last 32 bits.
      if (count > 6) return false;
      const v4 = parseIPv4(text, start, end);
      if (v4 < 0) return false;
      groups[count++] = Math.floor(v4 / 0x10000);
      groups[count++] = v4 & 0xffff;
      i = end;
      break;
    }
    const digits = i - start;
    if (digits === 0 || digits > 4) return false;
    groups[count++] = value;
    if (i === end) break;
    if (text.charCodeAt(i) !== COLON) return false;
    i++;
    if (i < end && text.charCodeAt(i) === COLON) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    } else if (i === end) {
      return false; // a single trailing colon
    }
  }
  if (gap < 0) return count === 8;
  if (count > 7) return false; // `::` must stand for at least one group
  // Move the groups after `::` to the end and zero the gap.
  const tail = count - gap;
  for (let k = tail - 1; k >= 0; k--) groups[8 - tail + k] = groups[gap + k];
  for (let k = gap; k < 8 - tail; k++) groups[k] = 0;
  return true;
}

/** Writes a uint32 IPv4 address as 4 network-order bytes. */
function writeV4(value: number, out: Uint8Array, offset: number): void {
  out[offset] = (value >>> 24) & 0xff;
  out[offset + 1] = (value >>> 16) & 0xff;
  out[offset + 2] = (value >>> 8) & 0xff;
  out[offset + 3] = value & 0xff;
}

/**
 * Writes the canonical bytes of an IP address literal at `out[offset..]`: 4 bytes for IPv4 and
 * IPv4-mapped IPv6, 16 for other IPv6. Returns the number of bytes written, or 0 when `text` is
 * not an IP literal (nothing meaningful is written then). `groups` is caller-owned scratch space.
 */
export function writeAddressBytes(text: string, out: Uint8Array, offset: number, groups: Uint16Array): number {
  let end = text.length;
  let hasColon = false;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === COLON) hasColon = true;
    else if (c === PERCENT) {
      end = i;
      break;
    }
  }
  if (!hasColon) {
    if (end !== text.length) return 0; // a zone on an IPv4 literal is not an address
    const v4 = parseIPv4(text, 0, end);
    if (v4 < 0) return 0;
    writeV4(v4, out, offset);
    return 4;
  }
  if (!parseIPv6(text, end, groups)) return 0;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    writeV4(groups[6] * 0x10000 + groups[7], out, offset);
    return 4;
  }
  for (let g = 0; g < 8; g++) {
    out[offset + 2 * g] = groups[g] >>> 8;
    out[offset + 2 * g + 1] = groups[g] & 0xff;
  }
  return 16;
}
