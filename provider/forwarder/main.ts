#!/usr/bin/env node
import { promises as fs, readFileSync } from "node:fs";
import * as os from "node:os";
import { parseArgs } from "node:util";
import type { Logger } from "pino";
import { formatHostPort } from "./admin/server";
import type { DataPlaneEngine } from "./dataplane/dataplane";
import { nativeRelayUnavailable } from "./native/relay";
import { StartupError, StateFileError } from "./errors";
import { createLogger } from "./logger";
import { readableByOthers } from "./cli/secret-files";
import { isLoopbackHost } from "../model";
import { ForwarderNode } from "./node";
import { resolveSeed } from "./cli/seed";
import { reusePortSupported } from "./workers/pool";

/**
 * dnlb-forwarder: runs one forwarder node.
 *
 * Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the node cannot run (a state
 * file it refuses, an address it cannot bind, a crash), 2 for a command line or environment it
 * cannot start with. The token and the seed are never logged.
 */

export const MAX_WORKERS = 64;
export const DEFAULT_MAX_CONNECTIONS = 100_000;
export const MAX_CONNECTIONS_LIMIT = 10_000_000;

export const USAGE = `usage: dnlb-forwarder --admin-listen HOST:PORT --state-dir DIR [options]

  --admin-listen HOST:PORT     admin API address, e.g. 127.0.1.1:9180 or [::1]:9180 (port 0: ephemeral)
  --listen-address ADDR        address listeners bind (default 0.0.0.0)
  --state-dir DIR              where the configuration (config.json) is kept
  --token-file FILE            file holding the admin API token (else DNLB_ADMIN_TOKEN); a warning
                               is logged when group or others can read it
  --tls-cert-file FILE         serve the admin API over HTTPS with this PEM certificate (chain)...
  --tls-key-file FILE          ...and this PEM private key. Both files are watched: a new pair is
                               served to new connections without a restart (a bad one is logged
                               and the old one kept). Required when --admin-listen is not loopback
  --allow-plain-http           serve plain HTTP on an admin address that is not loopback: the
                               token then crosses the network in clear text
  --metrics-require-token      /metrics needs the bearer token too (default: open, on the admin
                               address only; /healthz is always open)
  --hash-seed-file FILE        file holding the hash seed (else DNLB_HASH_SEED): keeps it out of
                               the process environment
  --node-name NAME             name in logs and status (default: the host name)
  --shutdown-grace-seconds S   on SIGTERM, how long open connections may finish (default 10)
  --workers N                  data-plane worker processes sharing the listener ports,
                               0-${MAX_WORKERS} (default: the number of CPUs; 0 runs the data
                               plane in the node's own process)
  --engine native|streams      who moves the bytes: native (the C relay built with the package,
                               less than half the CPU per connection) or streams (Node's sockets).
                               Default: native when it loads on this host, else streams
  --max-connections-per-listener N
                               open client connections a listener holds before it resets new
                               ones, 1-${MAX_CONNECTIONS_LIMIT} (default: what the open-files limit allows, two
                               descriptors a connection per data-plane process, at most ${DEFAULT_MAX_CONNECTIONS})
  --log-level LEVEL            trace, debug, info, warn, error (default info)

environment:
  DNLB_ADMIN_TOKEN   admin API bearer token, at least 16 characters (or --token-file)
  DNLB_HASH_SEED     the load balancer's hash seed, 32 hex characters; every node of a load
                     balancer must have the same one. Unset: a seed generated and kept in the
                     state directory (fine for one node, wrong for several).
`;

export const MIN_TOKEN_LENGTH = 16;

/**
 * Descriptors a data-plane process keeps for everything but proxied connections (the admin API,
 * probes, the state file, logs), so that a flood of clients never locks the operator out.
 */
const RESERVED_DESCRIPTORS = 512;

/** The soft open-files limit of this process (Linux), or undefined where it cannot be read. */
export function openFilesLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try {
      text = readFileSync("/proc/self/limits", "utf8");
    } catch {
      return undefined;
    }
  }
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(text);
  if (match === null) return undefined;
  return match[1] === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

/**
 * The default connection limit: a proxied connection holds two descriptors in its data-plane
 * process, so past (limit - reserve) / 2 connections accept() would fail with EMFILE for every
 * socket of the process, the admin API's included. Workers each have their own limit.
 */
