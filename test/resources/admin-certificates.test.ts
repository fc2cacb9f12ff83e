import { strict as assert } from "node:assert";
import { X509Certificate, createPrivateKey, createPublicKey } from "node:crypto";
import { issueNodeCertificate, makeCertificateAuthority } from "../../provider/resources/admin-certificates";

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
