/**
 * `host:port`, or `[host]:port` when the host is an IPv6 literal: a URL authority, a log field,
 * and the member key (member.ts). Because the member key is made here, this format is frozen.
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
