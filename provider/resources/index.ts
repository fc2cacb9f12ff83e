/** The dynamic resources, their provider objects and argument types. */
export { HealthCheck, healthCheckProvider, type HealthCheckArgs } from "./health-check";
export {
  VirtualServerGroup,
  virtualServerGroupProvider,
  type VirtualServerGroupArgs,
  type VirtualServerGroupMemberArgs,
} from "./virtual-server-group";
export {
  HighAvailabilityGroup,
  highAvailabilityGroupProvider,
  type HighAvailabilityGroupArgs,
  type HighAvailabilityGroupMemberArgs,
} from "./high-availability-group";
export { BackendService, backendServiceProvider, type BackendServiceArgs } from "./backend-service";
export { Listener, listenerProvider, type ListenerArgs } from "./listener";
export type { DivergentNode } from "./provider-core";
