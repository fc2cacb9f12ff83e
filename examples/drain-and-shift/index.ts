// Drain a member, then shift weights, one `pulumi config set step N` at a time:
//   step 0: d1, d2, d3 at weight 10 each
//   step 1: d3 disabled: it takes no new connections; its open ones finish or are closed after
//           drainingTimeoutSeconds (60 s here)
//   step 2: d3 removed, and d2 takes three times d1's share (weights 10 and 30)
// `pulumi preview --diff` shows each step's `flowsMoved` ("this change moves 33.3% of flows")
// before anything is touched: the same Maglev table the nodes build, computed by the provider.
import * as pulumi from "@pulumi/pulumi";
import { demoBackends } from "../shared/demo-backends";
import * as dnlb from "../shared/dnlb"; // in your project: import * as dnlb from "pulumi-dnlb";

const step = new pulumi.Config().getNumber("step") ?? 0;

const lb = new dnlb.LoadBalancer("drain", {
  nodes: [{ listenAddress: "127.0.1.31" }, { listenAddress: "127.0.1.32" }],
});
const all = [
  { label: "d1", address: "127.0.7.31", port: 8084 },
  { label: "d2", address: "127.0.7.32", port: 8084 },
  { label: "d3", address: "127.0.7.33", port: 8084 },
];
const backends = demoBackends("drain", lb.image, all);

const members =
  step === 0
    ? all.map((m) => ({ address: m.address, weight: 10 }))
    : step === 1
      ? all.map((m) => ({ address: m.address, weight: 10, enabled: m.label !== "d3" }))
      : [
          { address: "127.0.7.31", weight: 10 },
          { address: "127.0.7.32", weight: 30 },
        ];

const group = new dnlb.VirtualServerGroup("drain-pool", { loadBalancer: lb.connection, members }, { dependsOn: backends });
const service = new dnlb.BackendService("drain-service", {
  loadBalancer: lb.connection,
  port: 8084,
  drainingTimeoutSeconds: 60,
  serverGroup: group.id,
});
new dnlb.Listener("drain-listener", { loadBalancer: lb.connection, port: 8092, backendService: service.id });

export const currentStep = step;
export const trafficShares = group.trafficShares;
