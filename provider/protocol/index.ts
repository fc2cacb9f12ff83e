/**
 * The admin API's wire format, shared by the node (provider/forwarder) and its client
 * (provider/client): error codes and body, entity tags, object shape and paths. Pure: plain
 * functions and const tables only, because the providers are serialized with their closures.
 */
export * from "./errors";
export * from "./entity-tags";
export * from "./objects";
