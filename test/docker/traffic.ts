import * as dgram from "node:dgram";
import * as net from "node:net";

/**
 * A client as a user would be: open a TCP connection to a listener, send an HTTP request, read
 * which demo backend answered ("hello from b2"). Every connection is bounded in time.
 */

export type Outcome = { readonly ok: true; readonly backend: string } | { readonly ok: false; readonly error: string };

export function askOnce(host: string, port: number, timeoutMs = 3000): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let data = "";
    const done = (outcome: Outcome) => {
      socket.destroy();
      clearTimeout(timer);
      resolve(outcome);
    };
    const timer = setTimeout(() => done({ ok: false, error: "timeout" }), timeoutMs);
    socket.on("connect", () => socket.write("GET / HTTP/1.0\r\nHost: dnlb\r\n\r\n"));
    socket.on("data", (chunk: Buffer) => (data += chunk.toString("utf8")));
    socket.on("error", (err) => done({ ok: false, error: err.message }));
    socket.on("close", () => {
      const match = /hello from (\S+)/.exec(data);
      done(match ? { ok: true, backend: match[1] } : { ok: false, error: `no answer (${JSON.stringify(data.slice(0, 80))})` });
    });
  });
}

export interface Tally {
  readonly total: number;
  readonly failures: number;
  readonly byBackend: ReadonlyMap<string, number>;
  readonly errors: readonly string[];
}

/** `count` connections, `concurrency` at a time. */
export async function tally(host: string, port: number, count: number, concurrency = 16): Promise<Tally> {
  const byBackend = new Map<string, number>();
  const errors: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const outcome = await askOnce(host, port);
      if (outcome.ok) byBackend.set(outcome.backend, (byBackend.get(outcome.backend) ?? 0) + 1);
      else errors.push(outcome.error);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { total: count, failures: errors.length, byBackend, errors: errors.slice(0, 5) };
}

export function shares(t: Tally): Record<string, number> {
  const ok = t.total - t.failures;
  const out: Record<string, number> = {};
  for (const [backend, n] of [...t.byBackend.entries()].sort()) out[backend] = Number((n / ok).toFixed(3));
  return out;
}

/**
 * UDP clients: `sessions` client ports, `concurrency` at a time, each sending `perSession`
 * datagrams one after the other and reading which demo backend answered ("hello from b2"); a
 * datagram unanswered within `timeoutMs` is a failure (on loopback nothing is lost on the way).
 */
export async function tallyUdp(host: string, port: number, sessions: number, perSession: number, concurrency = 32, timeoutMs = 2000): Promise<Tally> {
  const byBackend = new Map<string, number>();
  const errors: string[] = [];
  const session = async () => {
    const socket = dgram.createSocket("udp4");
    socket.on("error", (err) => errors.push(err.message));
    await new Promise<void>((resolve) => socket.connect(port, host, resolve));
    for (let i = 0; i < perSession; i++) {
      const answer = await new Promise<string | undefined>((resolve) => {
        const timer = setTimeout(() => done(undefined), timeoutMs);
        const done = (text: string | undefined) => {
          clearTimeout(timer);
          socket.off("message", onMessage);
          resolve(text);
        };
        const onMessage = (message: Buffer) => done(message.toString("utf8"));
        socket.on("message", onMessage);
        socket.send(`query ${i}`);
      });
      const match = answer === undefined ? null : /hello from (\S+)/.exec(answer);
      if (match) byBackend.set(match[1], (byBackend.get(match[1]) ?? 0) + 1);
      else errors.push(answer === undefined ? "no answer" : `unexpected answer ${JSON.stringify(answer.slice(0, 40))}`);
    }
    socket.close();
  };
  let next = 0;
  const worker = async () => {
    while (next < sessions) {
      next++;
      await session();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, sessions) }, worker));
  return { total: sessions * perSession, failures: errors.length, byBackend, errors: errors.slice(0, 5) };
}
