import type { z } from "zod";
import type { CheckContext, CheckResult, Kind } from "../model";

/**
 * A resource type: what differs between the five resources; everything else (fan-out to the
 * nodes, ids, secrets, diff rules) is shared in provider-core.ts. It holds functions only, so it
 * survives Pulumi's closure serialization; schemas are built when a method runs.
 *
 * `kind` keeps the model's one meaning (the collection a node keeps objects in, and its URL
 * segment); two resource types share the kind "server-groups".
 */
export interface ResourceType {
  /** The Pulumi type name, e.g. "HealthCheck". */
  readonly typeName: string;
  /** Where the node keeps it: `/v1/{kind}/{id}`. */
  readonly kind: Kind;
  /** A fresh id's base when the resource name has no ASCII letter or digit to make one from: "health-check". */
  readonly idFallback: string;
  /** How messages name it: "health check". */
  readonly label: string;
  /** The model's preview-mode check. */
  readonly check: (raw: Record<string, unknown>, ctx: CheckContext) => CheckResult;
  /** The strict schema: its keys are the spec fields, its metadata says which changes replace. */
  readonly schema: () => z.ZodObject;
  /** Whether members must lie inside the load balancer's subnets (server groups). */
  readonly usesSubnets?: boolean;
  /** The body the node stores, from the spec fields (server groups add their `type`). */
  readonly toNode?: (spec: Record<string, unknown>) => Record<string, unknown>;
  /** The spec fields from what a node stores; undefined when it is not this resource (another group type). */
  readonly fromNode?: (stored: Record<string, unknown>) => Record<string, unknown> | undefined;
  /** Outputs computed from the spec (health windows, traffic shares). */
  readonly computed?: (spec: Record<string, unknown>) => Record<string, unknown>;
  /** Input-side notes computed in check from the old and new inputs (flows moved); diff ignores them. */
  readonly annotate?: (olds: Record<string, unknown>, news: Record<string, unknown>) => Record<string, unknown>;
  /** Whether a replacement must delete first, given the fields that force it (a listener's port). */
  readonly deleteBeforeReplace?: (replaces: readonly string[]) => boolean;
}
