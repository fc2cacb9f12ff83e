/** The VIP's announcement and its BGP sessions as Prometheus gauges, read at scrape time. */
import { Gauge, type Registry } from "prom-client";
import type { VipStatus } from "./announcer";

export function registerVipMetrics(registry: Registry, status: () => VipStatus): void {
  new Gauge({
    name: "dnlb_vip_announced",
    help: "1 while the node announces the VIP (it can serve), 0 while it is withdrawn.",
    labelNames: ["vip"],
    registers: [registry],
    collect() {
      const s = status();
      this.reset();
      this.set({ vip: s.address }, s.announced ? 1 : 0);
    },
  });
  new Gauge({
    name: "dnlb_bgp_peer_up",
    help: "1 when the BGP session with the peer is Established.",
    labelNames: ["peer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const p of status().peers) this.set({ peer: p.address }, p.state === "Established" ? 1 : 0);
    },
  });
}
