/**
 * Holds idle TCP connections open to one address, for the benchmark's memory figure. Run as its
 * own process (so its sockets count against its own file limit, not the benchmark's):
 *
 *   node idle-holder.js HOST PORT COUNT SOURCES HOLD_MS
 *
 * SOURCES is a comma-separated list of local addresses the connections are spread over (so no
 * single source address runs out of ephemeral ports). Prints one JSON line
 * `{"opened":N,"failed":M,"ms":T}` once every connection is open or has failed, then sends
 * nothing and keeps them open until it is sent SIGTERM or HOLD_MS has passed.
 *
 * On SIGTERM it sends the redis command QUIT on every connection and waits (at most 10 s) for the
 * server to close them. The server closing first leaves the TIME_WAIT entries on its side: had
 * the client closed first, the proxy would close its backend connections first, and each run
 * would leave thousands of TIME_WAIT entries on the proxy's ephemeral ports, making its later
 * connects search for a free port (and the figures measured after it slower).
 */
import * as net from "node:net";

const IN_FLIGHT = 256;

function main(argv: readonly string[]): void {
  const [host, portText, countText, sourcesText, holdText] = argv;
  const port = Number(portText);
  const count = Number(countText);
  const sources = (sourcesText ?? "").split(",").filter((s) => s !== "");
  const holdMs = Number(holdText);
  if (host === undefined || !(port > 0) || !(count > 0) || sources.length === 0 || !(holdMs > 0)) {
    process.stderr.write("usage: idle-holder HOST PORT COUNT SOURCES HOLD_MS\n");
    process.exit(2);
  }
  const start = Date.now();
  const sockets: net.Socket[] = [];
  let started = 0;
  let settled = 0;
  let failed = 0;
  const exitTimer = setTimeout(() => process.exit(0), holdMs);
  process.once("SIGTERM", () => {
    clearTimeout(exitTimer);
    let open = 0;
    for (const s of sockets) {
      if (s.destroyed) continue;
      open++;
      s.once("close", () => {
        if (--open === 0) process.exit(0);
      });
      s.write("QUIT\r\n"); // no FIN from us: the server closes first
    }
    if (open === 0) process.exit(0);
    setTimeout(() => process.exit(0), 10_000).unref();
  });
  const next = (): void => {
    if (started >= count) return;
    const i = started++;
    const socket = net.connect({ host, port, localAddress: sources[i % sources.length] });
    let done = false;
    const settle = (ok: boolean): void => {
      if (done) return;
      done = true;
      if (!ok) failed++;
      if (++settled === count) process.stdout.write(`${JSON.stringify({ opened: count - failed, failed, ms: Date.now() - start })}\n`);
      next();
    };
    socket.once("connect", () => settle(true));
    socket.on("error", () => settle(false));
    socket.resume(); // reads (and drops) the server's answer to QUIT
    sockets.push(socket);
  };
  for (let i = 0; i < IN_FLIGHT; i++) next();
}

main(process.argv.slice(2));
