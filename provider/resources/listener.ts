import * as pulumi from "@pulumi/pulumi";
import { checkListener, modelSchemas, type LoadBalancerConnection } from "../model";
import type { ResourceType } from "./resource-type";
import { makeProvider, type DivergentNode } from "./provider-core";
import { DYNAMIC_MODULE, resourceProps, withSecretConnection } from "./resource-props";

/** A TCP port on every node, forwarding to a backend service. */
export interface ListenerArgs {
  readonly loadBalancer: pulumi.Input<LoadBalancerConnection>;
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: pulumi.Input<string>;
  readonly description?: pulumi.Input<string>;
  /** Only "TCP". Changing it replaces the listener. */
  readonly protocol?: pulumi.Input<"TCP">;
  /** 1-65535, unique per load balancer. Changing it replaces the listener (the old one is deleted first). */
  readonly port: pulumi.Input<number>;
  /** A BackendService's id. */
  readonly backendService: pulumi.Input<string>;
}

export const listenerType: ResourceType = {
  typeName: "Listener",
  kind: "listeners",
  idFallback: "listener",
  label: "listener",
  check: (raw, ctx) => checkListener(raw, ctx),
  schema: () => modelSchemas({ allowUnknown: false }).listener,
  // A node refuses two listeners on one port, so a listener moving to a new port must give up
  // the old one first; the same holds for any replacement that keeps the port.
  deleteBeforeReplace: () => true,
};

export const listenerProvider: pulumi.dynamic.ResourceProvider = makeProvider(listenerType);

export class Listener extends pulumi.dynamic.Resource {
  declare readonly loadBalancer: pulumi.Output<LoadBalancerConnection>;
  /** The id on the nodes (also this resource's `id`). */
  declare readonly objectId: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly description: pulumi.Output<string | undefined>;
  declare readonly protocol: pulumi.Output<"TCP">;
  declare readonly port: pulumi.Output<number>;
  declare readonly backendService: pulumi.Output<string>;
  declare readonly revisions: pulumi.Output<Record<string, number>>;
  declare readonly divergentNodes: pulumi.Output<DivergentNode[]>;

  constructor(name: string, args: ListenerArgs, opts?: pulumi.CustomResourceOptions) {
    const fields = Object.keys(listenerType.schema().shape);
    super(listenerProvider, name, resourceProps(name, args, fields, []), withSecretConnection(opts), DYNAMIC_MODULE, listenerType.typeName);
  }
}
