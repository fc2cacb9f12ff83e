import { z } from "zod";
import { ChangeKind } from "./fields";
import { modelSchemas } from "./schemas";

/**
 * docs/reference.md is rendered from the schemas, so ranges and defaults are written once.
 * Pure: the caller writes the text (docs/gen-reference.ts) or compares it (the staleness test).
 */

interface FieldDoc {
  readonly name: string;
  readonly type: string;
  readonly range: string;
  readonly defaultValue: string;
  readonly required: boolean;
  readonly change: ChangeKind;
  readonly description: string;
}

type JsonSchema = {
  type?: string | string[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  maxLength?: number;
  minLength?: number;
  pattern?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  change?: ChangeKind;
  /** A range the JSON Schema cannot state (a length in bytes), given with the field's meta. */
  range?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  required?: string[];
};

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${JSON.stringify(v)}\``).join(" \\| ");
  if (s.anyOf ?? s.oneOf) return (s.anyOf ?? s.oneOf ?? []).map(typeOf).join(" or ");
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "values"}`;
  if (s.type === "object") return "object";
  return String(s.type ?? "any");
}

/** Patterns read better in words; these are the ones fields.ts and schemas.ts use. */
const PATTERN_WORDS: Record<string, string> = {
  "^[\\p{Script=Han}A-Za-z0-9_-]{1,32}$": "1-32 characters: Chinese characters, letters, digits, `-`, `_`",
  "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$": "an id (1-100 characters: letters, digits, `.`, `-`, `_`)",
  "^[0-9a-f]{32}$": "32 hex characters",
};

function rangeOf(s: JsonSchema): string {
  if (s.range !== undefined) return s.range;
  if (s.minimum !== undefined && s.maximum !== undefined) return `${s.minimum}-${s.maximum}`;
  if (s.minItems !== undefined || s.maxItems !== undefined) return `${s.minItems ?? 0}-${s.maxItems ?? "any"} entries`;
  if (s.maxLength !== undefined) return `at most ${s.maxLength} characters`;
  if (s.minLength !== undefined) return `at least ${s.minLength} characters`;
  if (s.pattern !== undefined) return PATTERN_WORDS[s.pattern] ?? `\`${s.pattern}\``;
  if (s.anyOf ?? s.oneOf) return (s.anyOf ?? s.oneOf ?? []).map(rangeOf).filter(Boolean).join(" or ");
  return "";
}

function fieldDocs(schema: z.ZodType): FieldDoc[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties ?? {}).map(([name, s]) => ({
    name,
    type: typeOf(s),
    range: rangeOf(s),
    defaultValue: s.default === undefined ? "" : `\`${JSON.stringify(s.default)}\``,
    // `check` fills `name` from the Pulumi resource name, so users never have to give it.
    required: required.has(name) && name !== "name",
    change: s.change ?? "update",
    description: s.description ?? "",
  }));
}

function memberDocs(schema: z.ZodType, field: string): FieldDoc[] {
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const items = json.properties?.[field]?.items;
  if (!items?.properties) return [];
  const required = new Set(items.required ?? []);
  return Object.entries(items.properties)
    .filter(([, s]) => s.type !== undefined || s.anyOf !== undefined || s.enum !== undefined)
    .map(([name, s]) => ({
      name: `${field}[].${name}`,
      type: typeOf(s),
      range: rangeOf(s),
      defaultValue: s.default === undefined ? "" : `\`${JSON.stringify(s.default)}\``,
      required: required.has(name),
      change: "update" as ChangeKind,
      description: s.description ?? "",
    }));
}

function table(rows: FieldDoc[]): string {
  const head = "| field | type | range | default | required | change | meaning |\n|---|---|---|---|---|---|---|";
  const body = rows.map(
    (r) =>
      `| \`${r.name}\` | ${r.type} | ${r.range} | ${r.defaultValue} | ${r.required ? "yes" : ""} | ${r.change} | ${r.description} |`,
  );
  return [head, ...body].join("\n");
}

/** Fields whose change replaces the resource (read by the providers' `diff`). */
export function replaceFields(schema: z.ZodType): string[] {
  return fieldDocs(schema)
    .filter((f) => f.change === "replace")
    .map((f) => f.name);
}

export function renderReference(): string {
  const s = modelSchemas({ allowUnknown: false });
  const sections: [string, z.ZodType, string | undefined][] = [
    ["HealthCheck", s.healthCheck, undefined],
    ["VirtualServerGroup", s.virtualServerGroup, "members"],
    ["HighAvailabilityGroup", s.highAvailabilityGroup, "members"],
    ["BackendService", s.backendService, undefined],
    ["Listener", s.listener, undefined],
    ["LoadBalancer (component arguments)", s.loadBalancer, undefined],
  ];
  const parts = [
    "# Resource reference",
    "",
    "Generated from the zod schemas in `provider/model/schemas.ts` by `npm run docs`; a test fails when it is stale.",
    "Every resource also takes `loadBalancer` (the `LoadBalancer`'s `connection` output). `name` defaults to the Pulumi",
    "resource name. A value outside its range is a `pulumi preview` failure naming the property, the value and the range.",
    "Members of a high-availability group refuse `weight` and `port`.",
  ];
  for (const [title, schema, members] of sections) {
    parts.push("", `## ${title}`, "", table([...fieldDocs(schema), ...(members ? memberDocs(schema, members) : [])]));
  }
  return `${parts.join("\n")}\n`;
}
