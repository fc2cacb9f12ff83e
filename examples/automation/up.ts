// npm run up: deploys the quickstart with the Pulumi Automation API and prints how to use it.
import { request } from "undici";
import { QUICKSTART } from "../quickstart/program";
import { requirePrerequisites } from "./preflight";
import { dockerPluginVersion, quickstartStack, STACK } from "./stack";

interface MemberView {
  readonly address: string;
  readonly weight: number;
  readonly health: string;
  readonly eligible: boolean;
}

/** Each member's health as the first node sees it, once the first probes have run (up to 20 s). */
async function memberHealth(endpoint: string, token: string): Promise<MemberView[]> {
  const deadline = Date.now() + 20_000;
  let members: MemberView[] = [];
  while (Date.now() < deadline) {
    try {
      const res = await request(`${endpoint}/v1/status`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.body.json()) as { backendServices?: { members: MemberView[] }[] };
      members = (body.backendServices ?? []).flatMap((s) => s.members);
      if (members.length > 0 && members.every((m) => m.health !== "Initial")) break;
    } catch {
      // the node may still be starting
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return members;
}

async function main(): Promise<void> {
  const { pulumiBinary } = await requirePrerequisites("up");
  console.log(`Preparing the local stack "${STACK}" (state in .pulumi-state/)...`);
  const stack = await quickstartStack(pulumiBinary!);
  const plugin = dockerPluginVersion();
  console.log(`Installing the Pulumi Docker plugin ${plugin} (once)...`);
  await stack.workspace.installPlugin("docker", plugin);
  console.log("Deploying: two forwarder nodes, three demo backends, a listener on port 8080.\n");
  const result = await stack.up({ onOutput: (text) => process.stdout.write(text), color: "auto" });

  console.log("\nOutputs:");
  for (const [key, output] of Object.entries(result.outputs)) {
    const shown = output.secret ? "[secret]" : JSON.stringify(output.value);
    console.log(`  ${key}: ${shown}`);
  }
  const endpoints = result.outputs.endpoints?.value as string[] | undefined;
  const token = result.outputs.adminToken?.value as string | undefined;
  if (endpoints && token) {
    console.log("\nMember health (node 1):");
    for (const m of await memberHealth(endpoints[0], token)) {
      console.log(`  ${m.address.padEnd(12)} weight ${String(m.weight).padStart(3)}  ${m.health}${m.eligible ? "" : " (takes no traffic)"}`);
    }
  }
  console.log(`\nTry it: curl -s http://${QUICKSTART.nodes[0]}:${QUICKSTART.listenerPort}/  (the same through ${QUICKSTART.nodes[1]})`);
  console.log("Remove everything: npm run down");
}

main().catch((err: unknown) => {
  console.error(`\nnpm run up failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
