// The quickstart: two forwarder nodes, three demo backends weighted 10:20:30, a TCP health check,
// a backend service hashing on the client IP, and a listener on port 8080 of each node.
// `pulumi up` from the repository root runs this program (Pulumi.yaml); `npm run up` runs the same
// one through the Automation API, without any Pulumi account (see ./program.ts).
import * as pulumi from "@pulumi/pulumi";
import { demoBackends } from "../shared/demo-backends";
import * as dnlb from "../shared/dnlb"; // in your project: import * as dnlb from "pulumi-dnlb";
import { QUICKSTART, statusCommand } from "./program";

const lb = new dnlb.LoadBalancer("quickstart", {
  nodes: QUICKSTART.nodes.map((listenAddress) => ({ listenAddress })),
});
const backends = demoBackends("quickstart", lb.image, QUICKSTART.backends);

const check = new dnlb.HealthCheck("web-check", {
  loadBalancer: lb.connection,
  timeoutSeconds: 2,
  intervalSeconds: 5,
  unhealthyThreshold: 2,
  healthyThreshold: 2,
});
const group = new dnlb.VirtualServerGroup(
  "web",
  {
    loadBalancer: lb.connection,
    members: QUICKSTART.backends.map((b) => ({ address: b.address, weight: b.weight })),
  },
  { dependsOn: backends },
);
const service = new dnlb.BackendService("web", {
  loadBalancer: lb.connection,
  port: QUICKSTART.backendPort,
  algorithm: "IpHash",
  healthCheck: check.id,
  serverGroup: group.id,
});
const listener = new dnlb.Listener("web", {
  loadBalancer: lb.connection,
  port: QUICKSTART.listenerPort,
  backendService: service.id,
});

const [first] = QUICKSTART.nodes;

/** Each node's admin API, e.g. http://127.0.1.1:9180. */
export const endpoints: pulumi.Output<string[]> = lb.endpoints;
/** Where clients connect: the listener's port on every node. */
export const listeners: string[] = QUICKSTART.nodes.map((address) => `${address}:${QUICKSTART.listenerPort}`);
export const listenerId: pulumi.Output<string> = listener.id;
export const tryIt = `curl -s http://${first}:${QUICKSTART.listenerPort}/   (or: printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${first} ${QUICKSTART.listenerPort})`;
/** Each member's expected share of new flows, from the Maglev table the nodes build. */
export const trafficShares: pulumi.Output<Record<string, number>> = group.trafficShares;
/** How long a failed member keeps receiving new connections, counted from its first failing probe. */
export const failureWindowSeconds: pulumi.Output<number> = check.failureWindowSeconds;
/** How long a recovered member waits before it takes traffic again, from its first successful probe. */
export const successWindowSeconds: pulumi.Output<number> = check.successWindowSeconds;
/** A command that prints the first node's status: each member's health and whether it takes traffic. */
export const memberHealth: pulumi.Output<string> = pulumi
  .all([lb.containerNames, lb.endpoints])
  .apply(([names, urls]) => statusCommand(names[0], urls[0]));
/** The admin API token (secret: `pulumi stack output adminToken --show-secrets`). */
export const adminToken: pulumi.Output<string> = lb.connection.apply((c) => c.token);
