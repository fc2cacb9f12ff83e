// High-availability group: members carry no weight or port; all take an equal share and use the
// backend service's port. Nodes on 127.0.1.11-12 so it can run beside the quickstart.
import { demoBackends } from "../shared/demo-backends";
import * as dnlb from "../shared/dnlb"; // in your project: import * as dnlb from "pulumi-dnlb";

const lb = new dnlb.LoadBalancer("ha", {
  nodes: [{ listenAddress: "127.0.1.11" }, { listenAddress: "127.0.1.12" }],
});
const members = [
  { label: "ha-a", address: "127.0.7.11", port: 8082 },
  { label: "ha-b", address: "127.0.7.12", port: 8082 },
];
const backends = demoBackends("ha", lb.image, members);

const group = new dnlb.HighAvailabilityGroup(
  "ha-pair",
  { loadBalancer: lb.connection, members: members.map((m) => ({ address: m.address })) },
  { dependsOn: backends },
);
const service = new dnlb.BackendService("ha-service", {
  loadBalancer: lb.connection,
  port: 8082,
  serverGroup: group.id, // the default TCP health check (3 s timeout, 5 s interval, 3 and 3)
});
new dnlb.Listener("ha-listener", { loadBalancer: lb.connection, port: 8090, backendService: service.id });

export const endpoints = lb.endpoints;
export const trafficShares = group.trafficShares;
export const tryIt = "curl -s http://127.0.1.11:8090/";
