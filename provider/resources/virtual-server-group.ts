import * as pulumi from "@pulumi/pulumi";
import { checkVirtualServerGroup, modelSchemas, type VirtualServerGroupInput, type VirtualServerGroupSpec } from "../model";
import { ConfigurationResource } from "./configuration-resource";
import { makeProvider } from "./provider-core";
import type { ArgsOf, ResourceArgs, SpecOutputs } from "./resource-args";
import type { ResourceType } from "./resource-type";
import { expectedTrafficShares, flowsMovedFraction, flowsMovedMessage } from "./traffic";

type MemberInput = VirtualServerGroupInput["members"][number];

/** What users read in their IDE for each member field (the types come from the schema). */
export interface VirtualServerGroupMemberDocs {
  /** IPv4 or IPv6 literal (no hostnames). */
  readonly address?: unknown;
  /** 1-65535; unset: the backend service's port. */
  readonly port?: unknown;
  /** 1-100, default 10: the member's share of traffic is proportional to it. */
  readonly weight?: unknown;
  /** Default true; a disabled member takes no new connections. */
  readonly enabled?: unknown;
}

export interface VirtualServerGroupMemberArgs extends ArgsOf<MemberInput, VirtualServerGroupMemberDocs> {}

/** What users read in their IDE for each field (the types come from the schema). */
export interface VirtualServerGroupDocs {
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: unknown;
  /** Free text, at most 256 characters. */
  readonly description?: unknown;
}

/** A weighted group of members; a BackendService refers to it by id. */
export interface VirtualServerGroupArgs extends ResourceArgs<Omit<VirtualServerGroupInput, "members">, VirtualServerGroupDocs> {
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

export interface VirtualServerGroup extends SpecOutputs<VirtualServerGroupSpec> {}

export class VirtualServerGroup extends ConfigurationResource {
  /**
   * Each member's expected share of new flows (0-1) with every member healthy, from the same
   * Maglev table the nodes build; keyed `address:port` (the address alone for a member that
   * uses the service port). Disabled members show 0.
   */
  declare readonly trafficShares: pulumi.Output<Record<string, number>>;

  constructor(name: string, args: VirtualServerGroupArgs, opts?: pulumi.CustomResourceOptions) {
    super(virtualServerGroupType, virtualServerGroupProvider, name, args, COMPUTED, opts);
  }
}
