import { createHmac, randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import * as path from "node:path";
import { StartupError, StateFileError } from "../errors";
import { writeFileAtomic } from "../store/file";

/**
 * The hash seed keys the flow hash. Every node of a load balancer must use the same one, or the
 * same client lands on different members depending on the node it reaches; the LoadBalancer
 * component passes it as DNLB_HASH_SEED. A node started without one (by hand, for a try) generates
 * one and keeps it in the state directory, so at least it stays stable across its own restarts.
 *
 * A node restarted with another seed (or without the one it had, falling back to the state
 * directory's) moves clients to other members. To say so, the state directory keeps a
 * fingerprint of the seed the node last ran with: a keyed hash from which the seed cannot be
 * recovered, so the seed itself is never written where it was given from elsewhere.
 */

export const SEED_FILE = "hash-seed";
export const SEED_FINGERPRINT_FILE = "hash-seed.fingerprint";
/** The format the LoadBalancer component generates (the model's `hashSeed`). */
export const SEED_PATTERN = /^[0-9a-f]{32}$/;

export type SeedSource = "environment" | "file" | "state-dir" | "generated";

export interface Seed {
  readonly value: string;
  readonly source: SeedSource;
  /** The file the seed was read from or written to, when it came from the state directory. */
  readonly file?: string;
}

/** Checks a seed given in the environment. Never puts the value in the message. */
export function checkSeed(value: string, from: string): string {
  if (!SEED_PATTERN.test(value)) {
    throw new StartupError(`${from} must be 32 lowercase hex characters (got ${value.length} characters of another form)`);
  }
  return value;
}

/**
 * The seed from the environment or --hash-seed-file (at most one of them), else the state
 * directory's, else a new one saved there.
 */
export async function resolveSeed(stateDir: string, fromEnvironment: string | undefined, seedFile?: string): Promise<Seed> {
  const fromEnv = fromEnvironment !== undefined && fromEnvironment !== "";
  if (fromEnv && seedFile !== undefined) {
    throw new StartupError("the hash seed is given twice (DNLB_HASH_SEED and --hash-seed-file): give exactly one");
  }
  if (fromEnv) return { value: checkSeed(fromEnvironment as string, "DNLB_HASH_SEED"), source: "environment" };
  if (seedFile !== undefined) {
    let text: string;
    try {
      text = await fs.readFile(seedFile, "utf8");
    } catch (error) {
      throw new StartupError(`cannot read the hash seed from --hash-seed-file ${seedFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    return { value: checkSeed(text.trim(), `--hash-seed-file ${seedFile}`), source: "file", file: seedFile };
  }
  const file = path.join(stateDir, SEED_FILE);
  await fs.mkdir(stateDir, { recursive: true });
  let text: string | undefined;
  try {
    text = await fs.readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") {
      throw new StateFileError(file, `cannot be read (${(error as Error).message})`);
    }
  }
  if (text !== undefined) {
    const value = text.trim();
    if (!SEED_PATTERN.test(value)) throw new StateFileError(file, "does not hold a hash seed (32 lowercase hex characters)");
    return { value, source: "state-dir", file };
  }
  const value = randomBytes(16).toString("hex");
  await writeFileAtomic(file, `${value}\n`, 0o600);
  return { value, source: "generated", file };
}

/** A keyed hash of the seed: equal for equal seeds, and telling nothing of the seed itself. */
export function seedFingerprint(seed: string): string {
  return createHmac("sha256", seed).update("dnlb hash-seed fingerprint").digest("hex").slice(0, 32);
}

/** How `seed` compares with the one the node last ran with on this state directory. */
export type SeedHistory = "first" | "same" | "different";

/** Compares `seed` with the fingerprint recordSeedFingerprint left in `stateDir` ("first" when there is none). */
export async function seedHistory(stateDir: string, seed: string): Promise<SeedHistory> {
  const file = path.join(stateDir, SEED_FINGERPRINT_FILE);
  let recorded: string;
  try {
    recorded = (await fs.readFile(file, "utf8")).trim();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "first";
    throw new StateFileError(file, `cannot be read (${(error as Error).message})`);
  }
  return recorded === seedFingerprint(seed) ? "same" : "different";
}

/** Records the seed the node now runs with (its fingerprint), for the next start to compare. */
export async function recordSeedFingerprint(stateDir: string, seed: string): Promise<void> {
  const file = path.join(stateDir, SEED_FINGERPRINT_FILE);
  await fs.mkdir(stateDir, { recursive: true });
  await writeFileAtomic(file, `${seedFingerprint(seed)}\n`, 0o600);
}
