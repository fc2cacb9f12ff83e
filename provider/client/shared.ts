import { AdminClient } from "./admin-client";

/**
 * One client per process, so that every resource of every kind reuses the same keep-alive
 * connections to a node. It lives on `globalThis` under a registered symbol and is created on
 * first use inside a provider method: a module-level instance would not survive Pulumi's
 * closure serialization, and each serialized provider gets its own copy of this module, so a
 * module variable would not be shared between the five providers anyway.
 */
type Holder = { [key: symbol]: AdminClient | undefined };

export function sharedAdminClient(): AdminClient {
  const holder = globalThis as unknown as Holder;
  const key = Symbol.for("pulumi-dnlb.admin-client");
  let client = holder[key];
  if (client === undefined) {
    client = new AdminClient();
    holder[key] = client;
  }
  return client;
}

/** Closes the shared client's connections (tests, and tools that want to exit promptly). */
export async function closeSharedAdminClient(): Promise<void> {
  const holder = globalThis as unknown as Holder;
  const key = Symbol.for("pulumi-dnlb.admin-client");
  const client = holder[key];
  holder[key] = undefined;
  await client?.close();
}
