import { SECRET_FILES } from "../../provider/resources/node-container";

/** Where the quickstart puts things (all on loopback: nothing leaves the machine). */
export const QUICKSTART = {
  nodes: ["127.0.1.1", "127.0.1.2"],
  listenerPort: 8080,
  backendPort: 8081,
  backends: [
    { label: "b1", address: "127.0.7.1", port: 8081, weight: 10 },
    { label: "b2", address: "127.0.7.2", port: 8081, weight: 20 },
    { label: "b3", address: "127.0.7.3", port: 8081, weight: 30 },
  ],
} as const;

/** The quickstart's stack outputs: what index.ts exports. */
export type QuickstartOutputs = typeof import("./index");

/**
 * Runs the quickstart program (index.ts) and returns its outputs: the inline program of the
 * Automation API stack (`npm run up`) and of the tests. A module body runs once per process, so the
 * program is loaded afresh on every call, and each call declares the resources again, as each
 * `pulumi up` does.
 */
export function quickstart(): QuickstartOutputs {
  const program = require.resolve("./index");
  delete require.cache[program];
  return require(program) as QuickstartOutputs;
}

/**
 * A shell command that prints a node's `GET /v1/status`. It reads the admin token from the node's
 * own token file, so it works whichever way the stack was deployed: `pulumi stack output` would
 * need that stack's directory, backend and passphrase, which differ between `pulumi up` here and
 * `npm run up`. `node` reads it because the image promises only Node.js, not `cat`.
 * `caCertificateFile`: the admin CA's PEM, for a node that serves HTTPS.
 */
export function statusCommand(containerName: string, endpoint: string, caCertificateFile?: string): string {
  const readToken = `node -p "require('fs').readFileSync('${SECRET_FILES.adminToken}','utf8')"`;
  const ca = caCertificateFile === undefined ? "" : ` --cacert ${caCertificateFile}`;
  return `curl -s${ca} -H "Authorization: Bearer $(docker exec ${containerName} ${readToken})" ${endpoint}/v1/status`;
}
