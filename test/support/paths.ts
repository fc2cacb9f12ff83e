import * as path from "node:path";

/** The repository root, from this file's compiled place in dist/test/support. */
export const PROJECT_ROOT = path.resolve(__dirname, "../../..");
