import { canonicalAddress, cidrContains, parseCidr, type Cidr } from "./addresses";

/**
 * Whether a host is this machine's loopback (127.0.0.0/8, ::1, `localhost`): the only hosts where
 * the admin API may speak plain HTTP, because the bearer token then never leaves the machine.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === "localhost") return true;
  const address = canonicalAddress(bare);
  if (address === undefined) return false;
  return address === "::1" || cidrContains(parseCidr("127.0.0.0/8") as Cidr, address);
}
