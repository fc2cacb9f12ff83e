import type * as pulumi from "@pulumi/pulumi";
import type {
  BackendServiceInput,
  BackendServiceSpec,
  HealthCheckInput,
  HealthCheckSpec,
  HighAvailabilityGroupInput,
  ListenerInput,
  LoadBalancerConnection,
  VirtualServerGroupInput,
  VirtualServerGroupSpec,
} from "../../provider/model";
import type {
  BackendService,
  BackendServiceArgs,
  HealthCheck,
  HealthCheckArgs,
  HighAvailabilityGroupArgs,
  HighAvailabilityGroupMemberArgs,
  Listener,
  ListenerArgs,
  VirtualServerGroup,
  VirtualServerGroupArgs,
  VirtualServerGroupMemberArgs,
} from "../../provider/resources";
import type { BackendServiceDocs } from "../../provider/resources/backend-service";
import type { HealthCheckDocs } from "../../provider/resources/health-check";
import type { HighAvailabilityGroupDocs, HighAvailabilityGroupMemberDocs } from "../../provider/resources/high-availability-group";
import type { ListenerDocs } from "../../provider/resources/listener";
import type { VirtualServerGroupDocs, VirtualServerGroupMemberDocs } from "../../provider/resources/virtual-server-group";

/**
 * Compile-time assertions (`npm test` type-checks before it runs anything): each resource's Args,
 * with its Inputs unwrapped, is the schema's input type plus `loadBalancer`, with `name` optional
 * (check fills it); each comment map documents exactly the schema's fields; outputs carry the
 * spec's types. A field added to a schema without its Args, or the reverse, stops compilation.
 */

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
type MutuallyAssignable<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];

/** What a user may pass, as plain values, according to the schema. */
type ExpectedArgs<Input> = Omit<Input, "name"> & { name?: string; loadBalancer: LoadBalancerConnection };

/** Same fields, same required fields, and the same values once Outputs and Promises are unwrapped. */
type SameFields<Actual, Expected> = [
  Equal<keyof Actual, keyof Expected>,
  Equal<RequiredKeys<Actual>, RequiredKeys<Expected>>,
  MutuallyAssignable<pulumi.Unwrap<Actual>, Expected>,
] extends [true, true, true]
  ? true
  : false;

type MatchesSchema<Args, Input> = SameFields<Args, ExpectedArgs<Input>>;

export type ArgsMatchSchemas = [
  Expect<MatchesSchema<HealthCheckArgs, HealthCheckInput>>,
  Expect<MatchesSchema<BackendServiceArgs, BackendServiceInput>>,
  Expect<MatchesSchema<ListenerArgs, ListenerInput>>,
  Expect<MatchesSchema<VirtualServerGroupArgs, VirtualServerGroupInput>>,
  Expect<MatchesSchema<HighAvailabilityGroupArgs, HighAvailabilityGroupInput>>,
  Expect<SameFields<VirtualServerGroupMemberArgs, VirtualServerGroupInput["members"][number]>>,
  // The schema names weight and port only to refuse them with a message: they are no arguments.
  Expect<SameFields<HighAvailabilityGroupMemberArgs, Omit<HighAvailabilityGroupInput["members"][number], "weight" | "port">>>,
];

export type DocsCoverSchemas = [
  Expect<Equal<keyof HealthCheckDocs, keyof HealthCheckInput>>,
  Expect<Equal<keyof BackendServiceDocs, keyof BackendServiceInput>>,
  Expect<Equal<keyof ListenerDocs, keyof ListenerInput>>,
  Expect<Equal<keyof VirtualServerGroupDocs, Exclude<keyof VirtualServerGroupInput, "members">>>,
  Expect<Equal<keyof HighAvailabilityGroupDocs, Exclude<keyof HighAvailabilityGroupInput, "members">>>,
  Expect<Equal<keyof VirtualServerGroupMemberDocs, keyof VirtualServerGroupInput["members"][number]>>,
  Expect<Equal<keyof HighAvailabilityGroupMemberDocs, "address" | "enabled">>,
];

export type OutputsMatchSpecs = [
  Expect<Equal<HealthCheck["timeoutSeconds"], pulumi.Output<number>>>,
  Expect<Equal<HealthCheck["port"], pulumi.Output<number | undefined>>>,
  Expect<Equal<BackendService["algorithm"], pulumi.Output<"IpHash" | "QuintupleHash">>>,
  Expect<Equal<Listener["backendService"], pulumi.Output<string>>>,
  Expect<Equal<VirtualServerGroup["members"], pulumi.Output<VirtualServerGroupSpec["members"]>>>,
  Expect<Equal<Exclude<keyof HealthCheckSpec, keyof HealthCheck>, never>>,
  Expect<Equal<Exclude<keyof BackendServiceSpec, keyof BackendService>, never>>,
  Expect<Equal<Listener["objectId"], pulumi.Output<string>>>,
];

/** The assertions above can fail: each drift below is caught. */
export type DriftIsCaught = [
  // @ts-expect-error an Args field the schema does not have
  Expect<MatchesSchema<ListenerArgs & { readonly extra?: pulumi.Input<number> }, ListenerInput>>,
  // @ts-expect-error a required schema field made optional in Args
  Expect<MatchesSchema<Omit<ListenerArgs, "port"> & { readonly port?: pulumi.Input<number> }, ListenerInput>>,
  // @ts-expect-error a field of another type
  Expect<MatchesSchema<Omit<ListenerArgs, "port"> & { readonly port: pulumi.Input<string> }, ListenerInput>>,
  // @ts-expect-error a schema field missing from Args
  Expect<MatchesSchema<Omit<HealthCheckArgs, "timeoutSeconds">, HealthCheckInput>>,
  // @ts-expect-error a member field of another type
  Expect<SameFields<Omit<VirtualServerGroupMemberArgs, "weight"> & { readonly weight?: pulumi.Input<string> }, VirtualServerGroupInput["members"][number]>>,
];
