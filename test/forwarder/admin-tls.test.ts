import { strict as assert } from "node:assert";
import { promises as fs } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { X509Certificate } from "node:crypto";
import { Agent } from "undici";
import { AdminServer } from "../../provider/forwarder/admin/server";
import { issueNodeCertificate, makeCertificateAuthority, type CertificateAuthority } from "../../provider/resources/admin-certificates";
import { call, startNode, tempStateDir, TOKEN, type TestNode } from "./admin-fixture";

/** A node serving its admin API over HTTPS on 127.0.5.21, with certificates from a private CA. */

const HOST = "127.0.5.21";

async function writePair(dir: string, ca: CertificateAuthority, commonName: string): Promise<{ certFile: string; keyFile: string; serial: string }> {
  const issued = issueNodeCertificate(ca, { commonName, ipAddresses: [HOST] });
  const certFile = path.join(dir, "admin.crt");
  const keyFile = path.join(dir, "admin.key");
  // Replaced as a rotation tool would: a new file renamed over the old one.
  await fs.writeFile(`${certFile}.new`, issued.certificatePem);
  await fs.writeFile(`${keyFile}.new`, issued.privateKeyPem, { mode: 0o600 });
  await fs.rename(`${keyFile}.new`, keyFile);
  await fs.rename(`${certFile}.new`, certFile);
  return { certFile, keyFile, serial: new X509Certificate(issued.certificatePem).serialNumber };
}

/** The serial number of the certificate a new TLS connection to the node is served. */
function servedSerial(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: HOST, port, ca }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? "";
      socket.destroy();
      resolve(serial);
    });
    socket.once("error", reject);
  });
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("admin API over HTTPS", function () {
  this.timeout(30_000);
  let ca: CertificateAuthority;
  let dir: string;
  let files: { certFile: string; keyFile: string; serial: string };
  let test: TestNode;
  let agent: Agent;

  before(async () => {
    ca = makeCertificateAuthority();
    dir = await tempStateDir("tls");
    files = await writePair(dir, ca, "node-1");
    test = await startNode({
      label: "tls",
      admin: { host: HOST, tls: { certFile: files.certFile, keyFile: files.keyFile, reloadIntervalMs: 100 }, metricsRequireToken: true },
    });
    agent = new Agent({ connect: { ca: ca.certificatePem } });
  });
  after(async () => {
    await agent?.close();
    await test?.node.close({ graceMs: 0 });
  });

  it("serves https:// with a certificate that verifies against the CA, and answers the API", async () => {
    assert.match(test.url, /^https:\/\/127\.0\.5\.21:\d+$/);
    const health = await call(test.url, "GET", "/healthz", { token: null, dispatcher: agent });
    assert.equal(health.status, 200, "/healthz stays open");
    const put = await call(test.url, "PUT", "/v1/health-checks/hc", { body: { name: "hc" }, dispatcher: agent });
    assert.equal(put.status, 201, put.text);
  });

  it("refuses a client that does not trust the CA (no clear-text fallback)", async () => {
    const stranger = new Agent({ connect: { ca: makeCertificateAuthority().certificatePem } });
    try {
      await assert.rejects(call(test.url, "GET", "/healthz", { dispatcher: stranger }), (error: Error & { code?: string }) => {
        assert.ok(["UNABLE_TO_VERIFY_LEAF_SIGNATURE", "CERT_SIGNATURE_FAILURE"].includes(error.code ?? ""), error.message);
        return true;
      });
    } finally {
      await stranger.close();
    }
    await assert.rejects(call(test.url.replace("https:", "http:"), "GET", "/healthz", { token: null }));
  });

  it("with --metrics-require-token, /metrics needs the bearer token", async () => {
    const anonymous = await call(test.url, "GET", "/metrics", { token: null, dispatcher: agent });
    assert.equal(anonymous.status, 401, anonymous.text);
    assert.equal(anonymous.json.error.code, "unauthorized");
    const wrong = await call(test.url, "GET", "/metrics", { token: "x".repeat(TOKEN.length), dispatcher: agent });
    assert.equal(wrong.status, 401);
    const authorized = await call(test.url, "GET", "/metrics", { dispatcher: agent });
    assert.equal(authorized.status, 200);
    assert.match(authorized.text, /dnlb_admin_requests_total/);
  });

  it("serves a replaced certificate to new connections without a restart, and keeps the old one when the new pair is bad", async () => {
    const port = Number(new URL(test.url).port);
    assert.equal(await servedSerial(port, ca.certificatePem), files.serial);

    const rotated = await writePair(dir, ca, "node-1-rotated");
    assert.notEqual(rotated.serial, files.serial);
    await until("the rotated certificate is served", async () => (await servedSerial(port, ca.certificatePem)) === rotated.serial, 5_000);
    assert.ok(test.logs.lines.some((line) => line.includes("admin TLS certificate reloaded")));

    // A key that does not match the certificate: logged, and the node keeps serving the last good pair.
    const other = issueNodeCertificate(ca, { commonName: "other", ipAddresses: [HOST] });
    await fs.writeFile(rotated.keyFile, other.privateKeyPem);
    await until("the bad pair is reported", async () => test.logs.lines.some((line) => line.includes("does not load: still serving the previous one")), 5_000);
    assert.equal(await servedSerial(port, ca.certificatePem), rotated.serial);
    const health = await call(test.url, "GET", "/healthz", { token: null, dispatcher: agent });
    assert.equal(health.status, 200);
  });
});

