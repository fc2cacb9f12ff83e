// One VIP in front of two nodes: each node (one per Docker host) puts 10.99.0.1 on its loopback,
// binds its listeners to it and announces 10.99.0.1/32 over eBGP to its top-of-rack router while
// it can serve; the router spreads flows over the nodes with ECMP. The router side is in
// router/bird.conf and router/frr.conf; README.md says what a router must do.
import * as dnlb from "../shared/dnlb"; // in your project: import * as dnlb from "pulumi-dnlb";

const VIP = "10.99.0.1";
const NODE_ASN = 65001;
const ROUTER = { address: "10.0.0.1", asn: 65000 };

const lb = new dnlb.LoadBalancer("edge", {
  nodes: [
    { dockerHost: "ssh://ops@10.0.0.11", listenAddress: "10.0.0.11" },
    { dockerHost: "ssh://ops@10.0.0.12", listenAddress: "10.0.0.12" },
  ],
  subnets: ["10.0.9.0/24"],
  vip: {
    address: VIP,
    // Router id per node: its own address (10.0.0.11, 10.0.0.12). BFD: a silent node leaves the
    // router's table in about 0.3 s instead of the hold time.
    bgp: { localAsn: NODE_ASN, peers: [{ ...ROUTER, bfd: true, holdTimeSeconds: 3 }] },
  },
});

const group = new dnlb.VirtualServerGroup("web-pool", {
  loadBalancer: lb.connection,
  members: [
    { address: "10.0.9.2", port: 8080, weight: 10 },
    { address: "10.0.9.3", port: 8080, weight: 10 },
  ],
});
// IpHash: every node builds the same Maglev table, so a client lands on the same member
// whichever node the router sends its flow to.
const service = new dnlb.BackendService("web", { loadBalancer: lb.connection, port: 8080, serverGroup: group.id, algorithm: "IpHash" });
new dnlb.Listener("web-80", { loadBalancer: lb.connection, port: 80, backendService: service.id });

export const endpoints = lb.endpoints;
export const tryIt = `curl -s http://${VIP}/`;
