import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderReference } from "../provider/model";

/** `npm run docs`: rewrites docs/reference.md from the schemas. */
const target = join(__dirname, "..", "..", "docs", "reference.md");
writeFileSync(target, renderReference());
console.log(`wrote ${target}`);