describe("admin API metrics without --metrics-require-token", () => {
  it("leaves /metrics open on the admin address", async () => {
    const test = await startNode({ label: "metrics-open", admin: { host: "127.0.5.22" } });
    try {
      const reply = await call(test.url, "GET", "/metrics", { token: null });
      assert.equal(reply.status, 200);
      assert.match(test.url, /^http:\/\//);
    } finally {
      await test.node.close({ graceMs: 0 });
    }
  });
});

describe("admin API over HTTPS: connection admission", function () {
  this.timeout(20_000);

  it("counts a connection from accept, before its handshake, and never closes one inside a request to make room", async () => {
    const ca = makeCertificateAuthority();
    const issued = issueNodeCertificate(ca, { commonName: "admission", ipAddresses: ["127.0.5.24"] });
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const server = new AdminServer(
      (req, res) => {
        if (req.url === "/slow") void held.then(() => res.end("slow done"));
        else res.end("ok");
      },
      { maxConnections: 2 },
      { cert: Buffer.from(issued.certificatePem), key: Buffer.from(issued.privateKeyPem) },
    );
    const { port } = await server.listen("127.0.5.24", 0);
    const base = `https://127.0.5.24:${port}`;
    const agent = new Agent({ connect: { ca: ca.certificatePem }, connections: 1 });
    const other = new Agent({ connect: { ca: ca.certificatePem }, connections: 1 });
    const sockets: net.Socket[] = [];
    try {
      // The oldest connection is inside a request; the second has not even begun its handshake.
      const slow = call(base, "GET", "/slow", { token: null, dispatcher: agent });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const silent = net.connect({ host: "127.0.5.24", port });
      sockets.push(silent);
      await new Promise((resolve) => silent.once("connect", resolve));
      const silentClosed = new Promise((resolve, reject) => {
        silent.once("close", resolve);
        setTimeout(() => reject(new Error("the silent connection was not closed to make room")), 5_000).unref();
      });
      // A third connection makes room by closing the silent one, not the one inside a request.
      const quick = await call(base, "GET", "/healthz", { token: null, dispatcher: other });
      assert.equal(quick.text, "ok");
      await silentClosed;
      release();
      assert.equal((await slow).text, "slow done");
    } finally {
      release();
      for (const socket of sockets) socket.destroy();
      await agent.close();
      await other.close();
      await server.close(0);
    }
  });
});
