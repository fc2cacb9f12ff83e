import { z } from "zod";
import { canonicalAddress, nonUnicastReason, parseCidr } from "./addresses";
import { UNKNOWN } from "./unknown";

/**
 * Field builders: each knows its allowed range and says it in every error, with the value given,
 * so that a failure reads "timeoutSeconds must be an integer from 2 to 60 (got 61)".
 *
 * Schemas are built by functions, never held at module level: Pulumi serializes the providers
 * with their closures, and a live zod schema object does not survive that.
 */

/** How a resource's fields treat Pulumi's unknown sentinel: let it through (preview) or not. */
export interface FieldMode {
  readonly allowUnknown: boolean;
}

/** How a change to a field is applied, for `diff` and the reference docs. */
export type ChangeKind = "update" | "replace";

export function describeValue(value: unknown): string {
  if (value === undefined) return "nothing";
  // JSON would print NaN and Infinity as null, which hides what was given.
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    // Only a value nested deeply enough to overflow the stack gets here, and String() would too.
    text = "a value nested too deeply to show";
  }
  if (text.length <= 80) return text;
  // A long list cut at 80 characters shows neither its entries nor its length; the length is what a range is about.
  return Array.isArray(value) ? `a list of ${entryCount(value.length)}` : `${text.slice(0, 77)}...`;
}

function entryCount(n: number): string {
  return n === 1 ? "1 entry" : `${n} entries`;
}

type IssueLike = { readonly input?: unknown };

function expecting(allowed: string): (issue: IssueLike) => string {
  return (issue) =>
    issue.input === undefined ? `is required: ${allowed}` : `must be ${allowed} (got ${describeValue(issue.input)})`;
}

export class Fields {
  constructor(private readonly mode: FieldMode) {}

  /**
   * In preview mode every field also accepts the unknown sentinel. The static type stays the
   * known-value type on purpose: only strict (admin API) parses are consumed as typed specs;
   * preview parses are handed back to the engine as they are.
   */
  maybeUnknown<T extends z.ZodType>(schema: T): T {
    if (!this.mode.allowUnknown) return schema;
    return z.union([z.literal(UNKNOWN), schema]) as unknown as T;
  }

  integer(min: number, max: number) {
    const message = expecting(`an integer from ${min} to ${max}`);
    return this.maybeUnknown(
      z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message }),
    );
  }

  port() {
    return this.integer(1, 65535);
  }

  oneOf<const T extends readonly [string, ...string[]]>(values: T, onlyMessage?: string) {
    const listed = values.map((v) => `"${v}"`).join(", ");
    const base = expecting(values.length === 1 ? `"${values[0]}"` : `one of ${listed}`);
    const message = onlyMessage
      ? (issue: IssueLike) =>
          issue.input === undefined ? base(issue) : `must be ${listed}: ${onlyMessage} (got ${describeValue(issue.input)})`
      : base;
    return this.maybeUnknown(z.enum(values, { error: message }));
  }

  boolean() {
    return this.maybeUnknown(z.boolean({ error: expecting("true or false") }));
  }

  /** 1-32 characters of Chinese characters, letters, digits, `-` and `_`. */
  name() {
    const message = expecting("1-32 characters of Chinese characters, letters, digits, '-' and '_'");
    return this.maybeUnknown(
      z.string({ error: message }).regex(/^[\p{Script=Han}A-Za-z0-9_-]{1,32}$/u, { error: message }),
    );
  }

  description() {
    const message = expecting("text of at most 256 characters");
    return this.maybeUnknown(z.string({ error: message }).max(256, { error: message }));
  }

  /**
   * Free-form text such as an image name or a token. A secret's failure names the rule but never
   * the value: Pulumi prints failures in the clear.
   */
  text(allowed: string, rule: { readonly minLength?: number; readonly pattern?: RegExp; readonly secret?: boolean } = {}) {
    const plain = expecting(allowed);
    const message = rule.secret
      ? (issue: IssueLike) => (issue.input === undefined ? plain(issue) : `must be ${allowed} (the value is secret: not shown)`)
      : plain;
    let text = z.string({ error: message });
    if (rule.minLength !== undefined) text = text.min(rule.minLength, { error: message });
    if (rule.pattern !== undefined) text = text.regex(rule.pattern, { error: message });
    return this.maybeUnknown(text);
  }

  /** An id of another object on the load balancer (the id Pulumi shows for that resource). */
  reference(kind: string) {
    const message = expecting(`the id of a ${kind} (1-100 characters: letters, digits, '.', '-', '_')`);
    return this.maybeUnknown(z.string({ error: message }).regex(ID_PATTERN, { error: message }));
  }

  /**
   * An IPv4 or IPv6 literal, stored canonically. Hostnames are refused, with `whyNoHostname`
   * saying why this field in particular needs an IP.
   */
  address(whyNoHostname: string) {
    const message = (issue: IssueLike) =>
      typeof issue.input === "string" && /[a-z]/i.test(issue.input) && !issue.input.includes(":")
        ? `must be an IPv4 or IPv6 address, not a hostname (got ${describeValue(issue.input)}): ${whyNoHostname}`
        : expecting("an IPv4 or IPv6 address such as 10.0.0.5 or fd00::5")(issue);
    return this.maybeUnknown(
      z
        .string({ error: message })
        .refine((text) => canonicalAddress(text) !== undefined, { error: message })
        .transform((text) => canonicalAddress(text) as string),
    );
  }

  /** A member's address: an IP literal that names one host (not 0.0.0.0, ::, multicast or broadcast). */
  memberAddress() {
    return this.unicastAddress("members are addressed by IP so that every node builds the same table");
  }

  /** An IP literal that names one host (not 0.0.0.0, ::, multicast or broadcast). */
  unicastAddress(whyNoHostname: string) {
    return this.address(whyNoHostname).superRefine((address, refine) => {
      const reason = address === UNKNOWN ? undefined : nonUnicastReason(address);
      if (reason !== undefined) refine.addIssue({ code: "custom", message: `must be a unicast address (got ${describeValue(address)}): ${reason}` });
    });
  }

  cidr() {
    const message = expecting("a CIDR such as 10.0.0.0/16 or fd00::/64");
    return this.maybeUnknown(z.string({ error: message }).refine((text) => parseCidr(text) !== undefined, { error: message }));
  }

  /** A list of `min`-`max` entries. */
  list<T extends z.ZodType>(item: T, min: number, max: number) {
    const allowed = `a list of ${min} to ${max} entries`;
    const message = (issue: IssueLike) =>
      Array.isArray(issue.input) ? `must be ${allowed} (got ${entryCount(issue.input.length)})` : expecting(allowed)(issue);
    return this.maybeUnknown(z.array(item, { error: message }).min(min, { error: message }).max(max, { error: message }));
  }

  /** An object that names its unexpected fields, so a typo (`timeoutSecond`) is caught at preview. */
  object<T extends z.core.$ZodLooseShape>(what: string, shape: T) {
    return this.maybeUnknown(this.strictObject(what, shape));
  }

  /** The same object without the unknown sentinel: an option of a tagged union must be an object. */
  strictObject<T extends z.core.$ZodLooseShape>(what: string, shape: T) {
    const allowed = Object.keys(shape).join(", ");
    return z.strictObject(shape, {
      error: (issue) =>
        issue.code === "unrecognized_keys"
          ? `is not a field of ${what} (allowed: ${allowed})`
          : expecting(`an object (${what})`)(issue),
    });
  }
}

/** Ids as they appear in admin API paths (`/v1/listeners/{id}`). */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
