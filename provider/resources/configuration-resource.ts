import * as pulumi from "@pulumi/pulumi";
import type { LoadBalancerConnection } from "../model";
import { BOOKKEEPING, type DivergentNode } from "./provider-core";
import type { ResourceType } from "./resource-type";

/**
 * The program side of the five configuration resources (runs in the Pulumi program only, never
 * serialized): the outputs every one of them has, and how each registers with its provider, with
 * the admin token kept secret. Each subclass merges in its spec fields' outputs from the schema
 * (`SpecOutputs`). Outputs are `declare`d: a plain field would be set to undefined after
 * `super()` returns (ES2022 class fields), wiping the Output the SDK has just set.
 */
export abstract class ConfigurationResource extends pulumi.dynamic.Resource {
  /** The LoadBalancer's `connection` (kept secret in the state: it holds the admin token). */
  declare readonly loadBalancer: pulumi.Output<LoadBalancerConnection>;
  /** The id on the nodes (also this resource's `id`): the resource name plus a random suffix. */
  declare readonly objectId: pulumi.Output<string>;
  /** The object's revision on each node (endpoint -> revision). */
  declare readonly revisions: pulumi.Output<Record<string, number>>;
  /** After `pulumi refresh`: nodes whose copy differs from the majority; the next `pulumi up` repairs them. */
  declare readonly divergentNodes: pulumi.Output<DivergentNode[]>;

  /** `computedOutputs` names the outputs the provider computes from the spec beyond the common ones. */
  protected constructor(
    type: ResourceType,
    provider: pulumi.dynamic.ResourceProvider,
    name: string,
    args: object,
    computedOutputs: readonly string[],
    opts: pulumi.CustomResourceOptions | undefined,
  ) {
    const fields = Object.keys(type.schema().shape);
    super(provider, name, resourceProps(name, args, fields, computedOutputs), withSecretConnection(opts), DYNAMIC_MODULE, type.typeName);
  }
}

/** Outputs every resource has besides its spec fields. */
export const COMMON_OUTPUTS = ["objectId", "revisions", "divergentNodes"] as const satisfies readonly (keyof ConfigurationResource)[];

/**
 * The props handed to `pulumi.dynamic.Resource`: every spec field and computed output is
 * listed (as undefined when not given) so that the SDK creates an output for it, and the
 * resource name travels as an input because a dynamic provider's `check` is not told it.
 */
export function resourceProps(
  resourceName: string,
  args: object,
  specFields: readonly string[],
  computedOutputs: readonly string[],
): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const key of [...specFields, ...COMMON_OUTPUTS, ...computedOutputs]) props[key] = undefined;
  Object.assign(props, args);
  props[BOOKKEEPING.resourceName] = resourceName;
  return props;
}

/** The connection holds the admin token: keep the `loadBalancer` output secret in the state. */
export function withSecretConnection(opts: pulumi.CustomResourceOptions | undefined): pulumi.CustomResourceOptions {
  return pulumi.mergeOptions(opts, { additionalSecretOutputs: [BOOKKEEPING.connection] });
}

/** The Pulumi type is `pulumi-nodejs:dynamic/dnlb:<TypeName>`. */
export const DYNAMIC_MODULE = "dnlb";
