/**
 * The listening sockets of a node with data-plane workers: the primary binds each listener port
 * once, without SO_REUSEPORT, and hands that one socket to every worker that asks
 * (`child.send(message, handle)`). With SO_REUSEPORT on every worker's own socket instead, a port
 * another process already held that way was shared with it, and any process of the same user
 * could join a port of the node later; each would take a share of the clients (or datagrams).
 *
 * The primary binds and never reads: a TCP socket is not listened on (the primary's own event loop
 * would accept from it too), and a UDP socket is a bare handle that never starts receiving. The
 * workers listen on a TCP socket (the first listen makes it listen for all) and accept from its one
 * queue; a UDP socket is asked for and read by one worker, its owner (udp-owners.ts). The primary
 * keeps every socket while the port is configured, so a listener that moves to another worker
 * keeps its port and the datagrams queued on it.
 * `net._createServerHandle` is Node's own way to bind TCP like this, which its cluster module
 * uses; for UDP, the `udp_wrap` binding gives the handle `dgram` itself wraps.
 */
import * as net from "node:net";
import { getSystemErrorName } from "node:util";
import { describeBindCode, type BoundSocket } from "../dataplane/listener";
import type { Transport } from "../dataplane/plan";

/** Node's TCP and UDP handles both have these. */
interface Handle extends BoundSocket {
  /** 0, or a negative errno: libuv reports a TCP bind's EADDRINUSE only on the next call. */
  getsockname(out: object): number;
}

type CreateServerHandle = (address: string, port: number, addressType: 4 | 6, fd: undefined, flags: number) => Handle | number;

interface UdpHandle extends Handle {
  /** 0 or a negative errno; flags 0: neither SO_REUSEADDR nor SO_REUSEPORT. */
  bind(address: string, port: number, flags: number): number;
  bind6(address: string, port: number, flags: number): number;
}

const createServerHandle = (net as unknown as { _createServerHandle: CreateServerHandle })._createServerHandle;

function newUdpHandle(): UdpHandle {
  const binding = (process as unknown as { binding(name: "udp_wrap"): { UDP: new () => UdpHandle } }).binding("udp_wrap");
  return new binding.UDP();
}

/** One key per (transport, port): a node may run TCP and UDP listeners on the same port number. */
export function socketKey(transport: Transport, port: number): string {
  return `${transport}/${port}`;
}

export class BoundSockets {
  private readonly sockets = new Map<string, Handle>();

  constructor(private readonly host: string) {}

  /** The socket bound to `port` for `transport`, bound now if it is not yet; or why it cannot be bound. */
  socket(transport: Transport, port: number): BoundSocket | string {
    const key = socketKey(transport, port);
    const held = this.sockets.get(key);
    if (held !== undefined) return held;
    const handle = transport === "UDP" ? this.bindUdp(port) : createServerHandle(this.host, port, net.isIPv6(this.host) ? 6 : 4, undefined, 0);
    if (typeof handle === "number") return describeBindCode(getSystemErrorName(handle), this.host, port);
    const error = handle.getsockname({});
    if (error !== 0) {
      handle.close();
      return describeBindCode(getSystemErrorName(error), this.host, port);
    }
    this.sockets.set(key, handle);
    return handle;
  }

  /** Closes the sockets whose keys (socketKey) are not in `keys`; workers keep theirs until they close them. */
  keepOnly(keys: ReadonlySet<string>): void {
    for (const [key, handle] of this.sockets) {
      if (keys.has(key)) continue;
      this.sockets.delete(key);
      handle.close();
    }
  }

  close(): void {
    this.keepOnly(new Set());
  }

  private bindUdp(port: number): Handle | number {
    const handle = newUdpHandle();
    const error = net.isIPv6(this.host) ? handle.bind6(this.host, port, 0) : handle.bind(this.host, port, 0);
    if (error === 0) return handle;
    handle.close();
    return error;
  }
}
