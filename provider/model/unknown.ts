/**
 * Pulumi marks a value that is not known yet (during `pulumi preview`) with this sentinel string,
 * in any position, even where a number or an object is expected. Validation must let it through
 * untouched: the real value is checked again at `pulumi up`, when it is known.
 */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export function isUnknown(value: unknown): boolean {
  return value === UNKNOWN;
}

export function containsUnknown(value: unknown): boolean {
  if (value === UNKNOWN) return true;
  if (Array.isArray(value)) return value.some(containsUnknown);
  if (value !== null && typeof value === "object") return Object.values(value).some(containsUnknown);
  return false;
}
