// A campus behind one NAT address: every student's connection arrives from the same client IP,
// so IpHash would send them all to one member. QuintupleHash hashes (TCP, client IP, client port,
// local IP, local port): the NAT's many source ports spread the campus over every member by weight.
import { demoBackends } from "../shared/demo-backends";
import * as dnlb from "../shared/dnlb"; // in your project: import * as dnlb from "pulumi-dnlb";

const lb = new dnlb.LoadBalancer("campus", {
  nodes: [{ listenAddress: "127.0.1.21" }, { listenAddress: "127.0.1.22" }],
  subnets: ["127.0.7.0/24"], // members must sit in the load balancer's private network
});
const members = [
  { label: "c1", address: "127.0.7.21", port: 8083, weight: 50 },
  { label: "c2", address: "127.0.7.22", port: 8083, weight: 50 },
  { label: "c3", address: "127.0.7.23", port: 8083, weight: 100 },
];
const backends = demoBackends("campus", lb.image, members);

const group = new dnlb.VirtualServerGroup(
  "campus-pool",
  { loadBalancer: lb.connection, members: members.map((m) => ({ address: m.address, weight: m.weight })) },
  { dependsOn: backends },
);
const service = new dnlb.BackendService("campus-service", {
  loadBalancer: lb.connection,
  port: 8083,
  algorithm: "QuintupleHash",
  idleTimeoutSeconds: 120,
  serverGroup: group.id,
});
new dnlb.Listener("campus-listener", { loadBalancer: lb.connection, port: 8091, backendService: service.id });

export const trafficShares = group.trafficShares;
export const tryIt = "for i in $(seq 20); do curl -s http://127.0.1.21:8091/; done | sort | uniq -c";
