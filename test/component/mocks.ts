import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import { LoadBalancerArgsError } from "../../provider/resources/load-balancer";
import {
  adminCertificatesProvider,
  type AdminCertificatesInputs,
  type AdminCertificatesOutputs,
} from "../../provider/resources/admin-certificates-resource";

export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
  readonly provider?: string;
  readonly id: string;
}

/**
 * A mocked engine that records every resource registered, and answers with the outputs the real
 * providers would compute (image digests, container ids, generated secrets). Admin certificates
 * come from the real dynamic provider: created on a name's first registration, updated from the
 * stored outputs on the next, as a second `pulumi up` would.
 */
export class RecordingMocks implements pulumi.runtime.Mocks {
  public readonly registered: Registered[] = [];
  /** Changes container ids, as a replacement would. */
  public containerEpoch = 1;
  /** The stored outputs of each AdminCertificates resource, by name: what the next run updates from. */
  public readonly certificateState = new Map<string, { id: string; outs: AdminCertificatesOutputs }>();

  async newResource(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string; state: Record<string, unknown> }> {
    if (args.type === "pulumi-nodejs:dynamic/dnlb:AdminCertificates") return this.adminCertificates(args);
    return this.record(args);
  }

  private async adminCertificates(args: pulumi.runtime.MockResourceArgs): Promise<{ id: string; state: Record<string, unknown> }> {
    const news = { nodes: (args.inputs as AdminCertificatesInputs).nodes };
    const failures = (await adminCertificatesProvider.check!({} as AdminCertificatesInputs, news)).failures ?? [];
    if (failures.length > 0) throw new Error(`AdminCertificates ${args.name} failed check: ${JSON.stringify(failures)}`);
    const stored = this.certificateState.get(args.name);
    let id: string;
    let outs: AdminCertificatesOutputs;
    if (stored === undefined) {
      const created = await adminCertificatesProvider.create!(news);
      id = created.id;
      outs = created.outs as AdminCertificatesOutputs;
    } else {
      id = stored.id;
      const diff = await adminCertificatesProvider.diff!(id, stored.outs, news);
      outs = diff.changes ? ((await adminCertificatesProvider.update!(id, stored.outs, news)).outs as AdminCertificatesOutputs) : stored.outs;
    }
    this.certificateState.set(args.name, { id, outs });
    this.registered.push({ type: args.type, name: args.name, inputs: args.inputs as Record<string, unknown>, provider: args.provider, id });
    return { id, state: { ...args.inputs, ...outs } };
  }

  private record(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
    const inputs = args.inputs as Record<string, unknown>;
    let id = `${args.name}-id`;
    let state: Record<string, unknown> = { ...inputs };
    switch (args.type) {
      case "docker:index/image:Image":
        state = { ...inputs, repoDigest: `sha256:built-${args.name}` };
        break;
      case "docker:index/remoteImage:RemoteImage":
        state = { ...inputs, imageId: `sha256:pulled-${args.name}` };
        break;
      case "docker:index/container:Container":
        id = `container-${args.name}-${this.containerEpoch}`;
        break;
      default:
        if (args.type.startsWith("pulumi-nodejs:")) {
          state = { ...inputs, token: `generated-token-for-${args.name}`, hashSeed: "00112233445566778899aabbccddeeff" };
        }
    }
    this.registered.push({ type: args.type, name: args.name, inputs, provider: args.provider, id });
    return { id, state };
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
    return args.inputs as Record<string, unknown>;
  }

  ofType(type: string): Registered[] {
    return this.registered.filter((r) => r.type === type);
  }

  named(name: string): Registered {
    const found = this.registered.find((r) => r.name === name);
    if (found === undefined) throw new Error(`no resource named ${name}; registered: ${this.registered.map((r) => r.name).join(", ")}`);
    return found;
  }
}

export interface Child {
  readonly type: string;
  readonly name: string;
  readonly props: pulumi.Inputs;
  readonly opts: pulumi.ResourceOptions;
  readonly resource: pulumi.Resource;
}

/**
 * A transformation that records each child as the component hands it to the SDK: the raw
 * inputs, so a test can ask whether an input is a secret output before it is serialized.
 */
export function recordChildren(into: Child[]): pulumi.ResourceTransformation {
  return (args) => {
    into.push({ type: args.type, name: args.name, props: args.props, opts: args.opts, resource: args.resource });
    return undefined;
  };
}

/** Asserts that `create` refuses its arguments (a LoadBalancerArgsError matching `pattern`) before registering anything. */
export function assertArgsRefused(mocks: RecordingMocks, create: () => unknown, pattern: RegExp): void {
  const before = mocks.registered.length;
  assert.throws(create, (err: unknown) => err instanceof LoadBalancerArgsError && pattern.test(err.message));
  assert.equal(mocks.registered.length, before, "nothing was registered");
}
