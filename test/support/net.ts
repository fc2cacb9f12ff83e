import * as net from "node:net";

/** Starts `server` listening on `host:port` (0: a port the kernel picks); resolves with the port. */
export function listen(server: net.Server, host: string, port = 0): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * `count` ports free on `host` right now, from the kernel's ephemeral range (bound together, so
 * distinct, then released). Tests use them instead of fixed ports so that two runs of the suite
 * (or other suites) on one machine do not collide.
 */
export async function freePorts(host: string, count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  const ports = await Promise.all(servers.map((server) => listen(server, host)));
  await Promise.all(servers.map(closeServer));
  return ports;
}

export async function freePort(host: string): Promise<number> {
  return (await freePorts(host, 1))[0];
}

/** An echo server standing in for a backend member, on `port` (0: one the kernel picks). */
export async function echoServer(host: string, port = 0): Promise<net.Server> {
  const server = net.createServer((socket) => {
    // Health probes connect and reset (as LVS does), and a forwarder that is killed or drains
    // resets its side: neither is an error here.
    socket.on("error", () => socket.destroy());
    socket.pipe(socket);
  });
  await listen(server, host, port);
  return server;
}

/**
 * Sends `text` to `host:port` (an echo member, directly or through a forwarder) and resolves with
 * what came back once as much has arrived, or with less when the other side closes first.
 */
export function roundTrip(host: string, port: number, text: string, timeoutMs = 5_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let received = "";
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no echo from ${host}:${port} in ${timeoutMs} ms (got ${JSON.stringify(received)})`));
    }, timeoutMs);
    socket.setEncoding("utf8");
    socket.once("connect", () => socket.write(text));
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.length >= text.length) socket.end();
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve(received);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
