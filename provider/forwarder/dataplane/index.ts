/** The data plane: listening sockets, Maglev tables and proxied connections, driven by plain plans. */
export { DataPlane, type DataPlaneEvent, type DataPlaneOptions } from "./dataplane";
export type { DataPlaneHandle } from "./handle";
export * from "./plan";
export * from "./stats";
