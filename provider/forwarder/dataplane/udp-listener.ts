/**
 * One UDP listener's socket: bound on (listen address, port) and handing every datagram to the
 * data plane, which finds or opens the client's session (udp-sessions.ts). Both engines use it:
 * UDP runs on Node's `dgram` whatever the engine.
 */
import * as dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { describeBindError, type OpenServer } from "./listener";

export type DatagramHandler = (message: Buffer, clientAddress: string, clientPort: number) => void;

export class UdpServer implements OpenServer {
  private closed = false;

  constructor(
    private readonly socket: dgram.Socket,
    /** The bound address, the local address of every session's flow hash. */
    readonly localAddress: string,
    readonly localPort: number,
  ) {}

  /** Sends an answer to a client; dropped once the listener has closed (its sessions may still drain). */
  send(message: Buffer, clientPort: number, clientAddress: string): void {
    if (this.closed) return;
    this.socket.send(message, clientPort, clientAddress);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close();
  }
}

/**
 * Binds UDP on `host:port` (with SO_REUSEPORT for the node's worker processes, where the kernel
 * keeps one client address and port on one socket, so a session lives in one worker). Rejects
 * with the same messages as a TCP bind; a failed bind leaves nothing open.
 */
export function listenUdp(host: string, port: number, onDatagram: DatagramHandler, onError: (err: Error) => void, reusePort = false): Promise<UdpServer> {
  return new Promise<UdpServer>((resolve, reject) => {
    const socket = dgram.createSocket({ type: isIPv6(host) ? "udp6" : "udp4", ...(reusePort ? { reusePort: true } : {}) });
    const failed = (err: NodeJS.ErrnoException): void => {
      socket.close();
      reject(new Error(describeBindError(err, host, port)));
    };
    socket.once("error", failed);
    socket.bind({ address: host, port }, () => {
      socket.off("error", failed);
      socket.on("error", onError);
      socket.on("message", (message, remote) => onDatagram(message, remote.address, remote.port));
      const bound = socket.address();
      resolve(new UdpServer(socket, bound.address, bound.port));
    });
  });
}
