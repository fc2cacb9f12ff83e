import * as pulumi from "@pulumi/pulumi";
import { strict as assert } from "node:assert";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { issueNodeCertificate, makeCertificateAuthority } from "../../provider/resources/admin-certificates";
import {
  AdminCertificates,
  adminCertificatesProvider,
  type AdminCertificatesOutputs,
} from "../../provider/resources/admin-certificates-resource";

type CertificatesProvider = typeof adminCertificatesProvider;

/** The admin plane's private CA and the server certificates it issues, checked with OpenSSL (node:crypto). */

describe("admin certificates", () => {
  const ca = makeCertificateAuthority();
  const caCert = new X509Certificate(ca.certificatePem);

  it("makes a self-signed CA that may sign certificates, with its key", () => {
    assert.ok(caCert.ca);
    assert.ok(caCert.verify(caCert.publicKey));
    assert.equal(caCert.subject, caCert.issuer);
    assert.equal(createPublicKey(createPrivateKey(ca.privateKeyPem)).export({ type: "spki", format: "pem" }), caCert.publicKey.export({ type: "spki", format: "pem" }));
  });

  it("issues a server certificate signed by the CA for the node's addresses and names, with its own key", () => {
    const issued = issueNodeCertificate(ca, { commonName: "lb-node-1", ipAddresses: ["10.0.0.11", "fd00::11"], dnsNames: ["lb-1.internal"], validDays: 30 });
    const cert = new X509Certificate(issued.certificatePem);
    assert.ok(!cert.ca);
    assert.ok(cert.verify(caCert.publicKey), "signed by the CA");
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.checkIP("10.0.0.11"), "10.0.0.11");
    assert.equal(cert.checkIP("fd00::11"), "fd00::11");
    assert.equal(cert.checkIP("10.0.0.12"), undefined);
    assert.equal(cert.checkHost("lb-1.internal"), "lb-1.internal");
    assert.ok(cert.keyUsage?.includes("1.3.6.1.5.5.7.3.1"), "usable as a TLS server certificate");
    assert.ok(cert.checkPrivateKey(createPrivateKey(issued.privateKeyPem)));
    const days = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    assert.ok(Math.abs(days - 30) < 1 / 24, `valid ${days} days`);
    assert.notEqual(cert.serialNumber, new X509Certificate(issueNodeCertificate(ca, { commonName: "x", ipAddresses: ["10.0.0.11"] }).certificatePem).serialNumber);
  });

  it("refuses a certificate that names no address, and a validity out of range", () => {
    assert.throws(() => issueNodeCertificate(ca, { commonName: "lost" }), /names no address: give ipAddresses or dnsNames/);
    assert.throws(() => issueNodeCertificate(ca, { commonName: "n", ipAddresses: ["10.0.0.1"], validDays: 0 }), /validDays must be an integer from 1 to 3650 \(got 0\)/);
  });
});

