import * as pulumi from "@pulumi/pulumi";
import { failureWindowSeconds, successWindowSeconds } from "../health";
import { checkHealthCheck, modelSchemas, type HealthCheckSpec, type LoadBalancerConnection } from "../model";
import type { ResourceType } from "./resource-type";
import { makeProvider, type DivergentNode } from "./provider-core";
import { DYNAMIC_MODULE, resourceProps, withSecretConnection } from "./resource-props";

/** A TCP health check; a BackendService refers to it by id. */
export interface HealthCheckArgs {
  /** The LoadBalancer's `connection` output: the nodes to configure. */
  readonly loadBalancer: pulumi.Input<LoadBalancerConnection>;
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: pulumi.Input<string>;
  readonly description?: pulumi.Input<string>;
  /** Only "TCP". Changing it replaces the health check. */
  readonly protocol?: pulumi.Input<"TCP">;
  /** 1-65535; unset: the member's port (for a high-availability group, the service port). */
  readonly port?: pulumi.Input<number>;
  /** 2-60, default 3. */
  readonly timeoutSeconds?: pulumi.Input<number>;
  /** 5-300, default 5. */
  readonly intervalSeconds?: pulumi.Input<number>;
  /** 1-5, default 3. */
  readonly unhealthyThreshold?: pulumi.Input<number>;
  /** 1-5, default 3. */
  readonly healthyThreshold?: pulumi.Input<number>;
}

const COMPUTED = ["failureWindowSeconds", "successWindowSeconds"];

export const healthCheckType: ResourceType = {
  typeName: "HealthCheck",
  kind: "health-checks",
  idFallback: "health-check",
  label: "health check",
  check: (raw, ctx) => checkHealthCheck(raw, ctx),
  schema: () => modelSchemas({ allowUnknown: false }).healthCheck,
  computed: (spec) => {
    const timing = spec as unknown as HealthCheckSpec;
    return { failureWindowSeconds: failureWindowSeconds(timing), successWindowSeconds: successWindowSeconds(timing) };
  },
};

export const healthCheckProvider: pulumi.dynamic.ResourceProvider = makeProvider(healthCheckType);

export class HealthCheck extends pulumi.dynamic.Resource {
  declare readonly loadBalancer: pulumi.Output<LoadBalancerConnection>;
  /** The id on the nodes (also this resource's `id`): the resource name plus a random suffix. */
  declare readonly objectId: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly description: pulumi.Output<string | undefined>;
  declare readonly protocol: pulumi.Output<"TCP">;
  declare readonly port: pulumi.Output<number | undefined>;
  declare readonly timeoutSeconds: pulumi.Output<number>;
  declare readonly intervalSeconds: pulumi.Output<number>;
  declare readonly unhealthyThreshold: pulumi.Output<number>;
  declare readonly healthyThreshold: pulumi.Output<number>;
  /** Worst case from a member failing to traffic leaving it: timeout x unhealthy + interval x (unhealthy - 1). */
  declare readonly failureWindowSeconds: pulumi.Output<number>;
  /** From the first successful probe to traffic returning: interval x (healthy - 1). */
  declare readonly successWindowSeconds: pulumi.Output<number>;
  /** The object's revision on each node (endpoint -> revision). */
  declare readonly revisions: pulumi.Output<Record<string, number>>;
  /** After `pulumi refresh`: nodes whose copy differs from the majority; the next `pulumi up` repairs them. */
  declare readonly divergentNodes: pulumi.Output<DivergentNode[]>;

  constructor(name: string, args: HealthCheckArgs, opts?: pulumi.CustomResourceOptions) {
    const fields = Object.keys(healthCheckType.schema().shape);
    super(healthCheckProvider, name, resourceProps(name, args, fields, COMPUTED), withSecretConnection(opts), DYNAMIC_MODULE, healthCheckType.typeName);
  }
}
