import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { ID_PATTERN, KINDS, parseSpec, type Kind } from "../../model";
import { EMPTY_CONFIG, type ConfigSnapshot, type Stored } from "./snapshot";
import { StateFileError } from "../errors";
import { objectsOf, withObject } from "./objects";
import { snapshotProblems } from "./rules";

/**
 * The state file: the node's whole configuration as one JSON document,
 *
 *   { "format": "dnlb-config", "version": 1, "lastRevision": 7,
 *     "objects": { "listeners": { "web-80": { "revision": 2, "spec": { ... } } }, ... } }
 *
 * (`lastRevision` keeps revisions unique after deletes; files without it are read as 0.)
 *
 * written atomically (temp file in the same directory, write, fsync, rename, fsync the directory)
 * so that after a crash at any instant the file is either the previous or the next configuration,
 * never a mix. A file that is not exactly this format is refused, never replaced: it may be an
 * operator's only copy of something.
 */

export const STATE_FILE = "config.json";
export const FORMAT = "dnlb-config";
export const FORMAT_VERSION = 1;

const TEMP_PREFIX = `${STATE_FILE}.tmp-`;

type StoredDocument = { revision: number; spec: unknown };

export function serializeConfig(config: ConfigSnapshot): string {
  const objects: Record<string, Record<string, StoredDocument>> = {};
  for (const kind of KINDS) {
    const entries = [...objectsOf(config, kind).values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    objects[kind] = Object.fromEntries(entries.map((s) => [s.id, { revision: s.revision, spec: s.spec }]));
  }
  const document = { format: FORMAT, version: FORMAT_VERSION, lastRevision: config.lastRevision ?? 0, objects };
  return `${JSON.stringify(document, null, 2)}\n`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Parses a state file's text. Throws StateFileError naming `file` and what is wrong. */
export function parseConfig(file: string, text: string): ConfigSnapshot {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new StateFileError(file, `is not valid JSON (${(error as Error).message})`);
  }
  if (!isRecord(document) || document.format !== FORMAT) {
    throw new StateFileError(file, `is not a dnlb configuration (it has no "format": "${FORMAT}")`);
  }
  if (document.version !== FORMAT_VERSION) {
    throw new StateFileError(
      file,
      `has format version ${JSON.stringify(document.version)}, and this node reads version ${FORMAT_VERSION}`,
    );
  }
  const objects = document.objects;
  if (!isRecord(objects)) throw new StateFileError(file, `has no "objects" map`);
  for (const key of Object.keys(objects)) {
    if (!(KINDS as readonly string[]).includes(key)) {
      throw new StateFileError(file, `has objects of an unknown kind ${JSON.stringify(key)}`);
    }
  }
  const lastRevision = document.lastRevision ?? 0;
  if (typeof lastRevision !== "number" || !Number.isSafeInteger(lastRevision) || lastRevision < 0) {
    throw new StateFileError(file, `has lastRevision ${JSON.stringify(lastRevision)} (a non-negative integer is required)`);
  }
  let config: ConfigSnapshot = { ...EMPTY_CONFIG, lastRevision };
  for (const kind of KINDS) {
    const entries = objects[kind] ?? {};
    if (!isRecord(entries)) throw new StateFileError(file, `has "${kind}" that is not a map of id to object`);
    for (const [id, entry] of Object.entries(entries)) config = withObject(config, kind, parseEntry(file, kind, id, entry));
  }
  const problems = snapshotProblems(config);
  if (problems.length > 0) throw new StateFileError(file, `breaks the configuration rules: ${problems.join("; ")}`);
  return config;
}

function parseEntry(file: string, kind: Kind, id: string, entry: unknown): Stored<never> {
  const where = `${kind}/${id}`;
  if (!ID_PATTERN.test(id)) throw new StateFileError(file, `has an invalid id ${JSON.stringify(id)} in "${kind}"`);
  if (!isRecord(entry)) throw new StateFileError(file, `has ${where} that is not an object`);
  const revision = entry.revision;
  if (typeof revision !== "number" || !Number.isSafeInteger(revision) || revision < 1) {
    throw new StateFileError(file, `has ${where} with revision ${JSON.stringify(revision)} (a positive integer is required)`);
  }
  const parsed = parseSpec(kind, entry.spec);
  if (!parsed.ok) {
    throw new StateFileError(file, `has an invalid ${where}: ${parsed.failures.map((f) => f.reason).join("; ")}`);
  }
  return { id, revision, spec: parsed.spec } as Stored<never>;
}

/** The step after the rename, replaceable by tests to make it fail. */
export interface AtomicWriteSteps {
  /** Makes the rename durable: without it a power loss can bring back the old name. */
  readonly syncDirectory: (directory: fs.FileHandle) => Promise<void>;
}

const DEFAULT_STEPS: AtomicWriteSteps = { syncDirectory: (directory) => directory.sync() };

/**
 * Writes `data` to `file` atomically and durably (see the header comment), and the outcome is the
 * truth: when it throws, `file` holds what it held before. Everything that can fail runs before the
 * rename (the directory is opened first), except the directory's fsync; when that fails, the
 * previous file (kept under a temporary name) is renamed back before the error is thrown.
 */
export async function writeFileAtomic(file: string, data: string, mode = 0o644, steps: AtomicWriteSteps = DEFAULT_STEPS): Promise<void> {
  const dir = path.dirname(file);
  const temp = tempPath(file);
  const previous = tempPath(file);
  let directory: fs.FileHandle | undefined;
  let handle: fs.FileHandle | undefined;
  let keptPrevious = false;
  try {
    directory = await fs.open(dir, "r");
    handle = await fs.open(temp, "wx", mode);
    await handle.writeFile(data, "utf8");
    await handle.sync();
    await handle.close();
    handle = undefined;
    keptPrevious = await keepPrevious(file, previous);
    await fs.rename(temp, file);
    try {
      await steps.syncDirectory(directory);
    } catch (error) {
      const link = keptPrevious ? previous : undefined;
      keptPrevious = false; // from here the link is the previous file, not a copy of it
      await putBack(file, link);
      await directory.sync().catch(() => undefined);
      throw error;
    }
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw error;
  } finally {
    await directory?.close().catch(() => undefined);
    // A link left behind (this failed) is an unacknowledged write's: loadConfig removes it.
    if (keptPrevious) await fs.rm(previous, { force: true }).catch(() => undefined);
  }
}

function tempPath(file: string): string {
  return path.join(path.dirname(file), `${path.basename(file)}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`);
}

/** Keeps `file` as `keep` (a hard link, else a copy); false when there is no `file` yet. */
async function keepPrevious(file: string, keep: string): Promise<boolean> {
  try {
    await fs.link(file, keep);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
  }
  // No hard links on this file system, or `file` is not a regular file (the copy then fails as the
  // rename would have).
  await fs.copyFile(file, keep);
  return true;
}

/** Undoes the rename: `previous` back in place, or no file when there was none. */
async function putBack(file: string, previous: string | undefined): Promise<void> {
  if (previous === undefined) await fs.rm(file, { force: true });
  else await fs.rename(previous, file);
}

/**
 * Reads the configuration from `stateDir` (created when missing). No state file is the empty
 * configuration (a first start); a leftover temp file is an unacknowledged write and is removed.
 */
export async function loadConfig(stateDir: string): Promise<ConfigSnapshot> {
  await fs.mkdir(stateDir, { recursive: true });
  for (const name of await fs.readdir(stateDir)) {
    if (name.startsWith(TEMP_PREFIX)) await fs.rm(path.join(stateDir, name), { force: true });
  }
  const file = path.join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return EMPTY_CONFIG;
    throw new StateFileError(file, `cannot be read (${(error as Error).message})`);
  }
  return parseConfig(file, text);
}

export async function saveConfig(stateDir: string, config: ConfigSnapshot, steps?: AtomicWriteSteps): Promise<void> {
  await writeFileAtomic(path.join(stateDir, STATE_FILE), serializeConfig(config), undefined, steps);
}
