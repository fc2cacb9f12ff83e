import * as pulumi from "@pulumi/pulumi";
import { demoBackends } from "../shared/demo-backends";
import * as dnlb from "../shared/dnlb";

/** Where the quickstart puts things (all on loopback: nothing leaves the machine). */
export const QUICKSTART = {
  nodes: ["127.0.1.1", "127.0.1.2"],
  listenerPort: 8080,
  backends: [
    { label: "b1", address: "127.0.7.1", port: 8081, weight: 10 },
    { label: "b2", address: "127.0.7.2", port: 8081, weight: 20 },
    { label: "b3", address: "127.0.7.3", port: 8081, weight: 30 },
  ],
} as const;

/**
 * The quickstart: two forwarder nodes, three demo backends weighted 10:20:30, a TCP health check,
 * a backend service hashing on the client IP, and a listener on port 8080 of each node.
 * Returns the stack outputs.
 */
export function quickstart(): Record<string, unknown> {
  const lb = new dnlb.LoadBalancer("quickstart", { nodes: QUICKSTART.nodes.length });
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
    port: 8081,
    algorithm: "IpHash",
    healthCheck: check.id,
    serverGroup: group.id,
  });
  const listener = new dnlb.Listener("web", { loadBalancer: lb.connection, port: QUICKSTART.listenerPort, backendService: service.id });

  const first = QUICKSTART.nodes[0];
  return {
    endpoints: lb.endpoints,
    listeners: pulumi.output(QUICKSTART.nodes.map((a) => `${a}:${QUICKSTART.listenerPort}`)),
    listenerId: listener.id,
    tryIt: `curl -s http://${first}:${QUICKSTART.listenerPort}/   (or: printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc ${first} ${QUICKSTART.listenerPort})`,
    trafficShares: group.trafficShares,
    failureWindowSeconds: check.failureWindowSeconds,
    memberHealth: `curl -s -H "Authorization: Bearer $(pulumi stack output adminToken --show-secrets)" http://${first}:9180/v1/status`,
    adminToken: lb.connection.apply((c) => c.token),
  };
}
