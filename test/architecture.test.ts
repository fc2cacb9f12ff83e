import { strict as assert } from "node:assert";
import * as fs from "node:fs";
import * as path from "node:path";

/**
 * The import rules of docs/ARCHITECTURE.md, enforced: the "Who owns what" table is the rule, read
 * from the document itself, so the picture a newcomer reads and the code cannot drift apart.
 * A file's folder is the longest folder of the table that holds it; it may import its own folder,
 * and what its row's "may import" column names: folders (`provider/model/`), packages (`zod`),
 * or every built-in module (`node:*`).
 */

const ROOT = path.resolve(__dirname, "../..");

interface Rule {
  readonly folder: string;
  readonly folders: readonly string[];
  readonly packages: readonly string[];
}

function readRules(): Rule[] {
  const doc = fs.readFileSync(path.join(ROOT, "docs/ARCHITECTURE.md"), "utf8");
  const section = doc.split(/^## Who owns what$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'docs/ARCHITECTURE.md has no "## Who owns what" section');
  const rules: Rule[] = [];
  for (const line of section.split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    if (cells.length < 5 || !cells[1].startsWith("`provider/")) continue;
    const folder = /^`([^`]+)`/.exec(cells[1])![1];
    const named = [...cells[3].matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    rules.push({
      folder,
      folders: named.filter((n) => n.startsWith("provider/")),
      packages: named.filter((n) => !n.startsWith("provider/")),
    });
  }
  return rules;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(rel);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [rel] : [];
  });
}

function importsOf(file: string): { spec: string; line: number }[] {
  // Comments show usage (`import * as dnlb from "pulumi-dnlb"`) without importing: blank them, keeping lines.
  const text = fs
    .readFileSync(path.join(ROOT, file), "utf8")
    .replace(/\/\*[\s\S]*?\*\//g, (comment) => comment.replace(/[^\n]/g, " "))
    .replace(/^\s*\/\/.*$/gm, "");
  const found: { spec: string; line: number }[] = [];
  // Not after a quote: code inside a string (a container's healthcheck script) imports nothing here.
  const pattern = /(?:^|[^\w.'"`])(?:from|import|require)\s*\(?\s*["']([^"']+)["']/g;
  for (const match of text.matchAll(pattern)) {
    found.push({ spec: match[1], line: text.slice(0, match.index).split("\n").length });
  }
  return found;
}

/** The table's row for a path: a file `provider/a/b.ts` or a folder `provider/a/b/`. */
function ruleFor(rules: readonly Rule[], target: string): Rule | undefined {
  return rules.filter((r) => target.startsWith(r.folder)).sort((a, b) => b.folder.length - a.folder.length)[0];
}

function packageName(spec: string): string {
  if (spec.startsWith("node:")) return spec.split("/")[0];
  const parts = spec.split("/");
  return spec.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function violations(rules: readonly Rule[]): string[] {
  const found: string[] = [];
  for (const file of sourceFiles("provider")) {
    const rule = ruleFor(rules, file);
    if (rule === undefined) {
      found.push(`${file}: its folder has no row in docs/ARCHITECTURE.md "Who owns what"`);
      continue;
    }
    for (const { spec, line } of importsOf(file)) {
      if (spec.startsWith(".")) {
        const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec));
        const owner = ruleFor(rules, `${target}/`) ?? ruleFor(rules, target);
        if (owner === undefined) {
          found.push(`${file}:${line} imports ${spec}, which is in no folder of the table`);
        } else if (owner !== rule && !rule.folders.includes(owner.folder)) {
          found.push(`${file}:${line} imports ${spec} (${owner.folder}), which ${rule.folder} may not import`);
        }
      } else {
        const name = packageName(spec);
        const allowed = rule.packages.includes(name) || (name.startsWith("node:") && rule.packages.includes("node:*"));
        if (!allowed) found.push(`${file}:${line} imports ${spec}, which ${rule.folder} may not import`);
      }
    }
  }
  return found;
}

describe("docs/ARCHITECTURE.md import rules", () => {
  const rules = readRules();

  it("has a row for every folder under provider/", () => {
    assert.ok(rules.length >= 5, `only ${rules.length} rows read from the table`);
    const folders = new Set(sourceFiles("provider").map((f) => `${path.posix.dirname(f)}/`));
    const missing = [...folders].filter((f) => !rules.some((r) => r.folder === f));
    assert.deepEqual(missing, [], "folders without their own row");
  });

  it("every import in provider/ is one its folder's row allows", () => {
    assert.deepEqual(violations(rules), []);
  });

  it("fails when an import breaks a rule (the check itself can fail)", () => {
    // The pure model may not import the forwarder: a table that allowed it would be caught here.
    const model = rules.find((r) => r.folder === "provider/model/");
    assert.ok(model, "no row for provider/model/");
    const strict = rules.map((r) => (r === model ? { ...r, packages: [] } : r));
    assert.ok(violations(strict).some((v) => v.startsWith("provider/model/") && v.includes("zod")));
  });
});