describe("AdminCertificates (dynamic provider)", function () {
  this.timeout(20_000);

  /** The provider as the dynamic-provider host loads it: from its serialized closure alone. */
  async function loadSerialized(): Promise<{ provider: CertificatesProvider; text: string }> {
    const serialized = await pulumi.runtime.serializeFunction(() => adminCertificatesProvider);
    const exports: Record<string, () => CertificatesProvider> = {};
    new Function("exports", "require", serialized.text)(exports, require);
    return { provider: exports[serialized.exportName](), text: serialized.text };
  }

  const nodes = [
    { name: "lb-1", adminAddress: "10.0.0.11" },
    { name: "lb-2", adminAddress: "lb-2.internal", hostNames: ["lb-2"] },
  ];

  it("makes a CA and a certificate per node for its address, the private keys secret", async () => {
    const { provider, text } = await loadSerialized();
    assert.ok(!text.includes("@pulumi/pulumi"), "the serialized provider requires the Pulumi SDK");
    assert.deepEqual((await provider.check!({} as never, { nodes })).failures, []);
    const created = await provider.create({ nodes });
    const { id } = created;
    const outs = created.outs as AdminCertificatesOutputs;
    assert.match(id, /^dnlb-admin-ca-[0-9a-f]{16}$/);
    const caCert = new X509Certificate(outs.caCertificate);
    assert.ok(caCert.ca);
    const one = new X509Certificate(outs.certificates["lb-1"]);
    const two = new X509Certificate(outs.certificates["lb-2"]);
    assert.ok(one.verify(caCert.publicKey) && two.verify(caCert.publicKey));
    assert.equal(one.checkIP("10.0.0.11"), "10.0.0.11");
    assert.equal(two.checkHost("lb-2.internal"), "lb-2.internal");
    assert.equal(two.checkHost("lb-2"), "lb-2");
    assert.ok(one.checkPrivateKey(createPrivateKey(outs.privateKeys["lb-1"])));
    assert.ok(AdminCertificates.toString().includes('additionalSecretOutputs: ["caPrivateKey", "privateKeys"]'));
  });

  it("keeps the CA and unchanged nodes' certificates; issues again only for a node whose address changed; drops a node that left", async () => {
    const first = (await adminCertificatesProvider.create({ nodes })).outs as AdminCertificatesOutputs;
    const moved = [{ name: "lb-1", adminAddress: "10.0.0.21" }, nodes[1]];
    assert.deepEqual(await adminCertificatesProvider.diff!("id", first, { nodes: [...nodes].reverse() }), { changes: false });
    assert.deepEqual(await adminCertificatesProvider.diff!("id", first, { nodes: moved }), { changes: true });
    const { outs: second } = (await adminCertificatesProvider.update!("id", first, { nodes: moved })) as { outs: AdminCertificatesOutputs };
    assert.equal(second.caCertificate, first.caCertificate);
    assert.equal(second.caPrivateKey, first.caPrivateKey);
    assert.equal(second.certificates["lb-2"], first.certificates["lb-2"]);
    assert.notEqual(second.certificates["lb-1"], first.certificates["lb-1"]);
    const reissued = new X509Certificate(second.certificates["lb-1"]);
    assert.equal(reissued.checkIP("10.0.0.21"), "10.0.0.21");
    assert.ok(reissued.verify(new X509Certificate(first.caCertificate).publicKey));

    const { outs: third } = (await adminCertificatesProvider.update!("id", second, { nodes: [nodes[1]] })) as { outs: AdminCertificatesOutputs };
    assert.deepEqual(Object.keys(third.certificates), ["lb-2"]);
    assert.deepEqual(Object.keys(third.privateKeys), ["lb-2"]);
  });

  it("issues a node's certificate again on the update that finds it within 30 days of its end, and only that one", async () => {
    const first = (await adminCertificatesProvider.create({ nodes })).outs as AdminCertificatesOutputs;
    const ca = { certificatePem: first.caCertificate, privateKeyPem: first.caPrivateKey };
    const ending = (daysLeft: number) =>
      issueNodeCertificate(ca, { commonName: "lb-1", ipAddresses: ["10.0.0.11"], validDays: 100, notBefore: new Date(Date.now() - (100 - daysLeft) * 86_400_000) });
    const withLb1 = (cert: { certificatePem: string; privateKeyPem: string }): AdminCertificatesOutputs => ({
      ...first,
      certificates: { ...first.certificates, "lb-1": cert.certificatePem },
      privateKeys: { ...first.privateKeys, "lb-1": cert.privateKeyPem },
    });

    const fine = withLb1(ending(31));
    assert.deepEqual(await adminCertificatesProvider.diff!("id", fine, { nodes }), { changes: false }, "31 days left: nothing to do");

    const old = withLb1(ending(29));
    assert.deepEqual(await adminCertificatesProvider.diff!("id", old, { nodes }), { changes: true, diffs: ["certificates"] }, "29 days left: renew");
    const { outs: renewed } = (await adminCertificatesProvider.update!("id", old, { nodes })) as { outs: AdminCertificatesOutputs };
    assert.equal(renewed.caCertificate, first.caCertificate, "the CA the connection pins stays");
    assert.equal(renewed.certificates["lb-2"], first.certificates["lb-2"], "the other node keeps its certificate");
    assert.notEqual(renewed.privateKeys["lb-1"], old.privateKeys["lb-1"], "a new key with the new certificate");
    const cert = new X509Certificate(renewed.certificates["lb-1"]);
    const daysLeft = (Date.parse(cert.validTo) - Date.now()) / 86_400_000;
    assert.ok(daysLeft > 800, `the renewed certificate has ${daysLeft.toFixed(0)} days left`);
    assert.ok(cert.verify(new X509Certificate(first.caCertificate).publicKey));
    assert.equal(cert.checkIP("10.0.0.11"), "10.0.0.11");
    assert.deepEqual(await adminCertificatesProvider.diff!("id", renewed, { nodes }), { changes: false });
  });

  it("check names the node entry that is wrong", async () => {
    const { failures } = await adminCertificatesProvider.check!({} as never, {
      nodes: [{ name: "a", adminAddress: "10.0.0.1" }, { name: "a", adminAddress: "bad address" }],
    });
    assert.deepEqual(failures?.map((f) => f.property), ["nodes[1].name", "nodes[1].adminAddress"]);
    assert.match(failures?.[0].reason ?? "", /repeats "a"/);
    assert.deepEqual((await adminCertificatesProvider.check!({} as never, { nodes: [] })).failures?.map((f) => f.property), ["nodes"]);
  });
});