export function defaultMaxConnections(nofile: number | undefined, workers: number): number {
  if (nofile === undefined) return DEFAULT_MAX_CONNECTIONS;
  const perProcess = Math.max(1, Math.floor((nofile - RESERVED_DESCRIPTORS) / 2));
  return Math.min(DEFAULT_MAX_CONNECTIONS, perProcess * Math.max(1, workers));
}

export interface CliOptions {
  readonly adminHost: string;
  readonly adminPort: number;
  readonly listenAddress: string;
  readonly stateDir: string;
  readonly tokenFile?: string;
  readonly tls?: { readonly certFile: string; readonly keyFile: string };
  readonly metricsRequireToken: boolean;
  readonly nodeName: string;
  readonly graceMs: number;
  readonly logLevel: string;
  readonly workers: number;
  /** Unset: the default engine (native when it loads here). */
  readonly engine?: DataPlaneEngine;
  readonly seedFile?: string;
  /** Unset: defaultMaxConnections for this process's open-files limit. */
  readonly maxConnectionsPerListener?: number;
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
        "tls-cert-file": { type: "string" },
        "tls-key-file": { type: "string" },
        "allow-plain-http": { type: "boolean", default: false },
        "metrics-require-token": { type: "boolean", default: false },
        "node-name": { type: "string" },
        "shutdown-grace-seconds": { type: "string", default: "10" },
        "log-level": { type: "string", default: "info" },
        workers: { type: "string" },
        engine: { type: "string" },
        "hash-seed-file": { type: "string" },
        "max-connections-per-listener": { type: "string" },
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
  const tls = parseTls(values["tls-cert-file"], values["tls-key-file"]);
  if (tls === undefined && !values["allow-plain-http"] && !isLoopbackHost(admin.host)) {
    throw new StartupError(
      `--admin-listen ${values["admin-listen"]} is not a loopback address (127.0.0.0/8, ::1), and plain HTTP there sends the admin token across the network in clear text: ` +
        "add --tls-cert-file FILE --tls-key-file FILE to serve HTTPS (or --allow-plain-http to accept clear text)",
    );
  }
  const grace = Number(values["shutdown-grace-seconds"]);
  if (!Number.isFinite(grace) || grace < 0 || grace > 3600) {
    throw new StartupError(`--shutdown-grace-seconds must be a number from 0 to 3600 (got ${JSON.stringify(values["shutdown-grace-seconds"])})`);
  }
  const levels = ["trace", "debug", "info", "warn", "error", "fatal"];
  if (!levels.includes(values["log-level"])) {
    throw new StartupError(`--log-level must be one of ${levels.join(", ")} (got ${JSON.stringify(values["log-level"])})`);
  }
  const workers = values.workers === undefined ? Math.min(MAX_WORKERS, os.availableParallelism()) : Number(values.workers);
  if (!Number.isInteger(workers) || workers < 0 || workers > MAX_WORKERS || values.workers?.trim() === "") {
    throw new StartupError(`--workers must be an integer from 0 to ${MAX_WORKERS} (got ${JSON.stringify(values.workers)})`);
  }
  const engine = values.engine;
  if (engine !== undefined && engine !== "native" && engine !== "streams") {
    throw new StartupError(`--engine must be native or streams (got ${JSON.stringify(engine)})`);
  }
  const limitText = values["max-connections-per-listener"];
  const maxConnections = limitText === undefined ? undefined : Number(limitText);
  if (maxConnections !== undefined && (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > MAX_CONNECTIONS_LIMIT || limitText?.trim() === "")) {
    throw new StartupError(
      `--max-connections-per-listener must be an integer from 1 to ${MAX_CONNECTIONS_LIMIT} (got ${JSON.stringify(limitText)})`,
    );
  }
  return {
    adminHost: admin.host,
    adminPort: admin.port,
    listenAddress: values["listen-address"],
    stateDir: values["state-dir"],
    tokenFile: values["token-file"],
    tls,
    metricsRequireToken: values["metrics-require-token"],
    nodeName: values["node-name"] ?? os.hostname(),
    graceMs: Math.round(grace * 1000),
    logLevel: values["log-level"],
    workers,
    engine,
    seedFile: values["hash-seed-file"],
    maxConnectionsPerListener: maxConnections,
  };
}

function parseTls(certFile: string | undefined, keyFile: string | undefined): CliOptions["tls"] {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined || certFile === "" || keyFile === "") {
    throw new StartupError("--tls-cert-file FILE and --tls-key-file FILE go together: give both (HTTPS) or neither (plain HTTP)");
  }
  return { certFile, keyFile };
}

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

function exitCodeFor(error: unknown): number {
  return error instanceof StartupError ? 2 : 1;
}

