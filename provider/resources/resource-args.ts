import type * as pulumi from "@pulumi/pulumi";
import type { LoadBalancerConnection } from "../model";

/**
 * The user-facing types of the five configuration resources, derived from the model's schemas:
 * Args from the `z.input` types, outputs from the `z.output` (spec) types, so that a field added,
 * renamed or retyped there changes the resource with it. A comment cannot be derived from a
 * schema, so each resource keeps a short comment map (its `...Docs` interface) that adds only the
 * JSDoc users see in their IDE; test/resources/args-types.ts stops compiling when they drift.
 */

/** A plain value as a user may pass it: lists and objects may hold Outputs at any depth. */
type ArgValue<T> = T extends readonly (infer E)[] ? pulumi.Input<ArgValue<E>>[] : T extends object ? InputsOf<T> : T;

/**
 * Each field of `T` as a `pulumi.Input`, with the same optionality. A field whose only allowed
 * value is `undefined` (a high-availability member's `weight`, refused with a message) is left out.
 */
export type InputsOf<T> = {
  readonly [K in keyof T as [Exclude<T[K], undefined>] extends [never] ? never : K]: pulumi.Input<ArgValue<Exclude<T[K], undefined>>>;
};

/** A comment map: one optional key per field of `Input`, whose JSDoc is the field's (the value type is never read). */
export type FieldDocs<Input> = { readonly [K in keyof Input]?: unknown };

/** The fields of `Input` as Inputs, with the JSDoc of `Docs`. */
export type ArgsOf<Input, Docs extends FieldDocs<Input>> = InputsOf<Input> & Docs;

/** Fields `check` fills when they are not given: `name` defaults to the Pulumi resource name. */
export type FilledByCheck = "name";

/** Every resource's first argument. */
export interface LoadBalancerArgs {
  /** The LoadBalancer's `connection` output: the nodes to configure. */
  readonly loadBalancer: pulumi.Input<LoadBalancerConnection>;
}

/** A configuration resource's Args: the load balancer, then the schema's fields (`name` optional). */
export type ResourceArgs<Input, Docs extends FieldDocs<Input>> = LoadBalancerArgs &
  InputsOf<Omit<Input, FilledByCheck>> &
  InputsOf<Partial<Pick<Input, FilledByCheck & keyof Input>>> &
  Docs;

/**
 * The spec fields as outputs: every field is present (an unset optional one is `undefined`).
 * Mapping over `keyof Required<Spec>` keeps `undefined` in an optional field's type, as `-?` would not.
 */
export type SpecOutputs<Spec> = { readonly [K in keyof Required<Spec>]: pulumi.Output<Spec[K]> };
