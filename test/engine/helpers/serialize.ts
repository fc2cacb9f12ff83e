import type * as pulumi from "@pulumi/pulumi";
import { serializeFunction } from "@pulumi/pulumi/runtime/closure/serializeClosure";

/**
 * Mocha's globals. Pulumi's closure serializer does not capture a free variable that names a
 * global of the serializing process (it expects the global to exist where the code runs), so
 * inside mocha a module-level function called `run` or `describe` would be left out of the
 * closure and be missing in the host. A Pulumi program has no such globals: hide them while
 * serializing, as the program's process would.
 */
const MOCHA_GLOBALS = ["run", "describe", "context", "it", "specify", "before", "after", "beforeEach", "afterEach", "xit", "xdescribe", "xcontext", "xspecify", "suite", "test", "setup", "teardown", "suiteSetup", "suiteTeardown"];

/**
 * The provider's serialized text exactly as `pulumi.dynamic.Resource` produces it for the
 * `__provider` input: `serializeFunction(() => provider, { allowSecrets: true })`, keeping `.text`.
 * (See node_modules/@pulumi/pulumi/dynamic/index.js, serializeFunctionMaybeSecret.)
 */
export async function serializeProvider(provider: pulumi.dynamic.ResourceProvider): Promise<string> {
  const holder = globalThis as Record<string, unknown>;
  const hidden = new Map<string, PropertyDescriptor>();
  for (const name of MOCHA_GLOBALS) {
    const descriptor = Object.getOwnPropertyDescriptor(holder, name);
    if (descriptor?.configurable) {
      hidden.set(name, descriptor);
      delete holder[name];
    }
  }
  try {
    const serialized = await serializeFunction(() => provider, { allowSecrets: true });
    return serialized.text;
  } finally {
    for (const [name, descriptor] of hidden) Object.defineProperty(holder, name, descriptor);
  }
}
