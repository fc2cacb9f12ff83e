import type * as pulumi from "@pulumi/pulumi";
import { sharedAdminClient } from "../client";
import { containsUnknown, replaceFields, type CheckFailure } from "../model";
import type { StoredObject } from "../protocol";
import { checkLoadBalancerInput, connectionForState, requireConnection, sameTarget } from "./connection";
import { createEverywhere, deleteEverywhere, putEverywhere, readEverywhere, type NodeView, type Target } from "./fanout";
import { isObjectId, newObjectId } from "./ids";
import type { ResourceType } from "./resource-type";
import { unwrapProps } from "./secrets";
import { changedFields, pick, sameSpec, specKey } from "./spec";

/**
 * The provider methods shared by every resource. Inputs after `check` are the resource's spec
 * fields (defaults filled) plus the bookkeeping below; outputs add what the nodes and the
 * hashing core say (revisions, divergence, computed values).
 */

/** Inputs that are not part of the spec the node stores. */
export const BOOKKEEPING = {
  /** Set by the resource class: the Pulumi resource name (a dynamic provider's check is not told it). */
  resourceName: "__resourceName",
  /** The node object id, made in check and kept across runs. */
  objectId: "objectId",
  connection: "loadBalancer",
  /** "this change moves 12.5% of flows": shown by `pulumi preview --diff`, ignored by diff. */
  flowsMoved: "flowsMoved",
} as const;

const PROVIDER_KEY = "__provider";

/** One node that disagrees with the others, as `read` reports it (output `divergentNodes`). */
export interface DivergentNode {
  readonly endpoint: string;
  readonly problem: "missing" | "different" | "error";
  readonly detail: string;
}

function fieldsOf(type: ResourceType): string[] {
  return Object.keys(type.schema().shape);
}

function nameFailure(resourceName: string): CheckFailure {
  return {
    property: "name",
    reason:
      `name is not set, and the resource name ${JSON.stringify(resourceName)} is not a valid name ` +
      `(1-32 characters of Chinese characters, letters, digits, '-' and '_'): set name explicitly`,
  };
}

export async function checkResource(
  type: ResourceType,
  oldsRaw: unknown,
  newsRaw: unknown,
): Promise<pulumi.dynamic.CheckResult> {
  const olds = unwrapProps(oldsRaw);
  const news = unwrapProps(newsRaw);
  const resourceName = typeof news[BOOKKEEPING.resourceName] === "string" ? (news[BOOKKEEPING.resourceName] as string) : undefined;
  const raw: Record<string, unknown> = { ...news };
  for (const key of [PROVIDER_KEY, ...Object.values(BOOKKEEPING)]) delete raw[key];

  const connection = checkLoadBalancerInput(news[BOOKKEEPING.connection]);
  const model = type.check(raw, {
    defaultName: resourceName,
    subnets: type.usesSubnets ? connection.subnets : undefined,
  });
  const failures = [...connection.failures];
  for (const failure of model.failures) {
    failures.push(failure.property === "name" && raw.name === undefined && resourceName !== undefined ? nameFailure(resourceName) : failure);
  }

  const objectId = isObjectId(olds[BOOKKEEPING.objectId])
    ? (olds[BOOKKEEPING.objectId] as string)
    : newObjectId(resourceName ?? (typeof raw.name === "string" ? raw.name : undefined), type.idFallback);
  const inputs: Record<string, unknown> = {
    ...model.inputs,
    [BOOKKEEPING.connection]: connectionForState(connection.value),
    [BOOKKEEPING.objectId]: objectId,
  };
  if (resourceName !== undefined) inputs[BOOKKEEPING.resourceName] = resourceName;
  if (failures.length === 0 && type.annotate && Object.keys(olds).length > 0) {
    Object.assign(inputs, type.annotate(olds, model.inputs));
  }
  return { inputs, failures };
}

/**
 * Olds are the previous outputs; they are normalized through the model again so that a state
 * written by an older version, or a field the node filled, compares equal to the same intent.
 */
function normalizedSpec(type: ResourceType, source: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  const spec = pick(source, fields);
  const checked = type.check(spec, {});
  return checked.failures.length === 0 ? pick(checked.inputs, fields) : spec;
}

