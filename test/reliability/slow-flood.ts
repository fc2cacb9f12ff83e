/**
 * A child process (forked by admin-lockout.ts) that keeps `count` slow connections to the admin
 * API open: each sends `GET / HTTP/1.1\r\n` and never the rest, and is opened again from the same
 * source address as soon as the node closes it. Reports its counts every 500 ms, and once more
 * (`final`) after "stop", when it closes everything and exits.
 *
 *   node slow-flood.js '{"host":"127.0.10.70","port":1234,"count":1000,"sources":["127.0.10.71"]}'
 */
import * as net from "node:net";

export interface FloodCounts {
  readonly opened: number;
  readonly closedWith408: number;
  readonly closedSilently: number;
}

function main(): void {
  const { host, port, count, sources } = JSON.parse(process.argv[2] ?? "{}") as { host: string; port: number; count: number; sources: string[] };
  const sockets = new Set<net.Socket>();
  const counts = { opened: 0, closedWith408: 0, closedSilently: 0 };
  let running = true;
  const open = (localAddress: string): void => {
    const socket = net.connect({ host, port, localAddress });
    sockets.add(socket);
    let answered408 = false;
    socket.on("connect", () => {
      counts.opened++;
      socket.write("GET / HTTP/1.1\r\n");
    });
    socket.on("data", (chunk: Buffer) => {
      if (chunk.toString("latin1").startsWith("HTTP/1.1 408")) answered408 = true;
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      sockets.delete(socket);
      if (answered408) counts.closedWith408++;
      else counts.closedSilently++;
      if (running) setImmediate(() => running && open(localAddress));
    });
  };
  for (let i = 0; i < count; i++) open(sources[i % sources.length]);
  const timer = setInterval(() => process.send?.({ ...counts }), 500);
  process.on("message", () => {
    running = false;
    clearInterval(timer);
    const final = { ...counts, final: true };
    for (const socket of sockets) socket.destroy();
    process.send?.(final, () => process.exit(0));
  });
  process.once("disconnect", () => process.exit(0));
}

main();
