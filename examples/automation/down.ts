// npm run down: destroys everything `npm run up` created (containers, volumes, configuration).
import { requirePrerequisites } from "./preflight";
import { quickstartStack, STACK } from "./stack";

async function main(): Promise<void> {
  const { pulumiBinary } = await requirePrerequisites("down");
  const stack = await quickstartStack(pulumiBinary!);
  console.log(`Destroying the local stack "${STACK}"...\n`);
  await stack.destroy({ onOutput: (text) => process.stdout.write(text), color: "auto" });
  console.log("\nDone: the nodes, backends and their volumes are gone (the forwarder image stays cached in Docker).");
}

main().catch((err: unknown) => {
  console.error(`\nnpm run down failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
