import type * as pulumi from "@pulumi/pulumi";
import { checkBackendService, modelSchemas, type BackendServiceInput, type BackendServiceSpec } from "../model";
import { ConfigurationResource } from "./configuration-resource";
import { makeProvider } from "./provider-core";
import type { ResourceArgs, SpecOutputs } from "./resource-args";
import type { ResourceType } from "./resource-type";

/** What users read in their IDE for each field (the types come from the schema). */
export interface BackendServiceDocs {
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: unknown;
  /** Free text, at most 256 characters. */
  readonly description?: unknown;
  /** "TCP" (default) or "UDP"; its listeners must have the same. Changing it replaces the service. */
  readonly protocol?: unknown;
  /** 1-65535: the port of members that give none (may repeat across services). */
  readonly port?: unknown;
  /** "IpHash" (weighted source IP, default) or "QuintupleHash" (weighted 5-tuple). */
  readonly algorithm?: unknown;
  /** A HealthCheck's id (TCP or UDP, for either kind of service); unset: a check with the defaults, of the service's protocol. */
  readonly healthCheck?: unknown;
  /** Default true. Off: members show N/A and every enabled member takes traffic. */
  readonly healthCheckEnabled?: unknown;
  /** A VirtualServerGroup's or HighAvailabilityGroup's id; a group binds to at most one service. */
  readonly serverGroup?: unknown;
  /** 1-86400, default 900. */
  readonly idleTimeoutSeconds?: unknown;
  /** 0-3600, default 300. */
  readonly drainingTimeoutSeconds?: unknown;
  /** "off" (default), "v1" or "v2": a PROXY protocol header carrying the client's address to members. TCP only. */
  readonly proxyProtocol?: unknown;
  /** UDP only, 1-3600, unset: 120. A session (client address and port, listener) idle this long is forgotten. */
  readonly udpSessionTimeoutSeconds?: unknown;
}

/** Where a listener's connections go: a server group, a hashing algorithm and a health check. */
export interface BackendServiceArgs extends ResourceArgs<BackendServiceInput, BackendServiceDocs> {}

export const backendServiceType: ResourceType = {
  typeName: "BackendService",
  kind: "backend-services",
  idFallback: "backend-service",
  label: "backend service",
  check: (raw, ctx) => checkBackendService(raw, ctx),
  schema: () => modelSchemas({ allowUnknown: false }).backendService,
};

export const backendServiceProvider: pulumi.dynamic.ResourceProvider = makeProvider(backendServiceType);

export interface BackendService extends SpecOutputs<BackendServiceSpec> {}

export class BackendService extends ConfigurationResource {
  constructor(name: string, args: BackendServiceArgs, opts?: pulumi.CustomResourceOptions) {
    super(backendServiceType, backendServiceProvider, name, args, [], opts);
  }
}
