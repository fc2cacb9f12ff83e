import { strict as assert } from "node:assert";
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { Agent } from "undici";
import { parseCli } from "../../provider/forwarder/cli/arguments";
import { issueNodeCertificate, makeCertificateAuthority } from "../../provider/resources/admin-certificates";
import { call, SEED, tempStateDir, TOKEN } from "./admin-fixture";

/** The admin plane's transport flags, parsed and on the real CLI (dist), as the container runs it. */

const MAIN = path.resolve(__dirname, "../../provider/forwarder/main.js");

interface Run {
  readonly lines: () => Record<string, unknown>[];
  readonly stderr: () => string;
  readonly exit: Promise<number | null>;
  readonly ready: Promise<Record<string, unknown>>;
  stop(): Promise<number | null>;
}

function run(args: string[], env: Record<string, string | undefined> = {}): Run {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { PATH: process.env.PATH, DNLB_ADMIN_TOKEN: TOKEN, DNLB_HASH_SEED: SEED, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const lines = () =>
    stdout
      .split("\n")
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk;
      const line = lines().find((l) => l.msg === "ready");
      if (line !== undefined) resolve(line);
    });
    void exit.then((code) => reject(new Error(`exited (${code}) before ready: ${stderr}`)));
  });
  ready.catch(() => undefined);
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  return {
    lines,
    stderr: () => stderr,
    exit,
    ready,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exit;
    },
  };
}

const STATE = ["--state-dir", "/tmp/unused"];

describe("dnlb-forwarder admin transport flags", () => {
  it("refuses plain HTTP on an admin address that is not loopback, naming the flags to add", () => {
    for (const address of ["0.0.0.0:9180", "10.0.0.5:9180", "[::]:9180", "[fd00::5]:9180", "node-1.internal:9180"]) {
      assert.throws(
        () => parseCli(["--admin-listen", address, ...STATE]),
        (error: Error) =>
          error.message.includes(`--admin-listen ${address} is not a loopback address`) &&
          error.message.includes("--tls-cert-file FILE --tls-key-file FILE") &&
          error.message.includes("--allow-plain-http"),
        address,
      );
    }
    for (const address of ["127.0.1.1:9180", "127.255.0.9:1", "[::1]:9180", "localhost:9180"]) {
      assert.notEqual(parseCli(["--admin-listen", address, ...STATE]), "help", address);
    }
    const escaped = parseCli(["--admin-listen", "10.0.0.5:9180", "--allow-plain-http", ...STATE]);
    assert.ok(escaped !== "help" && escaped.admin.tls === undefined);
    const secured = parseCli(["--admin-listen", "10.0.0.5:9180", "--tls-cert-file", "a.crt", "--tls-key-file", "a.key", ...STATE]);
    assert.ok(secured !== "help");
    assert.deepEqual(secured.admin.tls, { certFile: "a.crt", keyFile: "a.key" });
    assert.equal(secured.admin.metricsRequireToken, false);
  });

  it("takes the certificate and key together or not at all, and --metrics-require-token", () => {
    for (const half of [["--tls-cert-file", "a.crt"], ["--tls-key-file", "a.key"]]) {
      assert.throws(() => parseCli(["--admin-listen", "127.0.1.1:9180", ...half, ...STATE]), /--tls-cert-file FILE and --tls-key-file FILE go together/);
    }
    const cli = parseCli(["--admin-listen", "127.0.1.1:9180", "--metrics-require-token", ...STATE]);
    assert.ok(cli !== "help" && cli.admin.metricsRequireToken);
  });
});

describe("dnlb-forwarder over HTTPS (real process)", function () {
  this.timeout(30_000);

  it("exits 2 before binding when asked for plain HTTP on a non-loopback address", async () => {
    // 192.0.2.10 (TEST-NET-1) is on no interface here: the refusal comes before any bind.
    const child = run(["--admin-listen", "192.0.2.10:9180", "--state-dir", await tempStateDir("cli-tls")]);
    assert.equal(await child.exit, 2);
    assert.match(child.stderr(), /--admin-listen 192\.0\.2\.10:9180 is not a loopback address .* add --tls-cert-file FILE --tls-key-file FILE/);
  });

  it("serves HTTPS from PEM files, warns about a token file others can read, and refuses a key that does not match", async () => {
    const dir = await tempStateDir("cli-tls");
    const ca = makeCertificateAuthority();
    const issued = issueNodeCertificate(ca, { commonName: "cli", ipAddresses: ["127.0.5.23"] });
    const certFile = path.join(dir, "admin.crt");
    const keyFile = path.join(dir, "admin.key");
    const tokenFile = path.join(dir, "token");
    await fs.writeFile(certFile, issued.certificatePem);
    await fs.writeFile(keyFile, issued.privateKeyPem, { mode: 0o600 });
    await fs.writeFile(tokenFile, TOKEN, { mode: 0o644 });
    await fs.chmod(tokenFile, 0o644);
    const args = ["--admin-listen", "127.0.5.23:0", "--listen-address", "127.0.5.23", "--state-dir", path.join(dir, "state"), "--workers", "0"];
    await fs.mkdir(path.join(dir, "state"));

    const child = run([...args, "--tls-cert-file", certFile, "--tls-key-file", keyFile, "--token-file", tokenFile], { DNLB_ADMIN_TOKEN: undefined });
    const agent = new Agent({ connect: { ca: ca.certificatePem } });
    try {
      const ready = await child.ready;
      assert.match(String(ready.adminUrl), /^https:\/\/127\.0\.5\.23:\d+$/);
      const warning = child.lines().find((line) => line.level === "warn");
      assert.equal(warning?.msg, "the admin token file is readable by group or others: chmod 600 it");
      assert.equal(warning?.mode, "0644");
      assert.ok(!child.lines().some((line) => String(line.msg).includes("TLS key file")), "the key file is 0600: no warning");
      const reply = await call(String(ready.adminUrl), "GET", "/v1/listeners", { dispatcher: agent });
      assert.equal(reply.status, 200, reply.text);
    } finally {
      await agent.close();
      assert.equal(await child.stop(), 0);
    }

    const other = issueNodeCertificate(ca, { commonName: "other", ipAddresses: ["127.0.5.23"] });
    await fs.writeFile(keyFile, other.privateKeyPem);
    const mismatched = run([...args, "--tls-cert-file", certFile, "--tls-key-file", keyFile]);
    assert.equal(await mismatched.exit, 2);
    assert.match(mismatched.stderr(), /--tls-cert-file .*admin\.crt and --tls-key-file .*admin\.key do not load as a PEM certificate and its private key/);
  });
});
