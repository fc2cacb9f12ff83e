/**
 * Puts the VIP on `lo` as a host route (/32 or /128): the listeners bind it, and the kernel
 * delivers the routers' packets for it to them. Binding an address the node does not own would
 * need IP_FREEBIND and silently drops the flows, so a VIP that is neither added nor already
 * local stops the node.
 */
import { execFile } from "node:child_process";
import { isIPv6 } from "node:net";
import * as os from "node:os";
import type { Logger } from "pino";
import { StartupError } from "../errors";

function isLocal(address: string): boolean {
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.address === address));
}

function ip(args: readonly string[]): Promise<{ ok: boolean; message: string }> {
  return new Promise((resolve) => {
    execFile("ip", args, { timeout: 5000 }, (error, _stdout, stderr) => resolve({ ok: error === null, message: stderr.trim() || (error?.message ?? "") }));
  });
}

/** Adds `vip` to `lo` unless it is local already; needs CAP_NET_ADMIN for the add. */
export async function ensureVipOnLoopback(vip: string, logger: Logger): Promise<"added" | "present"> {
  if (isLocal(vip)) return "present";
  const prefix = `${vip}/${isIPv6(vip) ? 128 : 32}`;
  const result = await ip(["addr", "add", prefix, "dev", "lo"]);
  if (result.ok || /File exists/.test(result.message)) {
    logger.info({ vip: prefix }, "the VIP is on lo");
    return "added";
  }
  throw new StartupError(
    `--vip ${vip}: the address is not on this host and \`ip addr add ${prefix} dev lo\` failed (${result.message}); ` +
      "give the node CAP_NET_ADMIN or add the address to lo before starting it",
  );
}
