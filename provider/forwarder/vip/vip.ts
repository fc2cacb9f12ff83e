/**
 * The VIP's parts, started in order: the address on `lo` (before any listener binds it), BIRD
 * (with the VIP withdrawn), the metrics; the announcer begins once the node can report its
 * listeners (`start`).
 */
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { DEFAULTS, type VipOptions } from "../options";
import { VipAnnouncer, type ServingListener } from "./announcer";
import { BirdSpeaker } from "./bird";
import { ensureVipOnLoopback } from "./local-address";
import { registerVipMetrics } from "./metrics";

export async function startVip(
  options: VipOptions,
  context: { readonly stateDir: string; readonly logger: Logger; readonly registry: Registry; readonly listeners: () => readonly ServingListener[] },
): Promise<VipAnnouncer> {
  const { logger } = context;
  await ensureVipOnLoopback(options.address, logger);
  const speaker =
    options.bgp === undefined
      ? undefined
      : await BirdSpeaker.start({
          vip: options.address,
          bgp: options.bgp,
          birdBinary: options.birdBinary ?? DEFAULTS.vip.birdBinary,
          stateDir: context.stateDir,
          logger: logger.child({ component: "bird" }),
        });
  const announcer = new VipAnnouncer(options.address, speaker, context.listeners, logger);
  registerVipMetrics(context.registry, () => announcer.status());
  return announcer;
}
