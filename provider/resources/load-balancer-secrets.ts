import * as pulumi from "@pulumi/pulumi";
import { randomBytes } from "node:crypto";

/**
 * The load balancer's generated secrets: the admin API bearer token and the keyed hash seed.
 *
 * They are drawn once, when the resource is created, and then live in the Pulumi state: every
 * later run reads the same values, so nodes keep their token and every node keeps hashing flows
 * onto the same members. Only `pulumi destroy` (or replacing this resource) draws new ones.
 * A dynamic resource instead of @pulumi/random: no extra plugin to download.
 */

export interface GeneratedSecrets {
  /** 256 random bits, base64url: at least the 16 characters the model asks of a given token. */
  readonly token: string;
  /** 128 random bits as the 32 hex characters the forwarder's SipHash key takes. */
  readonly hashSeed: string;
}

// Not exported: the provider's functions are serialized with what they capture, and a reference
// to this module's `exports` would drag the whole module (and the Pulumi SDK) along.
const TOKEN_BYTES = 32;
const SEED_BYTES = 16;

export const generatedSecretsProvider: pulumi.dynamic.ResourceProvider<Record<string, never>, GeneratedSecrets> = {
  async create() {
    const outs: GeneratedSecrets = {
      token: randomBytes(TOKEN_BYTES).toString("base64url"),
      hashSeed: randomBytes(SEED_BYTES).toString("hex"),
    };
    // The id names the values without revealing them.
    return { id: `dnlb-secrets-${randomBytes(8).toString("hex")}`, outs };
  },
  async diff() {
    // No inputs: nothing a program changes may redraw the secrets.
    return { changes: false };
  },
  async read(id, props) {
    // The values exist only in the state: a refresh keeps them.
    return { id, props };
  },
};

export class GeneratedSecretsResource extends pulumi.dynamic.Resource {
  // `declare`: with ES2022 class fields a plain declaration would reset the outputs the base constructor set.
  declare public readonly token: pulumi.Output<string>;
  declare public readonly hashSeed: pulumi.Output<string>;

  constructor(name: string, opts?: pulumi.CustomResourceOptions) {
    super(
      generatedSecretsProvider,
      name,
      { token: undefined, hashSeed: undefined },
      { ...opts, additionalSecretOutputs: ["token", "hashSeed"] },
      "dnlb",
      "GeneratedSecrets",
    );
  }
}
