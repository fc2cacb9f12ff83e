// A DNS service over UDP: two CoreDNS servers behind a UDP listener on port 5353 of each node,
// checked with a real DNS question. Nodes on 127.0.1.41-42, servers on 127.0.7.41-42.
import * as docker from "@pulumi/docker";
import * as dnlb from "../shared/dnlb"; // in your project: import * as dnlb from "pulumi-dnlb";
import { DNS_EXAMPLE, HEALTH_QUERY } from "./settings";

const lb = new dnlb.LoadBalancer("dns", {
  nodes: DNS_EXAMPLE.nodes.map((listenAddress) => ({ listenAddress })),
});

// CoreDNS's `whoami` answers every question with the asker's address and port, so a client sees
// that its query went through a node.
const coredns = new docker.RemoteImage("dns-coredns", { name: "coredns/coredns:1.11.3", keepLocally: true });
const servers = DNS_EXAMPLE.servers.map(
  (s) =>
    new docker.Container(
      `dns-${s.label}`,
      {
        name: `dns-example-${s.label}`,
        image: coredns.imageId,
        networkMode: "host",
        restart: "unless-stopped",
        command: ["-conf", "/Corefile"],
        uploads: [{ file: "/Corefile", content: `.:${DNS_EXAMPLE.serverPort} {\n  bind ${s.address}\n  whoami\n}\n` }],
        labels: [{ label: "dnlb.example", value: "dns" }],
      },
      // Host networking: a replacement must free the address before the new container binds it.
      { deleteBeforeReplace: true },
    ),
);

const check = new dnlb.HealthCheck("dns-check", {
  loadBalancer: lb.connection,
  protocol: "UDP",
  timeoutSeconds: 2,
  intervalSeconds: 5,
  unhealthyThreshold: 2,
  healthyThreshold: 2,
  udpRequest: HEALTH_QUERY,
});
const group = new dnlb.VirtualServerGroup(
  "dns-servers",
  {
    loadBalancer: lb.connection,
    members: DNS_EXAMPLE.servers.map((s) => ({ address: s.address, port: DNS_EXAMPLE.serverPort, weight: 10 })),
  },
  { dependsOn: servers },
);
const service = new dnlb.BackendService("dns-service", {
  loadBalancer: lb.connection,
  protocol: "UDP",
  port: DNS_EXAMPLE.serverPort,
  serverGroup: group.id,
  healthCheck: check.id,
  algorithm: "QuintupleHash", // one resolver's many source ports spread over both servers
  udpSessionTimeoutSeconds: 30,
});
new dnlb.Listener("dns-listener", { loadBalancer: lb.connection, protocol: "UDP", port: DNS_EXAMPLE.listenerPort, backendService: service.id });

export const endpoints = lb.endpoints;
export const trafficShares = group.trafficShares;
export const tryIt = `dig @${DNS_EXAMPLE.nodes[0]} -p ${DNS_EXAMPLE.listenerPort} whoami.dnlb A`;
