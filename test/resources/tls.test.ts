import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { AdminClient, closeSharedAdminClient, isNodeTlsError } from "../../provider/client";
import { healthCheckProvider, listenerProvider } from "../../provider/resources";
import { issueNodeCertificate, makeCertificateAuthority, type CertificateAuthority } from "../../provider/resources/admin-certificates";
import { unwrapProps } from "../../provider/resources/secrets";
import { startNode, tempStateDir, TOKEN, type TestNode } from "../forwarder/admin-fixture";

/**
 * The providers against nodes that serve their admin API over HTTPS (127.0.6.41-42), called
 * directly: the connection's caCertificate pins the private CA, and a node whose certificate does
 * not verify is named in the error.
 */

type Props = Record<string, unknown>;

async function httpsNode(label: string, host: string, ca: CertificateAuthority, certifiedHost = host): Promise<TestNode> {
  const dir = await tempStateDir(label);
  const issued = issueNodeCertificate(ca, { commonName: label, ipAddresses: [certifiedHost] });
  const certFile = path.join(dir, "admin.crt");
  const keyFile = path.join(dir, "admin.key");
  await fs.writeFile(certFile, issued.certificatePem);
  await fs.writeFile(keyFile, issued.privateKeyPem, { mode: 0o600 });
  return startNode({ label, admin: { host, tls: { certFile, keyFile } }, dataPlane: { listenAddress: host } });
}

async function check(provider: typeof healthCheckProvider, args: Props): Promise<{ inputs: Props; failures: { property: string; reason: string }[] }> {
  assert.ok(provider.check);
  const result = await provider.check({}, args);
  return { inputs: unwrapProps(result.inputs ?? {}) as Props, failures: result.failures ?? [] };
}

describe("providers against HTTPS nodes", function () {
  this.timeout(30_000);
  let ca: CertificateAuthority;
  let node: TestNode;
  let misnamed: TestNode;

  before(async () => {
    ca = makeCertificateAuthority();
    // The second node's certificate names another address than the one the provider dials.
    [node, misnamed] = await Promise.all([httpsNode("tls-a", "127.0.6.41", ca), httpsNode("tls-b", "127.0.6.42", ca, "127.0.6.99")]);
  });
  after(async () => {
    await closeSharedAdminClient();
    await node?.node.close({ graceMs: 0 });
    await misnamed?.node.close({ graceMs: 0 });
  });

  it("creates, reads and deletes on an https:// node verified against the connection's CA", async () => {
    const lb = { endpoints: [node.url], token: TOKEN, caCertificate: ca.certificatePem };
    const { inputs, failures } = await check(healthCheckProvider, { __resourceName: "tls-check", loadBalancer: lb, timeoutSeconds: 4 });
    assert.deepEqual(failures, []);
    const created = await healthCheckProvider.create(inputs);
    assert.equal(node.node.store.get("health-checks", created.id)?.spec.timeoutSeconds, 4);
    const outs = unwrapProps(created.outs) as Props;
    assert.equal((outs.loadBalancer as Props).caCertificate, ca.certificatePem);
    const read = await healthCheckProvider.read?.(created.id, outs);
    assert.equal((read?.props as Props).timeoutSeconds, 4);
    await healthCheckProvider.delete?.(created.id, outs);
    assert.equal(node.node.store.get("health-checks", created.id), undefined);
  });

  it("refuses a node whose certificate another CA signed, naming the node, at once (no retries)", async () => {
    const lb = { endpoints: [node.url], token: TOKEN, caCertificate: makeCertificateAuthority().certificatePem };
    const { inputs } = await check(healthCheckProvider, { __resourceName: "wrong-ca", loadBalancer: lb });
    await assert.rejects(healthCheckProvider.create(inputs), (error: Error) => {
      assert.ok(error.message.includes(`${node.url}: TLS: the node's certificate was not signed by the connection's CA (caCertificate) (UNABLE_TO_VERIFY_LEAF_SIGNATURE)`), error.message);
      return true;
    });

    // Retrying cannot fix a certificate: with a 3 s backoff, a retry would show in the time taken.
    const client = new AdminClient({ retry: { attempts: 4, baseDelayMs: 3_000, maxDelayMs: 3_000 } });
    try {
      const started = Date.now();
      await assert.rejects(client.get(node.url, { token: TOKEN, caCertificate: lb.caCertificate }, "listeners", "l"), (error: unknown) => {
        assert.ok(isNodeTlsError(error));
        assert.equal(error.endpoint, node.url);
        assert.equal(error.code, "UNABLE_TO_VERIFY_LEAF_SIGNATURE");
        return true;
      });
      assert.ok(Date.now() - started < 2_000, `took ${Date.now() - started} ms: retried`);

      // Without a CA, the host's trusted CAs do not know the private one: the error says to set it.
      await assert.rejects(client.get(node.url, TOKEN, "listeners", "l"), /TLS: the node's certificate was not signed by a CA this host trusts: set the connection's caCertificate/);
    } finally {
      await client.close();
    }
  });

  it("refuses a certificate that does not name the address the provider dials", async () => {
    const lb = { endpoints: [misnamed.url], token: TOKEN, caCertificate: ca.certificatePem };
    const { inputs } = await check(listenerProvider, { __resourceName: "misnamed", loadBalancer: lb, port: 24100, backendService: "web" });
    await assert.rejects(listenerProvider.create(inputs), (error: Error) => {
      assert.ok(error.message.includes(`${misnamed.url}: TLS: the node's certificate does not name this endpoint's host`), error.message);
      assert.match(error.message, /ERR_TLS_CERT_ALTNAME_INVALID/);
      return true;
    });
  });
});

describe("provider check: the admin plane's transport", () => {
  const pem = makeCertificateAuthority().certificatePem;

  it("refuses a plain http:// endpoint that is not loopback, naming it and saying to use https with caCertificate", async () => {
    const lb = { endpoints: ["http://127.0.1.1:9180", "http://10.0.0.5:9180"], token: TOKEN };
    const { failures } = await check(healthCheckProvider, { __resourceName: "hc", loadBalancer: lb });
    assert.equal(failures.length, 1, JSON.stringify(failures));
    assert.equal(failures[0].property, "loadBalancer.endpoints[1]");
    assert.match(failures[0].reason, /must use https:\/\/ with the connection's caCertificate \(got "http:\/\/10\.0\.0\.5:9180"\)/);
    assert.match(failures[0].reason, /clear text/);
  });

  it("accepts https:// anywhere and http:// on loopback (127.0.0.0/8, ::1, localhost)", async () => {
    const endpoints = ["https://10.0.0.5:9180", "https://node-2.internal:9180", "http://127.9.9.9:9180", "http://[::1]:9180", "http://localhost:9180"];
    const { failures } = await check(healthCheckProvider, { __resourceName: "hc", loadBalancer: { endpoints, token: TOKEN, caCertificate: pem } });
    assert.deepEqual(failures, []);
  });

  it("refuses a caCertificate that is not PEM, naming the field", async () => {
    for (const bad of ["not a certificate", pem.replace("CERTIFICATE", "PRIVATE KEY"), 42]) {
      const lb = { endpoints: ["https://10.0.0.5:9180"], token: TOKEN, caCertificate: bad };
      const { failures } = await check(healthCheckProvider, { __resourceName: "hc", loadBalancer: lb });
      assert.equal(failures.length, 1, JSON.stringify(failures));
      assert.equal(failures[0].property, "loadBalancer.caCertificate");
      assert.match(failures[0].reason, /^loadBalancer\.caCertificate must be PEM text of the CA certificate/);
    }
  });
});
