import { SECRET_SIG, SECRET_SIG_KEY } from "../../provider/resources/secrets";

/** Paths of the strings holding `secret` outside a secret mark, anywhere in `value`. */
export function unmasked(value: unknown, secret: string, at = "$"): string[] {
  if (typeof value === "string") return value.includes(secret) ? [at] : [];
  if (Array.isArray(value)) return value.flatMap((v, i) => unmasked(v, secret, `${at}[${i}]`));
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[SECRET_SIG_KEY] === SECRET_SIG) return [];
    return Object.entries(record).flatMap(([k, v]) => unmasked(v, secret, `${at}.${k}`));
  }
  return [];
}
