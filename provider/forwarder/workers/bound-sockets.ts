/**
 * The listening sockets of a node with data-plane workers: the primary binds each listener port
 * once, without SO_REUSEPORT, and hands that one socket to every worker that asks
 * (`child.send(message, handle)`). With SO_REUSEPORT on every worker's own socket instead, a port
 * another process already held that way was shared with it, and any process of the same user
 * could join a port of the node later; each would take a share of the clients.
 *
 * The primary binds and does not listen: a listening socket would be accepted from by the
 * primary's own event loop too. The workers listen on it (the first listen makes the socket
 * listen for all) and accept from its one queue. `net._createServerHandle` is Node's own way to
 * do this, which its cluster module uses.
 */
import * as net from "node:net";
import { getSystemErrorName } from "node:util";
import { describeBindCode, type BoundSocket } from "../dataplane/listener";

/** Node's TCP handle, as `net._createServerHandle` returns it. */
interface TcpHandle extends BoundSocket {
  /** 0, or a negative errno: libuv reports a bind's EADDRINUSE only on the next call. */
  getsockname(out: object): number;
}

type CreateServerHandle = (address: string, port: number, addressType: 4 | 6, fd: undefined, flags: number) => TcpHandle | number;

const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

export class BoundSockets {
  private readonly sockets = new Map<number, TcpHandle>();

  constructor(private readonly host: string) {}

  /** The socket bound to `port`, bound now if it is not yet; or why it cannot be bound. */
  socket(port: number): BoundSocket | string {
    const held = this.sockets.get(port);
    if (held !== undefined) return held;
    const handle = createServerHandle(this.host, port, net.isIPv6(this.host) ? 6 : 4, undefined, 0);
    if (typeof handle === "number") return describeBindCode(getSystemErrorName(handle), this.host, port);
    const error = handle.getsockname({});
    if (error !== 0) {
      handle.close();
      return describeBindCode(getSystemErrorName(error), this.host, port);
    }
    this.sockets.set(port, handle);
    return handle;
  }

  /** Closes the sockets of the ports not in `ports`; workers keep theirs until they close them. */
  keepOnly(ports: ReadonlySet<number>): void {
    for (const [port, handle] of this.sockets) {
      if (ports.has(port)) continue;
      this.sockets.delete(port);
      handle.close();
    }
  }

  close(): void {
    this.keepOnly(new Set());
  }
}
