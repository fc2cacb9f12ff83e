/**
 * UDP peers for tests on loopback: a member that answers every datagram with its name and
 * remembers the source ports it heard from (one per session the node opened towards it), and a
 * client that asks one datagram at a time from one port.
 */
import * as dgram from "node:dgram";
import { waitFor } from "../../support/wait";

/** A UDP member answering every datagram with its name; remembers the source ports it heard from. */
export class UdpMember {
  readonly sourcePorts = new Set<number>();

  private constructor(
    private readonly socket: dgram.Socket,
    readonly host: string,
    readonly port: number,
  ) {}

  static start(host: string, name: string): Promise<UdpMember> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket("udp4");
      socket.once("error", reject);
      socket.bind({ address: host, port: 0 }, () => {
        const member = new UdpMember(socket, host, socket.address().port);
        socket.on("message", (_message, remote) => {
          member.sourcePorts.add(remote.port);
          socket.send(name, remote.port, remote.address);
        });
        resolve(member);
      });
    });
  }

  close(): void {
    this.socket.close();
  }
}

/** One client port asking one datagram at a time; each answer's text, or "lost" after `timeoutMs`. */
export class UdpClient {
  private waiting: ((answer: string) => void) | undefined;

  private constructor(private readonly socket: dgram.Socket) {
    socket.on("message", (message) => this.waiting?.(message.toString()));
  }

  static open(address: string): Promise<UdpClient> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket("udp4");
      socket.once("error", reject);
      socket.bind({ address, port: 0 }, () => resolve(new UdpClient(socket)));
    });
  }

  ask(host: string, port: number, timeoutMs = 2000): Promise<string> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        resolve("lost");
      }, timeoutMs);
      this.waiting = (answer) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(answer);
      };
      this.socket.send("who", port, host);
    });
  }

  /** `count` questions in turn, after a first answer shows the listener serves. */
  async askMany(host: string, port: number, count: number): Promise<string[]> {
    await waitFor(async () => (await this.ask(host, port, 500)) !== "lost", 10_000, `the UDP listener on ${host}:${port} to answer`);
    const answers: string[] = [];
    for (let i = 0; i < count; i++) answers.push(await this.ask(host, port));
    return answers;
  }

  close(): void {
    this.socket.close();
  }
}
