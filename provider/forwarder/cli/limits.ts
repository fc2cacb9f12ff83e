import { connectionBudget, RESERVED_DESCRIPTORS } from "../dataplane/descriptors";
import { DEFAULTS } from "../options";

/**
 * The default connection limit per listener: what one data-plane process can hold
 * (connectionBudget, descriptors.ts) times the processes, at most the built-in ceiling. Each
 * process also enforces its budget across listeners (DataPlaneSettings.maxConnections).
 */
export function defaultMaxConnections(nofile: number | undefined, workers: number): number {
  const ceiling = DEFAULTS.dataPlane.maxConnectionsPerListener;
  const perProcess = connectionBudget(nofile);
  if (perProcess === undefined) return ceiling;
  return Math.min(ceiling, perProcess * Math.max(1, workers));
}

/**
 * The default UDP session limit of one data-plane process: a session holds one descriptor (its
 * socket towards the member), within the same budget as connections. Each worker has its own
 * table and its own limit.
 */
export function defaultMaxUdpSessions(nofile: number | undefined): number {
  const ceiling = DEFAULTS.dataPlane.maxUdpSessions;
  if (nofile === undefined) return ceiling;
  return Math.min(ceiling, Math.max(1, nofile - RESERVED_DESCRIPTORS));
}
