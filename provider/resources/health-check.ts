import * as pulumi from "@pulumi/pulumi";
import { failureWindowSeconds, successWindowSeconds } from "../health";
import { checkHealthCheck, modelSchemas, type HealthCheckInput, type HealthCheckSpec } from "../model";
import { ConfigurationResource } from "./configuration-resource";
import { makeProvider } from "./provider-core";
import type { ResourceArgs, SpecOutputs } from "./resource-args";
import type { ResourceType } from "./resource-type";

/** What users read in their IDE for each field (the types come from the schema). */
export interface HealthCheckDocs {
  /** 1-32 characters; default: the Pulumi resource name. */
  readonly name?: unknown;
  /** Free text, at most 256 characters. */
  readonly description?: unknown;
  /** "TCP" (default: a connect) or "UDP" (a datagram; an ICMP port-unreachable fails it). Changing it replaces the health check. */
  readonly protocol?: unknown;
  /** 1-65535; unset: the member's port (for a high-availability group, the service port). */
  readonly port?: unknown;
  /** 2-60, default 3: a probe that has not connected by then fails. */
  readonly timeoutSeconds?: unknown;
  /** 5-300, default 5: the wait from one probe's end to the next one's start. */
  readonly intervalSeconds?: unknown;
  /** 1-5, default 3: consecutive failures that make a member Unhealthy. */
  readonly unhealthyThreshold?: unknown;
  /** 1-5, default 3: consecutive successes that make a member Healthy again. */
  readonly healthyThreshold?: unknown;
  /** UDP only, 1-500 bytes: sent as the probe datagram; the check then passes only on an answer within the timeout. */
  readonly udpRequest?: unknown;
  /** UDP only, with udpRequest, 1-500 bytes: the answer must equal it; unset: any answer passes. */
  readonly udpExpectedResponse?: unknown;
}

/** A TCP or UDP health check; a BackendService refers to it by id. */
export interface HealthCheckArgs extends ResourceArgs<HealthCheckInput, HealthCheckDocs> {}

const COMPUTED = ["failureWindowSeconds", "successWindowSeconds"];

export const healthCheckType: ResourceType = {
  typeName: "HealthCheck",
  kind: "health-checks",
  idFallback: "health-check",
  label: "health check",
  check: (raw, ctx) => checkHealthCheck(raw, ctx),
  schema: () => modelSchemas({ allowUnknown: false }).healthCheck,
  computed: (spec) => {
    const timing = spec as unknown as HealthCheckSpec;
    return { failureWindowSeconds: failureWindowSeconds(timing), successWindowSeconds: successWindowSeconds(timing) };
  },
};

export const healthCheckProvider: pulumi.dynamic.ResourceProvider = makeProvider(healthCheckType);

export interface HealthCheck extends SpecOutputs<HealthCheckSpec> {}

export class HealthCheck extends ConfigurationResource {
  /** Worst case from a member failing to traffic leaving it: timeout x unhealthy + interval x (unhealthy - 1). */
  declare readonly failureWindowSeconds: pulumi.Output<number>;
  /** From the first successful probe to traffic returning: interval x (healthy - 1). */
  declare readonly successWindowSeconds: pulumi.Output<number>;

  constructor(name: string, args: HealthCheckArgs, opts?: pulumi.CustomResourceOptions) {
    super(healthCheckType, healthCheckProvider, name, args, COMPUTED, opts);
  }
}
