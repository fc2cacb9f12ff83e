/** Where the DNS example puts things (all on loopback: nothing leaves the machine). */
export const DNS_EXAMPLE = {
  nodes: ["127.0.1.41", "127.0.1.42"],
  listenerPort: 5353,
  serverPort: 5300,
  servers: [
    { label: "dns-a", address: "127.0.7.41" },
    { label: "dns-b", address: "127.0.7.42" },
  ],
} as const;

/**
 * A DNS query (id 1, recursion desired) for `health.dnlb. A`: the UDP check passes only when a
 * server answers it, which an open port alone would not prove. Every byte is below 0x80, so the
 * text is its own UTF-8 encoding.
 */
export const HEALTH_QUERY = "\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x06health\x04dnlb\x00\x00\x01\x00\x01";
