import { promises as fs, unwatchFile, watchFile, type Stats } from "node:fs";
import { createSecureContext } from "node:tls";
import type { Logger } from "pino";
import { StartupError } from "../errors";

/**
 * The admin API's certificate and key (PEM files), and their reload without a restart: both files
 * are polled, and a changed pair is loaded into the running server for new connections. A pair
 * that does not load (a key that does not match the certificate, a file half written) is logged
 * and the previous one kept, so a bad rotation never takes the admin API down.
 */

export interface AdminTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** How often the files are polled for a change. Default 5 s. */
  readonly reloadIntervalMs?: number;
}

export interface KeyPair {
  readonly cert: Buffer;
  readonly key: Buffer;
}

export const DEFAULT_TLS_RELOAD_INTERVAL_MS = 5_000;

/** Reads the pair and checks that it loads (PEM, and a key that matches the certificate). */
export async function readKeyPair(files: AdminTlsFiles): Promise<KeyPair> {
  const read = async (file: string, flag: string) => {
    try {
      return await fs.readFile(file);
    } catch (error) {
      throw new StartupError(`cannot read ${flag} ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
  };
  const [cert, key] = await Promise.all([read(files.certFile, "--tls-cert-file"), read(files.keyFile, "--tls-key-file")]);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new StartupError(
      `--tls-cert-file ${files.certFile} and --tls-key-file ${files.keyFile} do not load as a PEM certificate and its private key (${(error as Error).message})`,
    );
  }
  return { cert, key };
}

/** Polls the pair's files and hands every new pair that loads to `apply`. `close` is idempotent. */
export class KeyPairReloader {
  private current: KeyPair;
  private reloading: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly onChange = (now: Stats, before: Stats) => {
    if (now.mtimeMs === before.mtimeMs && now.ino === before.ino && now.size === before.size) return;
    this.reloading = this.reloading.then(() => this.reload());
  };

  constructor(
    private readonly files: AdminTlsFiles,
    initial: KeyPair,
    private readonly apply: (pair: KeyPair) => void,
    private readonly logger: Logger,
  ) {
    this.current = initial;
    const interval = files.reloadIntervalMs ?? DEFAULT_TLS_RELOAD_INTERVAL_MS;
    for (const file of [files.certFile, files.keyFile]) watchFile(file, { interval, persistent: false }, this.onChange);
  }

  /** Loads the files again; a pair equal to the current one changes nothing. */
  async reload(): Promise<void> {
    if (this.closed) return;
    let pair: KeyPair;
    try {
      pair = await readKeyPair(this.files);
    } catch (error) {
      this.logger.warn(
        { certFile: this.files.certFile, keyFile: this.files.keyFile, reason: (error as Error).message },
        "the admin TLS certificate changed but does not load: still serving the previous one",
      );
      return;
    }
    if (this.closed || (pair.cert.equals(this.current.cert) && pair.key.equals(this.current.key))) return;
    this.apply(pair);
    this.current = pair;
    this.logger.info({ certFile: this.files.certFile }, "admin TLS certificate reloaded: new connections get it");
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const file of [this.files.certFile, this.files.keyFile]) unwatchFile(file, this.onChange);
  }
}
