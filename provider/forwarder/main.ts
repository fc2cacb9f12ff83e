#!/usr/bin/env node
import type { Logger } from "pino";
import { formatHostPort } from "../model";
import { parseCli } from "./cli/arguments";
import { defaultMaxConnections, defaultMaxUdpSessions } from "./cli/limits";
import { openFilesLimit } from "./dataplane/descriptors";
import { recordSeedFingerprint, resolveSeed, seedHistory } from "./cli/seed";
import { readToken } from "./cli/token";
import { USAGE } from "./cli/usage";
import { chooseEngine } from "./runtime/engine";
import { StartupError, StateFileError } from "./errors";
import { createLogger } from "./logger";
import { readableByOthers } from "./cli/secret-files";
import { ForwarderNode } from "./node";

/**
 * dnlb-forwarder: runs one forwarder node.
 *
 * Exit codes: 0 after a clean shutdown (SIGTERM/SIGINT), 1 when the node cannot run (a state
 * file it refuses, an address it cannot bind, a crash), 2 for a command line or environment it
 * cannot start with. The token and the seed are never logged.
 */

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
    for (const [file, what] of [[cli.tokenFile, "the admin token file"], [cli.admin.tls?.keyFile, "the admin TLS key file"]] as const) {
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
    const history = await seedHistory(cli.stateDir, seed.value);
    if (history === "different") {
      logger.warn(
        { seedSource: seed.source, stateDir: cli.stateDir },
        "the hash seed is not the one this node last ran with on this state directory: every client's member may change (new connections of a client may go to another member than before); open connections keep theirs",
      );
    }
    const workers = cli.dataPlane.workers;
    const engine = chooseEngine(cli.dataPlane.engine, cli.requireNative);
    if (engine.name === "streams" && cli.dataPlane.engine === undefined) {
      logger.warn({ reason: engine.reason }, "the data plane uses Node's sockets (engine streams)");
    }
    const maxConnectionsPerListener = cli.dataPlane.maxConnectionsPerListener ?? defaultMaxConnections(openFilesLimit(), workers);
    const maxUdpSessions = cli.dataPlane.maxUdpSessions ?? defaultMaxUdpSessions(openFilesLimit());
    const node = await ForwarderNode.start({
      admin: { ...cli.admin, token },
      stateDir: cli.stateDir,
      nodeName: cli.nodeName,
      logger,
      ...(cli.vip === undefined ? {} : { vip: cli.vip }),
      dataPlane: {
        ...cli.dataPlane,
        hashSeed: seed.value,
        workers,
        engine: engine.name,
        engineReason: engine.reason,
        maxConnectionsPerListener,
        maxUdpSessions,
      },
    });
    handleSignals(node, logger, cli.graceMs);
    if (history !== "same") await recordSeedFingerprint(cli.stateDir, seed.value);
    logger.info(
      {
        admin: formatHostPort(node.adminAddress.host, node.adminAddress.port),
        adminUrl: node.url,
        listenAddress: cli.dataPlane.listenAddress,
        vip: cli.vip?.address,
        bgpPeers: cli.vip?.bgp?.peers.length,
        stateDir: cli.stateDir,
        seedSource: seed.source,
        seedChanged: history === "different",
        workers,
        engine: engine.name,
        maxConnectionsPerListener,
        objects: node.counts(),
      },
      "ready",
    );
  } catch (error) {
    fail(logger, error);
  }
}

function handleSignals(node: ForwarderNode, logger: Logger, graceMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn({ signal }, "second signal: exiting without waiting for connections");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs, withdrawGraceMs: node.withdrawGraceMs }, "shutting down");
    // A close that hangs past the grace periods (plus a margin) must not keep the node alive.
    setTimeout(() => {
      logger.error({ graceMs }, "shutdown did not finish in time");
      process.exit(1);
    }, node.withdrawGraceMs + graceMs + 10_000).unref();
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
