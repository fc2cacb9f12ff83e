import * as pulumi from "@pulumi/pulumi";
import { checkHighAvailabilityGroup, modelSchemas, type HighAvailabilityGroupInput, type HighAvailabilityGroupSpec } from "../model";
import { ConfigurationResource } from "./configuration-resource";
import { makeProvider } from "./provider-core";
import type { ArgsOf, ResourceArgs, SpecOutputs } from "./resource-args";
import type { ResourceType } from "./resource-type";
import { expectedTrafficShares, flowsMovedFraction, flowsMovedMessage } from "./traffic";

type MemberInput = HighAvailabilityGroupInput["members"][number];

/** What users read in their IDE for each member field (the types come from the schema). */
export interface HighAvailabilityGroupMemberDocs {
  /** IPv4 or IPv6 literal (no hostnames). Members take no weight or port: all weigh the same and use the service port. */
  readonly address?: unknown;
  /** Default true; a disabled member takes no new connections. */
  readonly enabled?: unknown;
}

export interface HighAvailabilityGroupMemberArgs extends ArgsOf<MemberInput, HighAvailabilityGroupMemberDocs> {}

/** What users read in their IDE for each field (the types come from the schema). */
export interface HighAvailabilityGroupDocs {
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: unknown;
  /** Free text, at most 256 characters. */
  readonly description?: unknown;
}

/** A group of equal members on the backend service's port; a BackendService refers to it by id. */
export interface HighAvailabilityGroupArgs extends ResourceArgs<Omit<HighAvailabilityGroupInput, "members">, HighAvailabilityGroupDocs> {
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

export interface HighAvailabilityGroup extends SpecOutputs<HighAvailabilityGroupSpec> {}

export class HighAvailabilityGroup extends ConfigurationResource {
  /** Each member's expected share of new flows (0-1) with every member healthy, keyed by address. */
  declare readonly trafficShares: pulumi.Output<Record<string, number>>;

  constructor(name: string, args: HighAvailabilityGroupArgs, opts?: pulumi.CustomResourceOptions) {
    super(highAvailabilityGroupType, highAvailabilityGroupProvider, name, args, COMPUTED, opts);
  }
}
