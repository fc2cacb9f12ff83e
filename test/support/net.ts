import * as net from "node:net";

/**
 * `count` ports free on `host` right now, from the kernel's ephemeral range (bound together, so
 * distinct, then released). Tests use them instead of fixed ports so that two runs of the suite
 * (or other suites) on one machine do not collide.
 */
export async function freePorts(host: string, count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once("error", reject);
          server.listen({ host, port: 0, exclusive: true }, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

export async function freePort(host: string): Promise<number> {
  return (await freePorts(host, 1))[0];
}

/** An echo server standing in for a backend member, on `port` (0: one the kernel picks). */
export function echoServer(host: string, port = 0): Promise<net.Server> {
  const server = net.createServer((socket) => {
    // Health probes connect and reset (as LVS does), and a forwarder that is killed or drains
    // resets its side: neither is an error here.
    socket.on("error", () => socket.destroy());
    socket.pipe(socket);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => resolve(server));
  });
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
