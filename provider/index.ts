/**
 * pulumi-dnlb: `import * as dnlb from "pulumi-dnlb"`.
 *
 * The LoadBalancer component (forwarder nodes on Docker), the five configuration resources that
 * push themselves to every node, each resource's provider object (so tools and tests can call
 * `check`/`diff` directly), and the model types users see in arguments and outputs.
 */
export * from "./resources";

// The LoadBalancer component (provider/resources/load-balancer.ts).
export * from "./resources/load-balancer";

export {
  UNKNOWN,
  LIMITS,
  HA_MEMBER_WEIGHT_PORT,
  type LoadBalancerConnection,
  type HealthCheckSpec,
  type VirtualServerGroupSpec,
  type HighAvailabilityGroupSpec,
  type BackendServiceSpec,
  type ListenerSpec,
  type VirtualMember,
  type HighAvailabilityMember,
  type CheckFailure,
} from "./model";