export async function diffResource(
  type: ResourceType,
  _id: string,
  oldsRaw: unknown,
  newsRaw: unknown,
): Promise<pulumi.dynamic.DiffResult> {
  const olds = unwrapProps(oldsRaw);
  const news = unwrapProps(newsRaw);
  const fields = fieldsOf(type);
  const changed = changedFields(normalizedSpec(type, olds, fields), pick(news, fields), fields);
  // Reading the replace fields renders the schema; skip it when nothing changed (the common case).
  const replaceable = new Set(changed.length > 0 ? replaceFields(type.schema()) : []);
  const replaces = changed.filter((field) => replaceable.has(field));
  const divergent = Array.isArray(olds.divergentNodes) && olds.divergentNodes.length > 0;
  const moved = !sameTarget(olds[BOOKKEEPING.connection], news[BOOKKEEPING.connection]);
  const changes = changed.length > 0 || divergent || moved;
  return {
    changes,
    replaces,
    deleteBeforeReplace: replaces.length > 0 && (type.deleteBeforeReplace?.(replaces) ?? false),
  };
}

function describeObject(type: ResourceType, id: string, spec: Record<string, unknown>): string {
  return typeof spec.name === "string" ? `${type.label} ${spec.name} (${id})` : `${type.label} ${id}`;
}

function targetFor(type: ResourceType, id: string, props: Record<string, unknown>, spec: Record<string, unknown>): Target {
  const connection = requireConnection(props[BOOKKEEPING.connection]);
  return {
    client: sharedAdminClient(),
    endpoints: connection.endpoints,
    credentials: { token: connection.token, caCertificate: connection.caCertificate },
    kind: type.kind,
    id,
    what: describeObject(type, id, spec),
  };
}

function nodeBody(type: ResourceType, spec: Record<string, unknown>): Record<string, unknown> {
  return type.toNode ? type.toNode(spec) : spec;
}

function specFromNode(type: ResourceType, stored: StoredObject, fields: readonly string[]): Record<string, unknown> | undefined {
  const spec = type.fromNode ? type.fromNode(stored.spec) : stored.spec;
  return spec === undefined ? undefined : pick(spec, fields);
}

function outputsFor(
  type: ResourceType,
  props: Record<string, unknown>,
  spec: Record<string, unknown>,
  revisions: ReadonlyMap<string, number>,
  divergentNodes: readonly DivergentNode[],
): Record<string, unknown> {
  const outs: Record<string, unknown> = {
    [BOOKKEEPING.connection]: connectionForState(props[BOOKKEEPING.connection]),
    [BOOKKEEPING.objectId]: props[BOOKKEEPING.objectId],
    ...spec,
    ...(type.computed ? type.computed(spec) : {}),
    revisions: Object.fromEntries(revisions),
    divergentNodes: [...divergentNodes],
  };
  if (props[BOOKKEEPING.resourceName] !== undefined) outs[BOOKKEEPING.resourceName] = props[BOOKKEEPING.resourceName];
  return outs;
}

export async function createResource(type: ResourceType, inputsRaw: unknown): Promise<pulumi.dynamic.CreateResult> {
  const inputs = unwrapProps(inputsRaw);
  const fields = fieldsOf(type);
  const spec = pick(inputs, fields);
  if (containsUnknown(spec)) throw new Error(`${type.label}: create called with values not known yet`);
  const id = inputs[BOOKKEEPING.objectId];
  if (!isObjectId(id)) throw new Error(`${type.label}: no object id in the inputs (was check skipped?)`);
  const body = nodeBody(type, spec);
  const revisions = await createEverywhere(targetFor(type, id, inputs, spec), body, (stored) => {
    const held = specFromNode(type, stored, fields);
    return held !== undefined && sameSpec(held, spec, fields);
  });
  return { id, outs: outputsFor(type, inputs, spec, revisions, []) };
}

export async function updateResource(
  type: ResourceType,
  id: string,
  _oldsRaw: unknown,
  newsRaw: unknown,
): Promise<pulumi.dynamic.UpdateResult> {
  const news = unwrapProps(newsRaw);
  const fields = fieldsOf(type);
  const spec = pick(news, fields);
  if (containsUnknown(spec)) throw new Error(`${type.label}: update called with values not known yet`);
  const revisions = await putEverywhere(targetFor(type, id, news, spec), nodeBody(type, spec));
  return { outs: outputsFor(type, { ...news, [BOOKKEEPING.objectId]: id }, spec, revisions, []) };
}

