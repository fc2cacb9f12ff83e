/**
 * Secrets: the admin token and the hash seed must not appear in a node's logs (at trace level), in
 * /metrics, /v1/status or any answer of the admin API (error messages included), in the message
 * of a node that refuses to start, nor unmasked in what the providers hand back to the Pulumi
 * engine (the state the engine stores): they may only be there inside a secret mark.
 */
import { promises as fsp, readFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { healthCheckProvider } from "../../provider/resources";
import { SECRET_SIG } from "../../provider/resources/secrets";
import { PROJECT_ROOT } from "../support/paths";
import { unmasked } from "../support/secrets";
import { MiniEngine } from "../engine/helpers/engine";
import { ProviderHost } from "../engine/helpers/host";
import { serializeProvider } from "../engine/helpers/serialize";
import { CliNode, jsonRequest, rawRequest, RELIABILITY_SEED, RELIABILITY_TOKEN } from "./support";

export interface SecretsFigures {
  readonly figures: Record<string, string | number>;
  readonly violations: string[];
}

/** The forms a leaked secret could take. */
function forms(): [string, string][] {
  const seedBytes = Buffer.from(RELIABILITY_SEED, "hex");
  return [
    ["token", RELIABILITY_TOKEN],
    ["token (base64)", Buffer.from(RELIABILITY_TOKEN).toString("base64")],
    ["seed", RELIABILITY_SEED],
    ["seed (upper case)", RELIABILITY_SEED.toUpperCase()],
    ["seed (base64)", seedBytes.toString("base64")],
    ["seed (key words)", seedBytes.readUInt32LE(0).toString()],
  ];
}

function leaks(where: string, text: string): string[] {
  return forms()
    .filter(([, value]) => text.includes(value))
    .map(([what]) => `the ${what} appears in ${where}`);
}

/** Runs the CLI with `env` until it exits (it is expected to refuse to start); its output. */
function refusedStart(env: Record<string, string>, args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(PROJECT_ROOT, "dist/provider/forwarder/main.js"), ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export async function nodeSecrets(): Promise<SecretsFigures> {
  const violations: string[] = [];
  const node = await CliNode.start({ address: "127.0.10.60", logLevel: "trace" });
  // Informational: main.ts deletes DNLB_ADMIN_TOKEN and DNLB_HASH_SEED from process.env, but the
  // kernel keeps the environment the process started with in /proc/<pid>/environ (readable by
  // root and the same user only). --token-file avoids that for the token.
  const environ = readFileSync(`/proc/${node.pid}/environ`, "latin1");
  const inEnviron = `token ${environ.includes(RELIABILITY_TOKEN) ? "yes" : "no"}, seed ${environ.includes(RELIABILITY_SEED) ? "yes" : "no"}`;
  let answers = 0;
  let bytes = 0;
  const check = (where: string, text: string) => {
    answers++;
    bytes += text.length;
    violations.push(...leaks(where, text));
  };
  try {
    // Some configuration, including a listener that cannot bind and a forwarded connection.
    const writes: [string, string, unknown][] = [
      ["health-checks", "s-hc", { name: "s-hc" }],
      ["server-groups", "s-pool", { type: "virtual", name: "s-pool", members: [{ address: "127.0.10.61", port: 9 }] }],
      ["backend-services", "s-svc", { name: "s-svc", port: 9, serverGroup: "s-pool", healthCheck: "s-hc", algorithm: "QuintupleHash" }],
      ["listeners", "s-l", { name: "s-l", port: 26601, backendService: "s-svc" }],
      ["listeners", "s-l2", { name: "s-l2", port: 26601, backendService: "s-svc" }],
      ["health-checks", "s-bad", { name: "s-bad", timeoutSeconds: 99 }],
    ];
    for (const [kind, id, spec] of writes) {
      const answer = await jsonRequest(node.base, "PUT", `/v1/${kind}/${id}`, spec);
      check(`the answer to PUT ${kind}/${id}`, answer.body);
    }
    // Wrong tokens, including near misses and the seed itself.
    const wrong = [RELIABILITY_TOKEN.slice(0, -1), `${RELIABILITY_TOKEN}x`, RELIABILITY_SEED, RELIABILITY_TOKEN.toUpperCase(), ""];
    for (const token of wrong) {
      for (const [method, p] of [["GET", "/v1/status"], ["PUT", "/v1/health-checks/x"], ["DELETE", "/v1/listeners/s-l"]] as const) {
        const answer = await rawRequest(
          "127.0.10.60",
          node.adminPort,
          Buffer.from(`${method} ${p} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer ${token}\r\nContent-Length: 2\r\n\r\n{}`),
        );
        if (answer.status !== 401) violations.push(`${method} ${p} with a wrong token answered ${answer.status}`);
        check(`a 401 answer (head and body) to a wrong token`, `${answer.head}\n${answer.body}`);
      }
    }
    for (const [method, p, body] of [
      ["GET", "/v1/status", undefined],
      ["GET", "/v1/backend-services", undefined],
      ["GET", "/v1/nothing/here", undefined],
      ["POST", "/v1/listeners/s-l", {}],
      ["PUT", "/v1/listeners/s-l", { name: "s-l", port: 26601, backendService: "missing" }],
      ["DELETE", "/v1/backend-services/s-svc", undefined],
    ] as const) {
      const answer = await jsonRequest(node.base, method, p, body);
      check(`the answer to ${method} ${p}`, answer.body);
    }
    const metrics = await jsonRequest(node.base, "GET", "/metrics");
    check("/metrics", metrics.body);
    // A shutdown and a restart are logged too.
    await node.stop();
    await node.launch();
    await node.stop();
    check("the node's log (trace level, two starts and stops)", node.output);

    // Nodes that refuse to start must not echo what they were given.
    const stateDir = await fsp.mkdtemp(path.join(os.tmpdir(), "dnlb-reliability-secrets-"));
    const args = ["--admin-listen", "127.0.10.60:0", "--state-dir", stateDir];
    const refused = [
      await refusedStart({ DNLB_ADMIN_TOKEN: RELIABILITY_TOKEN.slice(0, 15), DNLB_HASH_SEED: RELIABILITY_SEED }, args),
      await refusedStart({ DNLB_ADMIN_TOKEN: `${RELIABILITY_TOKEN} with spaces`, DNLB_HASH_SEED: RELIABILITY_SEED }, args),
      await refusedStart({ DNLB_ADMIN_TOKEN: RELIABILITY_TOKEN, DNLB_HASH_SEED: RELIABILITY_SEED }, ["--admin-listen", "bad", "--state-dir", stateDir]),
    ];
    for (const r of refused) {
      if (r.code === 0) violations.push("a node with a bad token or flag started");
      check("the message of a node that refuses to start", r.output);
      violations.push(...(r.output.includes(RELIABILITY_TOKEN.slice(0, 15)) ? ["a refused short token is echoed"] : []));
    }
    await fsp.rm(stateDir, { recursive: true, force: true });
    return { figures: { answersAndLogsChecked: answers, charactersChecked: bytes, logBytes: node.output.length, inMainProcessEnviron: inEnviron }, violations };
  } finally {
    await node.destroy();
  }
}

/** Through Pulumi's dynamic-provider host: create, update, refresh, destroy, and a failed create. */
export async function pulumiStateSecrets(): Promise<SecretsFigures> {
  const violations: string[] = [];
  const node = await CliNode.start({ address: "127.0.10.62" });
  const host = await ProviderHost.start();
  try {
    const engine = new MiniEngine(host);
    const provider = await serializeProvider(healthCheckProvider);
    const lb = { endpoints: [node.base], token: RELIABILITY_TOKEN, hashSeed: RELIABILITY_SEED };
    const goal = (timeoutSeconds: number, loadBalancer = lb) => ({ type: "HealthCheck", name: "secret-hc", provider, props: { loadBalancer, timeoutSeconds } });
    await engine.up(goal(3));
    await engine.up(goal(5));
    await engine.refresh("HealthCheck", "secret-hc");
    const stored = [...engine.state.values()];
    await engine.destroy("HealthCheck", "secret-hc");
    let failure = "";
    try {
      await engine.up({ ...goal(3, { ...lb, endpoints: [node.base, "http://127.0.10.63:26999"] }), name: "secret-down" });
    } catch (e) {
      failure = (e as Error).message;
    }
    if (failure === "") violations.push("the create against a node that is down did not fail");
    for (const [what, value] of [["token", RELIABILITY_TOKEN], ["seed", RELIABILITY_SEED]] as const) {
      const inAnswers = engine.answers.flatMap((a, i) => unmasked(a, value, `answer[${i}]`));
      if (inAnswers.length > 0) violations.push(`the ${what} is unmasked in provider answers at ${inAnswers.slice(0, 5).join(", ")}`);
      const inState = stored.flatMap((s) => unmasked(s, value, s.urn));
      if (inState.length > 0) violations.push(`the ${what} is unmasked in the stack state at ${inState.slice(0, 5).join(", ")}`);
      if (failure.includes(value)) violations.push(`the ${what} appears in the error of a failed create`);
      if (host.stderr.includes(value)) violations.push(`the ${what} appears in the provider host's log`);
    }
    const outputs = JSON.stringify(stored.map((s) => s.outputs));
    const marked = outputs.includes(SECRET_SIG);
    if (!marked) violations.push("no output is marked secret: the connection is missing from the outputs, or unmarked");
    return { figures: { providerAnswersChecked: engine.answers.length, outputsMarkedSecret: marked ? "yes" : "no", failedCreateError: failure.split("\n")[0].slice(0, 200) }, violations };
  } finally {
    await host.close();
    await node.destroy();
  }
}
