import * as pulumi from "@pulumi/pulumi";
import { checkHighAvailabilityGroup, modelSchemas, type HighAvailabilityMember, type LoadBalancerConnection } from "../model";
import type { ResourceType } from "./resource-type";
import { makeProvider, type DivergentNode } from "./provider-core";
import { DYNAMIC_MODULE, resourceProps, withSecretConnection } from "./resource-props";
import { expectedTrafficShares, flowsMovedFraction, flowsMovedMessage } from "./traffic";

export interface HighAvailabilityGroupMemberArgs {
  /** IPv4 or IPv6 literal (no hostnames). Members take no weight or port: all weigh the same and use the service port. */
  readonly address: pulumi.Input<string>;
  /** Default true; a disabled member takes no new connections. */
  readonly enabled?: pulumi.Input<boolean>;
}

/** A group of equal members on the backend service's port; a BackendService refers to it by id. */
export interface HighAvailabilityGroupArgs {
  readonly loadBalancer: pulumi.Input<LoadBalancerConnection>;
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: pulumi.Input<string>;
  readonly description?: pulumi.Input<string>;
  /** 1-1000 members, unique by address. */
  readonly members: pulumi.Input<pulumi.Input<HighAvailabilityGroupMemberArgs>[]>;
}

const COMPUTED = ["trafficShares"];

export const highAvailabilityGroupType: ResourceType = {
  typeName: "HighAvailabilityGroup",
  kind: "server-groups",
  idFallback: "server-group",
  label: "high-availability group",
  check: (raw, ctx) => checkHighAvailabilityGroup(raw, ctx),
  schema: () => modelSchemas({ allowUnknown: false }).highAvailabilityGroup,
  usesSubnets: true,
  toNode: (spec) => ({ type: "high-availability", ...spec }),
  fromNode: (stored) => {
    if (stored.type !== "high-availability") return undefined;
    const { type: _type, ...spec } = stored;
    return spec;
  },
  computed: (spec) => ({ trafficShares: expectedTrafficShares(spec.members, false) ?? {} }),
  annotate: (olds, news) => {
    const fraction = flowsMovedFraction(olds.members, news.members, false);
    return fraction === undefined ? {} : { flowsMoved: flowsMovedMessage(fraction) };
  },
};

export const highAvailabilityGroupProvider: pulumi.dynamic.ResourceProvider = makeProvider(highAvailabilityGroupType);

export class HighAvailabilityGroup extends pulumi.dynamic.Resource {
  declare readonly loadBalancer: pulumi.Output<LoadBalancerConnection>;
  /** The id on the nodes (also this resource's `id`). */
  declare readonly objectId: pulumi.Output<string>;
  declare readonly name: pulumi.Output<string>;
  declare readonly description: pulumi.Output<string | undefined>;
  declare readonly members: pulumi.Output<HighAvailabilityMember[]>;
  /** Each member's expected share of new flows (0-1) with every member healthy, keyed by address. */
  declare readonly trafficShares: pulumi.Output<Record<string, number>>;
  declare readonly revisions: pulumi.Output<Record<string, number>>;
  declare readonly divergentNodes: pulumi.Output<DivergentNode[]>;

  constructor(name: string, args: HighAvailabilityGroupArgs, opts?: pulumi.CustomResourceOptions) {
    const fields = Object.keys(highAvailabilityGroupType.schema().shape);
    super(
      highAvailabilityGroupProvider,
      name,
      resourceProps(name, args, fields, COMPUTED),
      withSecretConnection(opts),
      DYNAMIC_MODULE,
      highAvailabilityGroupType.typeName,
    );
  }
}