export async function deleteResource(type: ResourceType, id: string, propsRaw: unknown): Promise<void> {
  const props = unwrapProps(propsRaw);
  await deleteEverywhere(targetFor(type, id, props, pick(props, fieldsOf(type))));
}

/**
 * `pulumi refresh`: gone from every node means gone; otherwise the spec most nodes hold wins
 * (ties go to the spec in the state), and every node that differs is listed in
 * `divergentNodes`, which makes the next `pulumi up` push the object to every node again.
 */
export async function readResource(type: ResourceType, id: string, propsRaw: unknown): Promise<pulumi.dynamic.ReadResult> {
  const props = unwrapProps(propsRaw);
  const fields = fieldsOf(type);
  const previous = pick(props, fields);
  const views = await readEverywhere(targetFor(type, id, props, previous));

  type Held = { endpoint: string; spec: Record<string, unknown>; revision: number; key: string };
  const held: Held[] = [];
  const divergent: DivergentNode[] = [];
  for (const view of views) {
    if (view.state === "present") {
      const spec = specFromNode(type, view.stored, fields);
      if (spec === undefined) {
        divergent.push({ endpoint: view.endpoint, problem: "different", detail: `holds another kind of object under ${id}` });
      } else {
        held.push({ endpoint: view.endpoint, spec, revision: view.stored.revision, key: specKey(spec, fields) });
      }
    } else if (view.state === "missing") {
      divergent.push({ endpoint: view.endpoint, problem: "missing", detail: `has no ${type.label} ${id}` });
    } else {
      divergent.push({ endpoint: view.endpoint, problem: "error", detail: view.error });
    }
  }

  if (held.length === 0) {
    const errors = views.filter((v): v is Extract<NodeView, { state: "error" }> => v.state === "error");
    if (errors.length === 0) return {}; // gone from every node: Pulumi drops it from the state
    throw new Error(
      `refreshing ${describeObject(type, id, previous)}: no reachable node holds it, and ${errors.length} node(s) could not be read, ` +
        `so it is not known whether it still exists:\n${errors.map((e) => `  - ${e.error}`).join("\n")}`,
    );
  }

  const winner = majority(held, specKey(previous, fields));
  for (const h of held) {
    if (h.key !== winner.key) {
      const differing = changedFields(h.spec, winner.spec, fields);
      divergent.push({ endpoint: h.endpoint, problem: "different", detail: `differs in ${differing.join(", ")} (revision ${h.revision})` });
    }
  }
  divergent.sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0));
  const revisions = new Map(held.map((h) => [h.endpoint, h.revision]));
  const outs = outputsFor(type, { ...props, [BOOKKEEPING.objectId]: id }, winner.spec, revisions, divergent);
  const inputs: Record<string, unknown> = {
    ...winner.spec,
    [BOOKKEEPING.connection]: connectionForState(props[BOOKKEEPING.connection]),
    [BOOKKEEPING.objectId]: id,
  };
  if (props[BOOKKEEPING.resourceName] !== undefined) inputs[BOOKKEEPING.resourceName] = props[BOOKKEEPING.resourceName];
  return { id, props: outs, inputs };
}

/** The spec held by the most nodes; a tie goes to the one equal to the state's, then to the first node's. */
function majority<T extends { key: string }>(held: readonly T[], previousKey: string): T {
  const counts = new Map<string, number>();
  for (const h of held) counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
  let best = held[0];
  for (const h of held) {
    const c = counts.get(h.key) ?? 0;
    const b = counts.get(best.key) ?? 0;
    if (c > b || (c === b && h.key === previousKey && best.key !== previousKey)) best = h;
  }
  return best;
}

/** The provider object `pulumi.dynamic.Resource` serializes: one per resource type. */
export function makeProvider(type: ResourceType): pulumi.dynamic.ResourceProvider {
  return {
    check: (olds, news) => checkResource(type, olds, news),
    diff: (id, olds, news) => diffResource(type, id, olds, news),
    create: (inputs) => createResource(type, inputs),
    read: (id, props) => readResource(type, id, props),
    update: (id, olds, news) => updateResource(type, id, olds, news),
    delete: (id, props) => deleteResource(type, id, props),
  };
}
