import * as os from "node:os";
import { parseArgs } from "node:util";
import { isLoopbackHost } from "../../model";
import { StartupError } from "../errors";
import { DEFAULTS, SOCKET_BUFFER_BYTES, validSocketBufferBytes, type DataPlaneEngine, type VipOptions } from "../options";
import { parseVipFlags } from "./vip";

export const MAX_WORKERS = 64;
export const MAX_CONNECTIONS_LIMIT = 10_000_000;
const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal"];

/** The command line, shaped like the node's options (NodeOptions) less what main reads or decides at start. */
export interface CliOptions {
  readonly admin: {
    readonly host: string;
    readonly port: number;
    /** Unset: plain HTTP, which only a loopback admin address (or --allow-plain-http) may serve. */
    readonly tls?: { readonly certFile: string; readonly keyFile: string };
    readonly metricsRequireToken: boolean;
  };
  readonly stateDir: string;
  readonly tokenFile?: string;
  readonly seedFile?: string;
  readonly nodeName: string;
  readonly graceMs: number;
  readonly logLevel: string;
  /** Never fall back to streams: a node whose relay does not load exits instead. */
  readonly requireNative: boolean;
  /** --vip and the BGP flags (cli/vip.ts); the listeners bind the VIP. */
  readonly vip?: VipOptions;
  readonly dataPlane: {
    readonly listenAddress: string;
    readonly workers: number;
    /** Unset: the default engine (native when it loads here). */
    readonly engine?: DataPlaneEngine;
    /** Unset: defaultMaxConnections for this process's open-files limit (limits.ts). */
    readonly maxConnectionsPerListener?: number;
    /** Unset: DEFAULTS.dataPlane.socketBufferBytes. */
    readonly socketBufferBytes?: number;
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

function socketBufferFlag(text: string | undefined): number | undefined {
  const value = integerFlag("--socket-buffer-bytes", text, 0, SOCKET_BUFFER_BYTES.max);
  if (value !== undefined && !validSocketBufferBytes(value)) {
    throw new StartupError(`--socket-buffer-bytes must be 0 (the kernel's autotuning) or from ${SOCKET_BUFFER_BYTES.min} to ${SOCKET_BUFFER_BYTES.max} (got ${JSON.stringify(text)})`);
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
        "listen-address": { type: "string" },
        "state-dir": { type: "string" },
        "token-file": { type: "string" },
        "tls-cert-file": { type: "string" },
        "tls-key-file": { type: "string" },
        "allow-plain-http": { type: "boolean", default: false },
        "metrics-require-token": { type: "boolean", default: false },
        "node-name": { type: "string" },
        "shutdown-grace-seconds": { type: "string", default: String(DEFAULTS.shutdownGraceMs / 1000) },
        "log-level": { type: "string", default: "info" },
        workers: { type: "string" },
        engine: { type: "string" },
        "require-native": { type: "boolean", default: false },
        "hash-seed-file": { type: "string" },
        "max-connections-per-listener": { type: "string" },
        "socket-buffer-bytes": { type: "string" },
        vip: { type: "string" },
        "bgp-local-asn": { type: "string" },
        "bgp-router-id": { type: "string" },
        "bgp-peer": { type: "string", multiple: true },
        "bgp-hold-time": { type: "string" },
        "bgp-bfd": { type: "boolean" },
        "bird-binary": { type: "string" },
        "withdraw-grace-seconds": { type: "string" },
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
  const address = parseHostPort(values["admin-listen"], "--admin-listen");
  const tls = parseTls(values["tls-cert-file"], values["tls-key-file"]);
  if (tls === undefined && !values["allow-plain-http"] && !isLoopbackHost(address.host)) {
    throw new StartupError(
      `--admin-listen ${values["admin-listen"]} is not a loopback address (127.0.0.0/8, ::1), and plain HTTP there sends the admin token across the network in clear text: ` +
        "add --tls-cert-file FILE --tls-key-file FILE to serve HTTPS (or --allow-plain-http to accept clear text)",
    );
  }
  const admin = { ...address, tls, metricsRequireToken: values["metrics-require-token"] };
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
  const vip = parseVipFlags(values);
  const listenAddress = values["listen-address"] ?? vip?.address ?? "0.0.0.0";
  if (vip !== undefined && listenAddress !== vip.address) {
    throw new StartupError(`--listen-address ${listenAddress} and --vip ${vip.address} differ: with --vip the listeners bind the VIP (leave --listen-address out)`);
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
    ...(vip === undefined ? {} : { vip }),
    dataPlane: {
      listenAddress,
      workers,
      engine,
      maxConnectionsPerListener: integerFlag("--max-connections-per-listener", values["max-connections-per-listener"], 1, MAX_CONNECTIONS_LIMIT),
      socketBufferBytes: socketBufferFlag(values["socket-buffer-bytes"]),
      maxUdpSessions: integerFlag("--max-udp-sessions", values["max-udp-sessions"], 1, MAX_CONNECTIONS_LIMIT),
    },
  };
}

function parseTls(certFile: string | undefined, keyFile: string | undefined): CliOptions["admin"]["tls"] {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined || certFile === "" || keyFile === "") {
    throw new StartupError("--tls-cert-file FILE and --tls-key-file FILE go together: give both (HTTPS) or neither (plain HTTP)");
  }
  return { certFile, keyFile };
}
