/**
 * The descriptor budget of a data-plane process. Descriptors are per process, connection limits
 * per listener: without a budget across listeners, a flood on two listeners runs the process out
 * of descriptors (EMFILE) and takes the admin API, the probes and the store writes down with it.
 */
import { readFileSync } from "node:fs";

/**
 * Descriptors a process keeps for everything but proxied connections (the admin API, probes,
 * the state file, logs, the listeners themselves), so that a flood of clients never locks the
 * operator out.
 */
export const RESERVED_DESCRIPTORS = 512;

/** A proxied connection holds two descriptors: its client's socket and its member's. */
const DESCRIPTORS_PER_CONNECTION = 2;

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
 * Proxied connections one process can hold open at once, across all its listeners, with
 * RESERVED_DESCRIPTORS left over: (limit - reserve) / 2, at least 1. Undefined when the limit is
 * unknown (no budget).
 */
export function connectionBudget(nofile: number | undefined): number | undefined {
  if (nofile === undefined) return undefined;
  return Math.max(1, Math.floor((nofile - RESERVED_DESCRIPTORS) / DESCRIPTORS_PER_CONNECTION));
}
