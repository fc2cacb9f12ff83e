import * as os from "node:os";
import { parseArgs } from "node:util";
import { StartupError } from "../errors";
import { DEFAULTS, type DataPlaneEngine } from "../options";

export const MAX_WORKERS = 64;
export const MAX_CONNECTIONS_LIMIT = 10_000_000;
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

/** The command line, shaped like the node's options (NodeOptions) less what main reads or decides at start. */
export interface CliOptions {
  readonly admin: { readonly host: string; readonly port: number };
  readonly stateDir: string;
  readonly tokenFile?: string;
  readonly seedFile?: string;
  readonly nodeName: string;
  readonly graceMs: number;
  readonly logLevel: string;
  /** Never fall back to streams: a node whose relay does not load exits instead. */
  readonly requireNative: boolean;
  readonly dataPlane: {
    readonly listenAddress: string;
    readonly workers: number;
    /** Unset: the default engine (native when it loads here). */
    readonly engine?: DataPlaneEngine;
    /** Unset: defaultMaxConnections for this process's open-files limit (limits.ts). */
    readonly maxConnectionsPerListener?: number;
    /** Unset: defaultMaxUdpSessions for this process's open-files limit (limits.ts). */
    readonly maxUdpSessions?: number;
  };
}

/** Parses `HOST:PORT` or `[IPV6]:PORT`. */
export function parseHostPort(text: string, flag: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new StartupError(`${flag} must be HOST:PORT such as 127.0.1.1:9180 or [::1]:9180 (got ${JSON.stringify(text)})`);
  }
  return { host: match[1] ?? match[2], port };
}

/** An integer flag from `min` to `max`; unset gives undefined. */
function integerFlag(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max || text.trim() === "") {
    throw new StartupError(`${flag} must be an integer from ${min} to ${max} (got ${JSON.stringify(text)})`);
  }
  return value;
}

export function parseCli(argv: readonly string[]): CliOptions | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        "admin-listen": { type: "string" },
        "listen-address": { type: "string", default: "0.0.0.0" },
        "state-dir": { type: "string" },
        "token-file": { type: "string" },
        "node-name": { type: "string" },
        "shutdown-grace-seconds": { type: "string", default: String(DEFAULTS.shutdownGraceMs / 1000) },
        "log-level": { type: "string", default: "info" },
        workers: { type: "string" },
        engine: { type: "string" },
        "require-native": { type: "boolean", default: false },
        "hash-seed-file": { type: "string" },
        "max-connections-per-listener": { type: "string" },
        "max-udp-sessions": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new StartupError((error as Error).message);
  }
  if (values.help) return "help";
  if (values["admin-listen"] === undefined) throw new StartupError("--admin-listen HOST:PORT is required");
  if (values["state-dir"] === undefined || values["state-dir"] === "") throw new StartupError("--state-dir DIR is required");
  const admin = parseHostPort(values["admin-listen"], "--admin-listen");
  const grace = Number(values["shutdown-grace-seconds"]);
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) {
    throw new StartupError(`--shutdown-grace-seconds must be a number from 0 to 3600 (got ${JSON.stringify(values["shutdown-grace-seconds"])})`);
  }
  if (!LOG_LEVELS.includes(values["log-level"])) {
    throw new StartupError(`--log-level must be one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(values["log-level"])})`);
  }
  const workers = integerFlag("--workers", values.workers, 0, MAX_WORKERS) ?? Math.min(MAX_WORKERS, os.availableParallelism());
  const engine = values.engine;
  if (engine !== undefined && engine !== "native" && engine !== "streams") {
    throw new StartupError(`--engine must be native or streams (got ${JSON.stringify(engine)})`);
  }
  if (values["require-native"] && engine === "streams") {
    throw new StartupError("--require-native and --engine streams contradict each other: give one of them");
  }
  return {
    admin,
    stateDir: values["state-dir"],
    tokenFile: values["token-file"],
    seedFile: values["hash-seed-file"],
    nodeName: values["node-name"] ?? os.hostname(),
    graceMs: Math.round(grace * 1000),
    logLevel: values["log-level"],
    requireNative: values["require-native"],
    dataPlane: {
      listenAddress: values["listen-address"],
      workers,
      engine,
      maxConnectionsPerListener: integerFlag("--max-connections-per-listener", values["max-connections-per-listener"], 1, MAX_CONNECTIONS_LIMIT),
      maxUdpSessions: integerFlag("--max-udp-sessions", values["max-udp-sessions"], 1, MAX_CONNECTIONS_LIMIT),
    },
  };
}
