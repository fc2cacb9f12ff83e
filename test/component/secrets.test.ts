import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import { generatedSecretsProvider, GeneratedSecrets } from "../../provider/resources/load-balancer-secrets";
import { checkLoadBalancerArgs } from "../../provider/model";

type SecretsProvider = typeof generatedSecretsProvider;

/**
 * Pulumi runs a dynamic provider from its serialized closure in a separate host process; this
 * loads the provider the same way (from the serialized text alone) and calls it.
 */
async function loadSerialized(): Promise<{ provider: SecretsProvider; text: string }> {
  const serialized = await pulumi.runtime.serializeFunction(() => generatedSecretsProvider);
  const exports: Record<string, () => SecretsProvider> = {};
  new Function("exports", "require", serialized.text)(exports, require);
  return { provider: exports[serialized.exportName](), text: serialized.text };
}

describe("generated LoadBalancer secrets (dynamic provider)", function () {
  it("survives closure serialization without dragging the Pulumi SDK along", async function () {
    const { provider, text } = await loadSerialized();
    assert.ok(!text.includes("@pulumi/pulumi"), "the serialized provider requires the Pulumi SDK");
    assert.ok(text.length < 10_000, `serialized provider is ${text.length} characters`);
    const created = await provider.create!({});
    assert.match(created.id, /^dnlb-secrets-[0-9a-f]{16}$/);
  });

  it("draws a token and seed the model accepts, different on every create", async function () {
    const { provider } = await loadSerialized();
    const a = (await provider.create!({})).outs as GeneratedSecrets;
    const b = (await provider.create!({})).outs as GeneratedSecrets;
    assert.match(a.token, /^[A-Za-z0-9_-]{43}$/, "256 bits in base64url");
    assert.match(a.hashSeed, /^[0-9a-f]{32}$/);
    assert.deepEqual(checkLoadBalancerArgs({ adminToken: a.token, hashSeed: a.hashSeed }).failures, []);
    assert.notEqual(a.token, b.token);
    assert.notEqual(a.hashSeed, b.hashSeed);
  });

  it("never redraws: no diff, and a refresh keeps the stored values", async function () {
    const stored: GeneratedSecrets = { token: "t".repeat(43), hashSeed: "0".repeat(32) };
    assert.deepEqual(await generatedSecretsProvider.diff!("id", stored, {} as Record<string, never>), { changes: false });
    assert.deepEqual(await generatedSecretsProvider.read!("id", stored), { id: "id", props: stored });
  });
});
