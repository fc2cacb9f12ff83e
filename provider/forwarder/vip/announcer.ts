/**
 * Ties the VIP's route to the node's ability to serve: announced while the configuration is
 * loaded and the data plane listens, withdrawn when a listener cannot listen, when the data
 * plane stops reporting (its workers are gone) and when the node drains. A router then sends
 * new flows only to nodes that can take them.
 */
import type { Logger } from "pino";
import type { BirdSpeaker, PeerStatus } from "./bird";

/** A listener as runtime status shows it. */
export interface ServingListener {
  readonly name: string;
  readonly port: number;
  readonly state: string;
  readonly error?: string;
}

export interface Announcement {
  readonly announced: boolean;
  /** Why, for status and logs. */
  readonly reason: string;
}

export interface VipStatus extends Announcement {
  readonly address: string;
  /** Empty without BGP (--vip alone: the node only binds the VIP). */
  readonly peers: readonly PeerStatus[];
}

export function announcement(draining: boolean, listeners: readonly ServingListener[]): Announcement {
  if (draining) return { announced: false, reason: "the node is draining" };
  if (listeners.length === 0) return { announced: false, reason: "no listener is configured" };
  const failed = listeners.find((l) => l.state === "Failed");
  if (failed !== undefined) {
    return { announced: false, reason: `listener ${failed.name} (port ${failed.port}) is not listening: ${failed.error ?? "no data-plane report"}` };
  }
  return { announced: true, reason: "every listener is listening" };
}

/** How often the listeners are looked at. */
const CHECK_INTERVAL_MS = 200;
/**
 * How long the node must be unable to serve before it withdraws (draining withdraws at once).
 * Longer than a data-plane worker's stats period (1 s), so a listener just written, bound but not
 * reported yet, does not withdraw every node at the same moment; a data plane that stops is
 * withdrawn within this plus CHECK_INTERVAL_MS.
 */
export const WITHDRAW_AFTER_MS = 1500;

export class VipAnnouncer {
  private current: Announcement = { announced: false, reason: "starting" };
  private draining = false;
  /** When the node, announced, was first seen unable to serve. */
  private unableSince: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** BIRD is told one change at a time, in order. */
  private told: Promise<void> = Promise.resolve();

  constructor(
    private readonly address: string,
    private readonly speaker: BirdSpeaker | undefined,
    private readonly listeners: () => readonly ServingListener[],
    private readonly logger: Logger,
  ) {}

  /** Looks at the listeners now and every CHECK_INTERVAL_MS. */
  start(): void {
    this.check();
    this.timer ??= setInterval(() => this.check(), CHECK_INTERVAL_MS);
  }

  /** Withdraws the VIP for the rest of the node's life; resolves once BIRD has been told. */
  async withdraw(): Promise<void> {
    this.draining = true;
    this.check();
    await this.told;
  }

  status(): VipStatus {
    return { address: this.address, ...this.current, peers: this.speaker?.peers() ?? [] };
  }

  /** Stops watching and stops BIRD. Idempotent. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.told;
    await this.speaker?.close();
  }

  private check(): void {
    const next = announcement(this.draining, this.listeners());
    if (next.announced || this.draining) {
      this.unableSince = undefined;
    } else if (this.current.announced) {
      this.unableSince ??= Date.now();
      if (Date.now() - this.unableSince < WITHDRAW_AFTER_MS) return;
    }
    const changed = next.announced !== this.current.announced;
    this.current = next;
    if (!changed) return;
    this.logger.info({ vip: this.address, announced: next.announced, reason: next.reason }, next.announced ? "announcing the VIP" : "withdrawing the VIP");
    const speaker = this.speaker;
    if (speaker === undefined) return;
    this.told = this.told
      .then(() => speaker.setAnnounced(next.announced))
      .catch((error: unknown) => this.logger.error({ err: error, announced: next.announced }, "cannot write BIRD's configuration"));
  }
}
