import * as http from "node:http";
import { NODE_PLATFORMS, type NodePlatform } from "../model";

/**
 * The platform a Docker host runs, as its engine reports it (`GET /version`: `Os`, `Arch`), so
 * the forwarder image is built for the host rather than for the machine running `pulumi up`.
 *
 * Asked over the engine's own API where the provider can reach it directly: a unix socket or
 * plain `tcp://`. An `ssh://` host (or TLS, or no answer within the timeout) is not asked, and
 * the caller uses its fallback; `platform` in the LoadBalancer's arguments says it instead.
 */

/** The platform used when the Docker host does not say: the most common server platform. */
export const FALLBACK_PLATFORM: NodePlatform = "linux/amd64";

/** Where a Docker host's API is, for `http.request`; undefined when it cannot be asked directly. */
export function engineAddress(dockerHost: string | undefined): { socketPath: string } | { host: string; port: number } | undefined {
  const host = dockerHost ?? process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (host.startsWith("unix://")) return { socketPath: host.slice("unix://".length) };
  if (host.startsWith("tcp://") && process.env.DOCKER_TLS_VERIFY === undefined) {
    try {
      const url = new URL(host.replace(/^tcp:/, "http:"));
      return { host: url.hostname.replace(/^\[(.*)\]$/, "$1"), port: Number(url.port || 2375) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** `linux/amd64` from the engine's `Os` and `Arch`; what the engine says, even if no image is built for it. */
export function platformOf(version: { Os?: unknown; Arch?: unknown }): string | undefined {
  return typeof version.Os === "string" && typeof version.Arch === "string" ? `${version.Os}/${version.Arch}` : undefined;
}

export function isNodePlatform(platform: string): platform is NodePlatform {
  return (NODE_PLATFORMS as readonly string[]).includes(platform);
}

/** The Docker host's platform, or undefined when it cannot be asked or does not answer in time. */
export function dockerHostPlatform(dockerHost: string | undefined, timeoutMs = 3000): Promise<string | undefined> {
  const address = engineAddress(dockerHost);
  if (address === undefined) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const req = http.request({ ...address, path: "/version", method: "GET", timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
      res.on("end", () => {
        try {
          resolve(res.statusCode === 200 ? platformOf(JSON.parse(body) as { Os?: unknown; Arch?: unknown }) : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on("error", () => resolve(undefined));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(undefined));
    req.end();
  });
}
