import type * as pulumi from "@pulumi/pulumi";
import { checkListener, modelSchemas, type ListenerInput, type ListenerSpec } from "../model";
import { ConfigurationResource } from "./configuration-resource";
import { makeProvider } from "./provider-core";
import type { ResourceArgs, SpecOutputs } from "./resource-args";
import type { ResourceType } from "./resource-type";

/** What users read in their IDE for each field (the types come from the schema). */
export interface ListenerDocs {
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: unknown;
  /** Free text, at most 256 characters. */
  readonly description?: unknown;
  /** "TCP" (default) or "UDP", the same as its backend service's. Changing it replaces the listener. */
  readonly protocol?: unknown;
  /** 1-65535, unique per load balancer and protocol. Changing it replaces the listener (the old one is deleted first). */
  readonly port?: unknown;
  /** A BackendService's id. */
  readonly backendService?: unknown;
}

/** A TCP or UDP port on every node, forwarding to a backend service of the same protocol. */
export interface ListenerArgs extends ResourceArgs<ListenerInput, ListenerDocs> {}

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

export interface Listener extends SpecOutputs<ListenerSpec> {}

export class Listener extends ConfigurationResource {
  constructor(name: string, args: ListenerArgs, opts?: pulumi.CustomResourceOptions) {
    super(listenerType, listenerProvider, name, args, [], opts);
  }
}
