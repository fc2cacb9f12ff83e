/**
 * Pulumi's wire form of a secret: an object carrying a signature key. The engine keeps a value
 * so marked secret in the state (encrypted) and masks it in every display.
 *
 * The dynamic-provider host tells the engine it does not accept secrets, so the engine strips
 * the marks before calling a provider; the provider marks the admin token again in what it
 * returns, so that the token stays secret even when the program passed it in plain text.
 */
export const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface SecretValue<T> {
  readonly [SECRET_SIG_KEY]: typeof SECRET_SIG;
  readonly value: T;
}

export function secret<T>(value: T): SecretValue<T> {
  return { [SECRET_SIG_KEY]: SECRET_SIG, value };
}

export function isSecret(value: unknown): value is SecretValue<unknown> {
  return (
    value !== null &&
    typeof value === "object" &&
    (value as Record<string, unknown>)[SECRET_SIG_KEY] === SECRET_SIG
  );
}

/** The value with every secret mark removed, at any depth (what the engine sends a provider). */
export function unwrapSecrets(value: unknown): unknown {
  if (isSecret(value)) return unwrapSecrets(value.value);
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = unwrapSecrets(v);
    return out;
  }
  return value;
}

export function unwrapProps(value: unknown): Record<string, unknown> {
  const unwrapped = unwrapSecrets(value ?? {});
  return unwrapped !== null && typeof unwrapped === "object" && !Array.isArray(unwrapped)
    ? (unwrapped as Record<string, unknown>)
    : {};
}
