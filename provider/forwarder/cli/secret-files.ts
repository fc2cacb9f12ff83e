import { promises as fs } from "node:fs";

/**
 * The permission bits of a secret file when group or others may read or write it (mode & 0o077),
 * else undefined. Undefined too when it cannot be stat'ed: reading it reports that.
 */
export async function readableByOthers(file: string): Promise<number | undefined> {
  try {
    const mode = (await fs.stat(file)).mode & 0o777;
    return (mode & 0o077) === 0 ? undefined : mode;
  } catch {
    return undefined;
  }
}
