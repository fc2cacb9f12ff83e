import { randomBytes } from "node:crypto";
import { ID_PATTERN } from "../model";

/**
 * Node object ids. An id is the Pulumi resource name made path-safe, plus a random suffix so
 * that two stacks (or a replacement and the object it replaces) never fight over one id on a
 * shared load balancer. `check` makes it once and keeps it from the old inputs afterwards;
 * Pulumi calls `check` without old inputs for a replacement, so a replacement gets a new id.
 */

const SUFFIX_BYTES = 4;
/** ID_PATTERN allows 100 characters; leave room for "-" and the suffix. */
const MAX_BASE = 100 - 1 - SUFFIX_BYTES * 2;

/** `web.80 (eu)` -> `web.80-eu`; characters outside ID_PATTERN become "-", and the result starts with a letter or digit. */
export function idBase(resourceName: string | undefined, fallback: string): string {
  const cleaned = (resourceName ?? "")
    .normalize("NFKD")
    .replace(/[^A-Za-z0-9_.-]+/g, "-")
    .replace(/^[^A-Za-z0-9]+/, "")
    .replace(/-+$/, "")
    .slice(0, MAX_BASE);
  return cleaned === "" ? fallback : cleaned;
}

export function objectIdFrom(base: string, suffixHex: string): string {
  return `${base}-${suffixHex}`;
}

/** A fresh id for a resource being created (or replaced). */
export function newObjectId(resourceName: string | undefined, fallback: string): string {
  return objectIdFrom(idBase(resourceName, fallback), randomBytes(SUFFIX_BYTES).toString("hex"));
}

export function isObjectId(value: unknown): value is string {
  return typeof value === "string" && ID_PATTERN.test(value);
}
