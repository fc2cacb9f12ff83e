import * as pulumi from "@pulumi/pulumi";
import { BOOKKEEPING } from "./provider-core";

/**
 * The program side of every resource class: which properties become outputs, and the options
 * that keep the admin token secret. (Runs in the Pulumi program only; never serialized.)
 */

/** Outputs every resource has besides its spec fields. */
export const COMMON_OUTPUTS = ["objectId", "revisions", "divergentNodes"] as const;

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
