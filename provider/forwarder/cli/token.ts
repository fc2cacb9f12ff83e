import { promises as fs } from "node:fs";
import { StartupError } from "../errors";

export const MIN_TOKEN_LENGTH = 16;

/** The admin token from DNLB_ADMIN_TOKEN or --token-file (exactly one of them). Never echoed. */
export async function readToken(tokenFile: string | undefined, fromEnvironment: string | undefined): Promise<string> {
  const fromEnv = fromEnvironment !== undefined && fromEnvironment !== "";
  if (fromEnv && tokenFile !== undefined) {
    throw new StartupError("the admin token is given twice (DNLB_ADMIN_TOKEN and --token-file): give exactly one");
  }
  let token: string;
  if (tokenFile !== undefined) {
    try {
      token = (await fs.readFile(tokenFile, "utf8")).trim();
    } catch (error) {
      throw new StartupError(`cannot read the admin token from --token-file ${tokenFile} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  } else if (fromEnv) {
    token = (fromEnvironment as string).trim();
  } else {
    throw new StartupError(
      "no admin token: set DNLB_ADMIN_TOKEN or pass --token-file FILE (the admin API refuses to run without one)",
    );
  }
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new StartupError(`the admin token is too short: at least ${MIN_TOKEN_LENGTH} characters are required (got ${token.length})`);
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new StartupError("the admin token must be printable ASCII without spaces (it is sent as a bearer token)");
  }
  return token;
}
