/** The data plane: listening sockets, Maglev tables and proxied connections, driven by plain plans. */
export {
  DataPlane,
  DEFAULT_BIND_RETRY_INTERVAL_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_MAX_CONNECT_ATTEMPTS,
  DEFAULT_MAX_CONNECTIONS_PER_LISTENER,
  DEFAULT_SWEEP_INTERVAL_MS,
  type DataPlaneEvent,
  type DataPlaneOptions,
} from "./dataplane";
export * from "./plan";
export * from "./stats";
