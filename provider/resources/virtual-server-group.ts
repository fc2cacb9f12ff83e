import * as pulumi from "@pulumi/pulumi";
import { checkVirtualServerGroup, modelSchemas, type LoadBalancerConnection, type VirtualMember } from "../model";
import type { ResourceType } from "./resource-type";
import { makeProvider, type DivergentNode } from "./provider-core";
import { DYNAMIC_MODULE, resourceProps, withSecretConnection } from "./resource-props";
import { expectedTrafficShares, flowsMovedFraction, flowsMovedMessage } from "./traffic";

export interface VirtualServerGroupMemberArgs {
  /** IPv4 or IPv6 literal (no hostnames). */
  readonly address: pulumi.Input<string>;
  /** 1-65535; unset: the backend service's port. */
  readonly port?: pulumi.Input<number>;
  /** 1-100, default 10: the member's share of traffic is proportional to it. */
  readonly weight?: pulumi.Input<number>;
  /** Default true; a disabled member takes no new connections. */
  readonly enabled?: pulumi.Input<boolean>;
}

/** A weighted group of members; a BackendService refers to it by id. */
export interface VirtualServerGroupArgs {
  readonly loadBalancer: pulumi.Input<LoadBalancerConnection>;
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: pulumi.Input<string>;
  readonly description?: pulumi.Input<string>;
  /** 1-1000 members, unique by (address, port), inside the load balancer's subnets if it declares them. */
  readonly members: pulumi.Input<pulumi.Input<VirtualServerGroupMemberArgs>[]>;
}

const COMPUTED = ["trafficShares"];

export const virtualServerGroupType: ResourceType = {
  typeName: "VirtualServerGroup",
  kind: "server-groups",
  idFallback: "server-group",
  label: "virtual server group",
  check: (raw, ctx) => checkVirtualServerGroup(raw, ctx),
  schema: () => modelSchemas({ allowUnknown: false }).virtualServerGroup,
  usesSubnets: true,
  toNode: (spec) => ({ type: "virtual", ...spec }),
  fromNode: (stored) => {
    if (stored.type !== "virtual") return undefined;
    const { type: _type, ...spec } = stored;
    return spec;
  },
  computed: (spec) => ({ trafficShares: expectedTrafficShares(spec.members, true) ?? {} }),
  annotate: (olds, news) => {
    const fraction = flowsMovedFraction(olds.members, news.members, true);
    return fraction === undefined ? {} : { flowsMoved: flowsMovedMessage(fraction) };
  },
};

export const virtualServerGroupProvider: pulumi.dynamic.ResourceProvider = makeProvider(virtualServerGroupType);

export class VirtualServerGroup extends pulumi.dynamic.Resource {
  declare readonly loadBalancer: pulumi.Output<LoadBalancerConnection>;
  /** The id on the nodes (also this resource's `id`). */
  declare readonly objectId: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly description: pulumi.Output<string | undefined>;
  declare readonly members: pulumi.Output<VirtualMember[]>;
  /**
   * Each member's expected share of new flows (0-1) with every member healthy, from the same
   * Maglev table the nodes build; keyed `address:port` (the address alone for a member that
   * uses the service port). Disabled members show 0.
   */
  declare readonly trafficShares: pulumi.Output<Record<string, number>>;
  declare readonly revisions: pulumi.Output<Record<string, number>>;
  declare readonly divergentNodes: pulumi.Output<DivergentNode[]>;

  constructor(name: string, args: VirtualServerGroupArgs, opts?: pulumi.CustomResourceOptions) {
    const fields = Object.keys(virtualServerGroupType.schema().shape);
    super(
      virtualServerGroupProvider,
      name,
      resourceProps(name, args, fields, COMPUTED),
      withSecretConnection(opts),
      DYNAMIC_MODULE,
      virtualServerGroupType.typeName,
    );
  }
}
