import { readFileSync } from "node:fs";
import { DEFAULTS } from "../options";

/**
 * Descriptors a data-plane process keeps for everything but proxied connections (the admin API,
 * probes, the state file, logs), so that a flood of clients never locks the operator out.
 */
const RESERVED_DESCRIPTORS = 512;

/** The soft open-files limit of this process (Linux), or undefined where it cannot be read. */
export function openFilesLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return undefined;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (match === null) return undefined;
  return match[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

/**
 * The default connection limit: a proxied connection holds two descriptors in its data-plane
 * process, so past (limit - reserve) / 2 connections accept() would fail with EMFILE for every
 * socket of the process, the admin API's included. Workers each have their own limit.
 */
export function defaultMaxConnections(nofile: number | undefined, workers: number): number {
  const ceiling = DEFAULTS.dataPlane.maxConnectionsPerListener;
  if (nofile === undefined) return ceiling;
  const perProcess = Math.max(1, Math.floor((nofile - RESERVED_DESCRIPTORS) / 2));
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