function fail(logger: Logger | undefined, error: unknown): never {
  const message = error instanceof Error ? error.message : String(error);
  const known = error instanceof StartupError || error instanceof StateFileError;
  logger?.fatal(known ? { reason: message } : { err: error }, "cannot run");
  process.stderr.write(`dnlb-forwarder: ${message}\n${error instanceof StartupError ? "run dnlb-forwarder --help for usage\n" : ""}`);
  process.exit(exitCodeFor(error));
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<void> {
  let logger: Logger | undefined;
  try {
    const cli = parseCli(argv);
    if (cli === "help") {
      process.stdout.write(USAGE);
      return;
    }
    logger = createLogger({ level: cli.logLevel, nodeName: cli.nodeName });
    const token = await readToken(cli.tokenFile, env.DNLB_ADMIN_TOKEN);
    for (const [file, what] of [[cli.tokenFile, "the admin token file"], [cli.tls?.keyFile, "the admin TLS key file"]] as const) {
      const mode = file === undefined ? undefined : await readableByOthers(file);
      if (mode !== undefined) logger.warn({ file, mode: `0${mode.toString(8)}` }, `${what} is readable by group or others: chmod 600 it`);
    }
    const seed = await resolveSeed(cli.stateDir, env.DNLB_HASH_SEED, cli.seedFile);
    // Nothing started from here on needs them in the environment.
    delete env.DNLB_ADMIN_TOKEN;
    delete env.DNLB_HASH_SEED;
    if (seed.source === "state-dir" || seed.source === "generated") {
      logger.warn(
        { seedFile: seed.file, seedSource: seed.source },
        "DNLB_HASH_SEED is not set: using the seed kept in the state directory. Every node of a load balancer must share one seed, or a client lands on different members depending on the node it reaches",
      );
    }
    let workers = cli.workers;
    if (workers > 1 && !reusePortSupported()) {
      logger.warn(
        { requestedWorkers: workers, node: process.versions.node },
        "this Node cannot share a port between processes (listen reusePort needs Node 22.12 or later): running one data-plane worker",
      );
      workers = 1;
    }
    const engine = chooseEngine(cli.engine, logger);
    const maxConnectionsPerListener = cli.maxConnectionsPerListener ?? defaultMaxConnections(openFilesLimit(), workers);
    const node = await ForwarderNode.start({
      adminHost: cli.adminHost,
      adminPort: cli.adminPort,
      listenAddress: cli.listenAddress,
      stateDir: cli.stateDir,
      token,
      tls: cli.tls,
      metricsRequireToken: cli.metricsRequireToken,
      hashSeed: seed.value,
      logger,
      nodeName: cli.nodeName,
      workers,
      engine,
      maxConnectionsPerListener,
    });
    handleSignals(node, logger, cli.graceMs);
    logger.info(
      {
        admin: formatHostPort(node.adminAddress),
        adminUrl: node.url,
        listenAddress: cli.listenAddress,
        stateDir: cli.stateDir,
        seedSource: seed.source,
        workers,
        engine,
        maxConnectionsPerListener,
        objects: node.counts(),
      },
      "ready",
    );
  } catch (error) {
    fail(logger, error);
  }
}

/** `--engine`, else native where it loads; a native engine that cannot load is a startup error when asked for. */
function chooseEngine(asked: DataPlaneEngine | undefined, logger: Logger): DataPlaneEngine {
  const why = nativeRelayUnavailable();
  if (asked === "native" && why !== undefined) throw new StartupError(`--engine native: the native relay does not load here: ${why}`);
  if (asked !== undefined) return asked;
  if (why !== undefined) logger.warn({ reason: why }, "the native relay does not load here: the data plane uses Node's sockets (engine streams)");
  return why === undefined ? "native" : "streams";
}

function handleSignals(node: ForwarderNode, logger: Logger, graceMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting without waiting for connections");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs }, "shutting down");
    // A close that hangs past the grace period (plus a margin) must not keep the node alive.
    setTimeout(() => {
      logger.error({ graceMs }, "shutdown did not finish in time");
      process.exit(1);
    }, graceMs + 10_000).unref();
    node.close({ graceMs }).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.on("uncaughtException", (error) => {
    logger.fatal({ err: error }, "uncaught exception");
    process.exit(1);
  });
  process.on("unhandledRejection", (reason) => {
    logger.fatal({ err: reason }, "unhandled rejection");
    process.exit(1);
  });
}

if (require.main === module) {
  void main(process.argv.slice(2), process.env);
}
