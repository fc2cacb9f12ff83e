import { strict as assert } from "node:assert";
import { nodeContainerSpec, nodeSecretsSpec, SECRET_FILES } from "../../provider/resources/node-container";

/** The TLS half of a node's container spec: what a node whose admin address is not loopback runs with. */
describe("node container spec over TLS", function () {
  const node = (tls: boolean) =>
    nodeContainerSpec({
      containerName: "lb-node-1",
      image: "img",
      listenAddress: "0.0.0.0",
      adminAddress: "10.0.0.11",
      adminPort: 9180,
      stateVolume: "lb-node-1-state",
      secretsVolume: "lb-node-1-secrets",
      tls,
      memoryLimitMiB: 2048,
    });

  it("passes the certificate and key files and probes /healthz over HTTPS", function () {
    const spec = node(true);
    const flag = (name: string) => spec.command[spec.command.indexOf(name) + 1];
    assert.equal(flag("--tls-cert-file"), SECRET_FILES.tlsCertificate);
    assert.equal(flag("--tls-key-file"), SECRET_FILES.tlsKey);
    assert.equal(flag("--admin-listen"), "10.0.0.11:9180");
    const probe = spec.healthcheck!.test.join(" ");
    assert.ok(probe.includes("https://10.0.0.11:9180/healthz"), probe);
    assert.ok(!probe.includes("http://"), probe);
  });

  it("serves plain HTTP without the TLS flags when not asked", function () {
    const spec = node(false);
    assert.ok(!spec.command.includes("--tls-cert-file"));
    assert.ok(spec.healthcheck!.test.join(" ").includes("http://10.0.0.11:9180/healthz"));
  });

  it("has the carrier write the key and certificate 0600 into the secrets volume", function () {
    const carrier = nodeSecretsSpec({
      nodeContainerName: "lb-node-1",
      image: "img",
      secretsVolume: "lb-node-1-secrets",
      adminToken: "t",
      hashSeed: "s",
      tls: { certificatePem: "CERT", privateKeyPem: "KEY" },
    });
    const files = new Map(carrier.files.map((f) => [f.path, f]));
    assert.equal(files.get(SECRET_FILES.tlsCertificate)?.content, "CERT");
    assert.equal(files.get(SECRET_FILES.tlsKey)?.content, "KEY");
    for (const f of carrier.files) assert.deepEqual([f.mode, f.uid, f.gid, f.secret], [0o600, 0, 0, true], f.path);
    assert.equal(carrier.start, false);
  });
});
