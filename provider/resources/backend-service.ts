import * as pulumi from "@pulumi/pulumi";
import { checkBackendService, modelSchemas, type LoadBalancerConnection } from "../model";
import type { ResourceType } from "./resource-type";
import { makeProvider, type DivergentNode } from "./provider-core";
import { DYNAMIC_MODULE, resourceProps, withSecretConnection } from "./resource-props";

/** Where a listener's connections go: a server group, a hashing algorithm and a health check. */
export interface BackendServiceArgs {
  readonly loadBalancer: pulumi.Input<LoadBalancerConnection>;
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: pulumi.Input<string>;
  readonly description?: pulumi.Input<string>;
  /** Only "TCP". Changing it replaces the service. */
  readonly protocol?: pulumi.Input<"TCP">;
  /** 1-65535: the port of members that give none (may repeat across services). */
  readonly port: pulumi.Input<number>;
  /** "IpHash" (weighted source IP, default) or "QuintupleHash" (weighted 5-tuple). */
  readonly algorithm?: pulumi.Input<"IpHash" | "QuintupleHash">;
  /** A HealthCheck's id; unset: a TCP check with the defaults. */
  readonly healthCheck?: pulumi.Input<string>;
  /** Default true. Off: members show N/A and every enabled member takes traffic. */
  readonly healthCheckEnabled?: pulumi.Input<boolean>;
  /** A VirtualServerGroup's or HighAvailabilityGroup's id; a group binds to at most one service. */
  readonly serverGroup?: pulumi.Input<string>;
  /** 1-86400, default 900. */
  readonly idleTimeoutSeconds?: pulumi.Input<number>;
  /** 0-3600, default 300. */
  readonly drainingTimeoutSeconds?: pulumi.Input<number>;
  /** "off" (default), "v1" or "v2": a PROXY protocol header carrying the client's address to members. */
  readonly proxyProtocol?: pulumi.Input<"off" | "v1" | "v2">;
}

export const backendServiceType: ResourceType = {
  typeName: "BackendService",
  kind: "backend-services",
  idFallback: "backend-service",
  label: "backend service",
  check: (raw, ctx) => checkBackendService(raw, ctx),
  schema: () => modelSchemas({ allowUnknown: false }).backendService,
};

export const backendServiceProvider: pulumi.dynamic.ResourceProvider = makeProvider(backendServiceType);

export class BackendService extends pulumi.dynamic.Resource {
  declare readonly loadBalancer: pulumi.Output<LoadBalancerConnection>;
  /** The id on the nodes (also this resource's `id`). */
  declare readonly objectId: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly description: pulumi.Output<string | undefined>;
  declare readonly protocol: pulumi.Output<"TCP">;
  declare readonly port: pulumi.Output<number>;
  declare readonly algorithm: pulumi.Output<"IpHash" | "QuintupleHash">;
  declare readonly healthCheck: pulumi.Output<string | undefined>;
  declare readonly healthCheckEnabled: pulumi.Output<boolean>;
  declare readonly serverGroup: pulumi.Output<string | undefined>;
  declare readonly idleTimeoutSeconds: pulumi.Output<number>;
  declare readonly drainingTimeoutSeconds: pulumi.Output<number>;
  declare readonly proxyProtocol: pulumi.Output<"off" | "v1" | "v2">;
  declare readonly revisions: pulumi.Output<Record<string, number>>;
  declare readonly divergentNodes: pulumi.Output<DivergentNode[]>;

  constructor(name: string, args: BackendServiceArgs, opts?: pulumi.CustomResourceOptions) {
    const fields = Object.keys(backendServiceType.schema().shape);
    super(
      backendServiceProvider,
      name,
      resourceProps(name, args, fields, []),
      withSecretConnection(opts),
      DYNAMIC_MODULE,
      backendServiceType.typeName,
    );
  }
}
