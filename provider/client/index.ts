/** The node admin API client and its errors. */
export * from "./errors";
export * from "./retry";
export * from "./admin-client";
export { sharedAdminClient, closeSharedAdminClient } from "./shared";
