import pino, { type DestinationStream, type Logger } from "pino";

/**
 * The node's JSON log: one object per line on stdout, `"level":"info"` as a word, ISO time.
 *
 * Writes are synchronous: the volume is small (configuration changes, listener events), and a line
 * logged just before exit (the shutdown, a refused state file) must not be lost in a buffer.
 * Secrets never reach the log: code never passes them, and these paths are redacted in case it did.
 */

export const REDACTED_PATHS = [
  "token",
  "adminToken",
  "hashSeed",
  "seed",
  "authorization",
  "headers.authorization",
  "req.headers.authorization",
  "*.token",
  "*.adminToken",
  "*.hashSeed",
  "*.seed",
];

export interface LoggerOptions {
  readonly level?: string;
  /** Default: stdout, synchronously. Tests pass a stream to read the lines. */
  readonly destination?: DestinationStream;
  readonly nodeName?: string;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { pid: process.pid, ...(options.nodeName !== undefined ? { node: options.nodeName } : {}) },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
