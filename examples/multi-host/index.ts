// Nodes on several Docker hosts, reached over ssh: how a load balancer outgrows one machine.
// One node per host, its listeners on every address of its host and its admin API on the host's
// management address only; the component builds the image on each host (an image built on one
// engine is not on another) and reaches each admin API at https://<adminAddress>:9180, so the
// machine running Pulumi must reach port 9180 of every host's management address. The admin APIs
// serve HTTPS: the component keeps a private CA and a certificate per node in the state
// (<lb>-admin-certificates), and the connection trusts that CA only (docs/SECURITY.md).
//
//   pulumi config set --path 'dockerHosts[0]' ssh://ops@lb-1.internal
//   pulumi config set --path 'dockerHosts[1]' ssh://ops@lb-2.internal
//   pulumi config set --path 'adminAddresses[0]' 10.0.0.11   (lb-1's management IP)
//   pulumi config set --path 'adminAddresses[1]' 10.0.0.12
//   pulumi config set --path 'members[0]' 10.0.1.10   (and so on)
//   pulumi config set --secret adminToken "$(openssl rand -base64 32)"   (optional)
import * as pulumi from "@pulumi/pulumi";
import * as dnlb from "../shared/dnlb"; // in your project: import * as dnlb from "pulumi-dnlb";

const config = new pulumi.Config();
const hosts = config.requireObject<string[]>("dockerHosts");
// One per host; unset, a host named by its IP in dockerHost is reached (and bound) at that IP.
const adminAddresses = config.getObject<string[]>("adminAddresses") ?? [];
const memberAddresses = config.requireObject<string[]>("members");

const lb = new dnlb.LoadBalancer("edge", {
  nodes: hosts.map((dockerHost, i) => ({ dockerHost, adminAddress: adminAddresses[i] })),
  subnets: ["10.0.0.0/16"],
  adminToken: config.getSecret("adminToken"), // unset: generated once and kept in the state
});

const check = new dnlb.HealthCheck("edge-check", { loadBalancer: lb.connection, timeoutSeconds: 2, unhealthyThreshold: 2 });
const group = new dnlb.VirtualServerGroup("edge-pool", {
  loadBalancer: lb.connection,
  members: memberAddresses.map((address) => ({ address })),
});
const service = new dnlb.BackendService("edge-service", {
  loadBalancer: lb.connection,
  port: 8080,
  healthCheck: check.id,
  serverGroup: group.id,
  proxyProtocol: "v2", // members see the client's address, not the node's
});
new dnlb.Listener("edge-listener", { loadBalancer: lb.connection, port: 8080, backendService: service.id });

export const endpoints = lb.endpoints; // https://10.0.0.11:9180, ...
export const trafficShares = group.trafficShares;
