/**
 * One UDP listener's socket on Node's `dgram` (engine "streams"): bound on (listen address, port)
 * and handing every datagram to the data plane, which finds or opens the client's session
 * (udp-sessions.ts). The native engine's UDP listener is the relay's (listener.ts `listenNative`).
 */
import * as dgram from "node:dgram";
import { isIPv6 } from "node:net";
import { describeBindError, type BoundSocket, type OpenServer } from "./listener";

/**
 * A UDP listener's receive buffer, both engines (SO_RCVBUF; the kernel caps it at
 * net.core.rmem_max, 208 KiB by default, and doubles it for its bookkeeping): a burst of new
 * clients waits there while their sessions are opened. With the kernel's default, 600 clients
 * asking at once lost 344 queries with either engine, the buffer's 256 datagrams being taken
 * (test/forwarder/dataplane-udp.test.ts; docs/udp.md).
 */
export const UDP_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024;

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
 * Binds UDP on `host:port`, never with SO_REUSEPORT (a process of the same user could join the
 * port and take a share of the datagrams), or receives on `shared`: the UDP socket the node's
 * primary bound on that port and handed to the one worker that reads it (workers/bound-sockets.ts). Rejects with
 * the same messages as a TCP bind; a failed bind leaves nothing open.
 */
export function listenUdp(host: string, port: number, onDatagram: DatagramHandler, onError: (err: Error) => void, shared?: BoundSocket): Promise<UdpServer> {
  return new Promise<UdpServer>((resolve, reject) => {
    const socket = dgram.createSocket(isIPv6(host) ? "udp6" : "udp4");
    const failed = (err: NodeJS.ErrnoException): void => {
      socket.close();
      reject(new Error(describeBindError(err, host, port)));
    };
    socket.once("error", failed);
    const bound = (): void => {
      socket.off("error", failed);
      socket.on("error", onError);
      socket.on("message", (message, remote) => onDatagram(message, remote.address, remote.port));
      socket.setRecvBufferSize(UDP_RECEIVE_BUFFER_BYTES);
      const address = socket.address();
      resolve(new UdpServer(socket, address.address, address.port));
    };
    // dgram takes a bound handle in place of a port (as its cluster support does) and reads from it.
    if (shared !== undefined) socket.bind(shared as unknown as number, bound);
    else socket.bind({ address: host, port }, bound);
  });
}
