/**
 * Keyed flow hashing: SipHash-2-4 under the load balancer's seed, so that nobody who does not hold
 * the seed can predict which member a client (or a chosen source port) lands on, and so cannot
 * steer many flows onto one member. Every node holds the same seed and so computes the same hash.
 *
 * Flow keys (docs/DESIGN.md, "Forwarder behaviour"):
 * - IpHash: the client address.
 * - QuintupleHash: (protocol, client address, client port, local address, local port), the
 *   protocol as its IP protocol number (TCP 6, UDP 17), so a TCP and a UDP flow of one client
 *   to one port hash apart.
 *
 * Message layouts, FROZEN (changing them moves every flow, and nodes of two versions would
 * disagree during an upgrade):
 * - IpHash: the address bytes: 4 for IPv4 (and IPv4-mapped IPv6, so `::ffff:127.0.0.1` hashes as
 *   `127.0.0.1`), 16 for IPv6.
 * - QuintupleHash: [IP protocol number: 6 TCP, 17 UDP] [family flags: bit 0 client is IPv6, bit 1 local
 *   is IPv6] [client port, 2 bytes big-endian] [local port, 2 bytes big-endian] [client address]
 *   [local address].
 * Text that is not an IP literal (never the case for an address a socket reports) is not rejected:
 * it becomes 16 bytes, 0xff x 8 then the keyed SipHash of its UTF-16 code units, so hashing stays
 * total and deterministic. Ports are taken modulo 2^16 (NaN as 0).
 *
 * The hot path allocates nothing: addresses are parsed straight into a buffer the instance owns.
 */

import { createHash } from "node:crypto";
import { writeAddressBytes } from "./ip";
import { low53, sipHash24, sipKeyFromBytes, type SipKey } from "./siphash";

/** IP protocol numbers (IANA), the first byte of a QuintupleHash message. */
const PROTOCOL_NUMBERS = { TCP: 6, UDP: 17 } as const;
const SEED_HEX = /^[0-9a-fA-F]{32}$/;

/**
 * The 16 SipHash key bytes for a seed: a string of exactly 32 hex digits is those 16 bytes (either
 * case); any other string (shorter, longer, not hex, even empty) is hashed: the first 16 bytes of
 * SHA-256 of its UTF-8 encoding. Generated seeds are 32 hex digits, so they are used as they are.
 */
export function seedKeyBytes(seed: string): Uint8Array {
  if (SEED_HEX.test(seed)) return Uint8Array.from(Buffer.from(seed, "hex"));
  return Uint8Array.from(createHash("sha256").update(seed, "utf8").digest().subarray(0, 16));
}

export class FlowHasher {
  private readonly key: SipKey;
  /** Message buffer, reused by every call: at most 6 + 16 + 16 bytes. */
  private readonly message = new Uint8Array(40);
  /** Scratch space for IPv6 parsing. */
  private readonly groups = new Uint16Array(8);
  /** SipHash output, [low word, high word]. */
  private readonly out = new Uint32Array(2);

  constructor(seed: string) {
    this.key = sipKeyFromBytes(seedKeyBytes(String(seed)));
  }

  /** IpHash: keyed hash of the client address, a non-negative integer below 2^53. */
  ipHash(clientIp: string): number {
    const len = this.writeAddress(clientIp, 0);
    sipHash24(this.key, this.message, len, this.out);
    return low53(this.out);
  }

  /** QuintupleHash: keyed hash of (protocol, client address, client port, local address, local port), below 2^53. */
  quintupleHash(clientIp: string, clientPort: number, localIp: string, localPort: number, protocol: "TCP" | "UDP" = "TCP"): number {
    const m = this.message;
    const cp = clientPort & 0xffff;
    const lp = localPort & 0xffff;
    const clientLen = this.writeAddress(clientIp, 6);
    const localLen = this.writeAddress(localIp, 6 + clientLen);
    m[0] = PROTOCOL_NUMBERS[protocol];
    m[1] = (clientLen === 16 ? 1 : 0) | (localLen === 16 ? 2 : 0);
    m[2] = cp >>> 8;
    m[3] = cp & 0xff;
    m[4] = lp >>> 8;
    m[5] = lp & 0xff;
    sipHash24(this.key, m, 6 + clientLen + localLen, this.out);
    return low53(this.out);
  }

  /** Writes an address's canonical bytes at `offset` of the message; returns their count (4 or 16). */
  private writeAddress(text: string, offset: number): number {
    if (typeof text === "string") {
      const len = writeAddressBytes(text, this.message, offset, this.groups);
      if (len !== 0) return len;
    }
    return this.writeNonAddress(String(text), offset);
  }

  /** The cold path for text that is not an IP literal (see the header comment). */
  private writeNonAddress(text: string, offset: number): number {
    const units = Buffer.from(text, "utf16le");
    sipHash24(this.key, units, units.length, this.out);
    const m = this.message;
    m.fill(0xff, offset, offset + 8);
    for (let i = 0; i < 4; i++) {
      m[offset + 8 + i] = (this.out[0] >>> (8 * i)) & 0xff;
      m[offset + 12 + i] = (this.out[1] >>> (8 * i)) & 0xff;
    }
    return 16;
  }
}
