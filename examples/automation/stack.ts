import { LocalWorkspace, PulumiCommand, type Stack } from "@pulumi/pulumi/automation";
import * as fs from "node:fs";
import * as path from "node:path";
import { packageRoot } from "../../provider/resources/load-balancer-image";
import { quickstart } from "../quickstart/program";

/**
 * The quickstart stack, kept entirely in this project: state in `.pulumi-state/` (a file
 * backend: no Pulumi account, no login), secrets encrypted with a passphrase that defaults to a
 * fixed local one (set PULUMI_CONFIG_PASSPHRASE to choose your own before the first `up`).
 */

export const PROJECT = "dnlb-quickstart";
export const STACK = "local";
export const DEFAULT_PASSPHRASE = "pulumi-dnlb-local-stack";

export async function quickstartStack(pulumiBinary: string): Promise<Stack> {
  const root = packageRoot();
  const stateDir = path.join(root, ".pulumi-state");
  const workDir = path.join(stateDir, "workspace");
  fs.mkdirSync(workDir, { recursive: true });
  const pulumiCommand =
    pulumiBinary === "pulumi" ? await PulumiCommand.get() : await PulumiCommand.get({ root: path.dirname(path.dirname(pulumiBinary)) });
  return LocalWorkspace.createOrSelectStack(
    { projectName: PROJECT, stackName: STACK, program: async () => quickstart() },
    {
      workDir, // keeps Pulumi.local.yaml (the passphrase salt) between runs
      pulumiCommand,
      projectSettings: { name: PROJECT, runtime: "nodejs", backend: { url: `file://${stateDir}` } },
      envVars: {
        PULUMI_CONFIG_PASSPHRASE: process.env.PULUMI_CONFIG_PASSPHRASE ?? DEFAULT_PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
      },
    },
  );
}

/** The @pulumi/docker SDK's own version: the resource plugin must match it. */
export function dockerPluginVersion(): string {
  const manifest = require.resolve("@pulumi/docker/package.json");
  return `v${(JSON.parse(fs.readFileSync(manifest, "utf8")) as { version: string }).version}`;
}
