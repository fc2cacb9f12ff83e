/**
 * The data plane of one forwarder node: listening sockets, Maglev tables and proxied
 * connections, driven by plans (plan.ts) and knowing nothing of configuration objects or
 * health checks.
 *
 * Guarantees:
 * - `apply` is serialized and idempotent. Tables are swapped by reference, so a connection
 *   being set up keeps the table it started with and an open connection keeps its member; no
 *   plan change closes a connection, except as below.
 * - A member that leaves a service's `retained` set (removed or disabled), or whose service
 *   goes away, has its connections closed after the service's draining timeout; a member that
 *   is only unhealthy keeps them (as cloud load balancers do: the health check decides where
 *   NEW connections go). A member retained again before the countdown ends keeps them.
 * - A health change keeps the service's table size and every eligible member's slots (the
 *   plan's `eligible`, routes.ts): only the new clients of the member that flipped move.
 * - A removed listener stops accepting at once; its open connections are closed after its
 *   service's draining timeout, like a removed member's.
 * - A connection with no byte either way for its service's idle timeout is closed. One coarse
 *   sweep (every `sweepIntervalMs`, default 250 ms) checks every connection's byte counters,
 *   instead of a timer per socket that every chunk would re-arm; a connection is closed between
 *   the idle timeout and the idle timeout plus two sweeps after its last byte.
 * - An abandoned connection (bytes wait for a side that takes none of them, and the side they
 *   came from has closed or reset) is reset on both sides once it has made no progress for
 *   `abandonedTimeoutMs` (default 10 s): between that and a quarter more plus two sweeps. The
 *   streams engine sees only a FIN it read before the stall (StreamFlow.abandoned).
 * - Clients are counted per listener (`maxConnectionsPerListener`) and across the process
 *   (`maxConnections`, from the open-files limit): past either, new clients are reset and counted
 *   as rejected `limit`, so a flood never runs the process out of descriptors.
 * - A listener that cannot bind shows state Failed with the reason and is retried every
 *   `bindRetryIntervalMs` (default 5 s) until it binds. A failed bind leaves no server behind.
 * - UDP listeners run in the C relay with the native engine (a datagram passes through
 *   JavaScript only when it opens a session) and on `dgram` with the streams engine; a datagram's
 *   session (client address and port, listener) is picked like a connection and kept as one:
 *   udp-sessions.ts says when it picks again and how the table stays bounded (`maxUdpSessions`).
 * - `prepare` opens the servers a plan's listeners would need, without changing anything that
 *   runs (a client that reaches one before it is applied is reset); `apply` takes them, `release`
 *   closes those it did not take. So a configuration write can learn that a port is in use before
 *   it is stored, and a write that fails later leaves every open connection alone.
 * - A listener at its connection limit resets new clients. On a socket shared with the node's
 *   other workers (each enforces its share of the node's limit, and a shared socket's clients go
 *   to whichever worker accepts first), a worker at its share accepts for one loop turn every
 *   LIMIT_PAUSE_MS only, so that a worker with room takes new clients first; the clients still
 *   queued when it accepts are reset.
 */
import type * as net from "node:net";
import { FlowHasher } from "../../hashing";
import { nativeRelay, nativeRelayUnavailable, type NativeRelay } from "../native/relay";
import { DEFAULTS, defaultEngine, SOCKET_BUFFER_BYTES, validSocketBufferBytes, type DataPlaneEngine, type DataPlaneSettings } from "../options";
import { SerialQueue } from "../serial-queue";
import { connectionBudget, openFilesLimit } from "./descriptors";
import { proxyHeaderFor, type Flow, type FlowOwner } from "./flow";
import { FlowList } from "./flow-list";
import { ListenerSlot, listen, listenNative, type BoundSocket, type OpenServer } from "./listener";
import { NativeFlow } from "./native-flow";
import { EMPTY_PLAN, transportOf, type DataPlanePlan, type ListenerPlan, type Transport } from "./plan";
import { buildRoute, MemberBucket, type RouteMember, type ServiceRoute, type ServiceSettings } from "./routes";
import { emptyDatagramTotals, type DatagramTotals, type DataPlaneStats, type ListenerStats, type MemberStats, type RejectReason, type ServiceStats } from "./stats";
import { StreamFlow } from "./stream-flow";
import { listenUdp, UDP_RECEIVE_BUFFER_BYTES, type UdpServer } from "./udp-listener";
import { UdpSession } from "./udp-session";
import { UdpSessionTable, type UdpSlot } from "./udp-sessions";

export interface DataPlaneOptions extends DataPlaneSettings {
  /**
   * Where listening sockets, TCP and UDP, come from when another process binds them (a worker's
   * primary, which hands a TCP socket to every worker and a UDP socket to the one that reads it);
   * rejects with the reason the port cannot be bound. Default: the data plane binds its ports itself.
   */
  readonly boundSocket?: (port: number, transport: Transport) => Promise<BoundSocket>;
  /** Notable events, for logs. */
  readonly onEvent?: (event: DataPlaneEvent) => void;
}

export type DataPlaneEvent =
  | { readonly type: "listener-bound"; readonly id: string; readonly port: number }
  | { readonly type: "listener-failed"; readonly id: string; readonly port: number; readonly error: string }
  | { readonly type: "listener-closed"; readonly id: string; readonly port: number; readonly openConnections: number }
  | { readonly type: "listener-error"; readonly id: string; readonly error: string }
  | { readonly type: "table-built"; readonly serviceId: string; readonly members: number; readonly tableSize: number };

export type { DataPlaneEngine };

/**
 * Long enough for another worker with room, woken as soon as a client is queued, to take it first;
 * short enough that clients of a node at its limit are still reset within a fraction of a second.
 */
const LIMIT_PAUSE_MS = 50;

export class DataPlane implements FlowOwner {
  readonly engine: DataPlaneEngine;
  readonly connectTimeoutMs: number;
  readonly maxConnectAttempts: number;
  readonly socketBufferBytes: number;
  private readonly maxConnectionsPerListener: number;
  /** Connections of every listener at once (the process's descriptor budget). */
  private readonly maxConnections: number;
  private readonly abandonedTimeoutMs: number;
  private readonly listenAddress: string;
  private readonly boundSocket: ((port: number, transport: Transport) => Promise<BoundSocket>) | undefined;
  private readonly hasher: FlowHasher;
  private readonly onEvent: (event: DataPlaneEvent) => void;
  /** Set for the native engine. */
  private readonly relay: NativeRelay | undefined;

  private readonly listeners = new Map<string, ListenerSlot>();
  private readonly routes = new Map<string, ServiceRoute>();
  /** Kept while any open connection may still refer to the service. */
  private readonly settings = new Map<string, ServiceSettings>();
  /** serviceId -> member key -> bucket. */
  private readonly buckets = new Map<string, Map<string, MemberBucket>>();
  private readonly tablesBuilt = new Map<string, number>();
  private readonly flows = new FlowList((flow) => flow.inPlane);
  /** Countdowns closing the connections of removed listeners. */
  private readonly listenerDrains = new Set<NodeJS.Timeout>();
  /** Servers opened by `prepare` that no listener has taken yet, by listener id. */
  private readonly prepared = new Map<string, PreparedServer>();
  private readonly udpSessions: UdpSessionTable;

  private readonly queue = new SerialQueue();
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly retryTimer: NodeJS.Timeout;
  private closing: Promise<void> | undefined;
  private whenIdle: (() => void) | undefined;

  constructor(opts: DataPlaneOptions) {
    this.listenAddress = opts.listenAddress;
    this.boundSocket = opts.boundSocket;
    this.hasher = new FlowHasher(opts.hashSeed);
    const defaults = DEFAULTS.dataPlane;
    this.connectTimeoutMs = positive(opts.connectTimeoutMs, defaults.connectTimeoutMs, "connectTimeoutMs");
    this.maxConnectAttempts = positive(opts.maxConnectAttempts, defaults.maxConnectAttempts, "maxConnectAttempts");
    this.maxConnectionsPerListener = positive(opts.maxConnectionsPerListener, defaults.maxConnectionsPerListener, "maxConnectionsPerListener");
    this.maxConnections = positive(opts.maxConnections, connectionBudget(openFilesLimit()) ?? Number.POSITIVE_INFINITY, "maxConnections");
    this.socketBufferBytes = socketBufferBytes(opts.socketBufferBytes ?? defaults.socketBufferBytes);
    this.abandonedTimeoutMs = positive(opts.abandonedTimeoutMs, defaults.abandonedTimeoutMs, "abandonedTimeoutMs");
    this.onEvent = opts.onEvent ?? (() => undefined);
    const maxUdpSessions = positive(opts.maxUdpSessions, defaults.maxUdpSessions, "maxUdpSessions");
    this.udpSessions = new UdpSessionTable(
      {
        flowOwner: this,
        pickUdp: (slot, address, port, localAddress, localPort) => this.pick(slot, address, port, localAddress, localPort, "UDP"),
        sessionOpened: (session) => this.sessionOpened(session),
      },
      maxUdpSessions,
    );
    this.engine = opts.engine ?? defaultEngine();
    if (this.engine === "native") {
      this.relay = nativeRelay();
      if (this.relay === undefined) throw new Error(`the native data-plane engine is not available here: ${nativeRelayUnavailable() ?? "unknown reason"}`);
    }
    this.sweepTimer = setInterval(() => this.sweep(), positive(opts.sweepIntervalMs, defaults.sweepIntervalMs, "sweepIntervalMs"));
    this.sweepTimer.unref();
    const retryMs = positive(opts.bindRetryIntervalMs, defaults.bindRetryIntervalMs, "bindRetryIntervalMs");
    this.retryTimer = setInterval(() => this.retryFailedListeners(), retryMs);
    this.retryTimer.unref();
  }

  /**
   * Makes `plan` the running plan. Resolves with every listener that is not listening (id ->
   * reason), including those that failed before and still fail. Serialized with other applies.
   */
  apply(plan: DataPlanePlan): Promise<ReadonlyMap<string, string>> {
    return this.queue.run(() => this.applyNow(plan));
  }

  /**
   * Opens a server for each of `listeners` that is not listening on its port yet, and keeps it for
   * the `apply` that runs them; until then its clients are reset. Changes nothing that runs.
   * Resolves with each listener that cannot bind (id -> reason). Serialized with applies.
   */
  prepare(listeners: readonly ListenerPlan[]): Promise<ReadonlyMap<string, string>> {
    return this.queue.run(() => this.prepareNow(listeners));
  }

  /** Closes the servers `prepare` opened and no `apply` took. Serialized with applies. */
  release(): Promise<void> {
    return this.queue.run(() => this.releasePrepared());
  }

  /**
   * Stops accepting, lets open connections finish for up to `graceMs` (default 0), then closes
   * what is left. Idempotent; resolves when every socket has closed.
   */
  close(opts: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= this.closeNow(Math.max(0, opts.graceMs ?? 0));
    return this.closing;
  }

  stats(): DataPlaneStats {
    const live = new Map<ListenerSlot | MemberBucket, { bytesIn: number; bytesOut: number }>();
    const add = (key: ListenerSlot | MemberBucket, bytesIn: number, bytesOut: number): void => {
      const entry = live.get(key);
      if (entry === undefined) live.set(key, { bytesIn, bytesOut });
      else {
        entry.bytesIn += bytesIn;
        entry.bytesOut += bytesOut;
      }
    };
    const liveDatagrams = new Map<ListenerSlot | MemberBucket, DatagramTotals>();
    const addDatagrams = (key: ListenerSlot | MemberBucket, datagramsIn: number, datagramsOut: number): void => {
      const entry = liveDatagrams.get(key);
      if (entry === undefined) liveDatagrams.set(key, { datagramsIn, datagramsOut });
      else {
        entry.datagramsIn += datagramsIn;
        entry.datagramsOut += datagramsOut;
      }
    };
    for (const flow of this.flows) {
      if (flow instanceof UdpSession) {
        const c = flow.counters();
        add(flow.slot, c.bytesIn, c.bytesOut);
        addDatagrams(flow.slot, c.datagramsIn, c.datagramsOut);
        if (flow.connected) {
          add(flow.member.bucket, c.bytesIn, c.bytesOut);
          addDatagrams(flow.member.bucket, c.datagramsIn, c.datagramsOut);
        }
        continue;
      }
      const bytesIn = flow.bytesIn();
      const bytesOut = flow.bytesOut();
      add(flow.listener as ListenerSlot, bytesIn, bytesOut);
      if (flow.connected) add(flow.member.bucket, bytesIn, bytesOut);
    }
    const withLive = <T extends DatagramTotals>(totals: T, key: ListenerSlot | MemberBucket): T => {
      const more = liveDatagrams.get(key);
      return more === undefined ? { ...totals } : { ...totals, datagramsIn: totals.datagramsIn + more.datagramsIn, datagramsOut: totals.datagramsOut + more.datagramsOut };
    };
    const listeners: ListenerStats[] = [...this.listeners.values()].map((slot) => ({
      id: slot.id,
      port: slot.port,
      ...(slot.serviceId === undefined ? {} : { serviceId: slot.serviceId }),
      state: slot.state,
      ...(slot.server === null && slot.error !== undefined ? { error: slot.error } : {}),
      active: slot.active,
      connections: slot.totals.connections,
      connectFailures: slot.totals.connectFailures,
      bytesIn: slot.totals.bytesIn + (live.get(slot)?.bytesIn ?? 0),
      bytesOut: slot.totals.bytesOut + (live.get(slot)?.bytesOut ?? 0),
      rejected: { ...slot.rejected },
      ...(slot.udp === undefined ? {} : { udp: withLive(slot.udp, slot) }),
    }));
    const members: MemberStats[] = [];
    for (const byKey of this.buckets.values()) {
      for (const bucket of byKey.values()) {
        members.push({
          serviceId: bucket.serviceId,
          key: bucket.key,
          active: bucket.flows.size,
          draining: bucket.draining,
          connections: bucket.totals.connections,
          connectFailures: bucket.totals.connectFailures,
          bytesIn: bucket.totals.bytesIn + (live.get(bucket)?.bytesIn ?? 0),
          bytesOut: bucket.totals.bytesOut + (live.get(bucket)?.bytesOut ?? 0),
          ...(bucket.udp === undefined ? {} : { udp: withLive(bucket.udp, bucket) }),
        });
      }
    }
    const services: ServiceStats[] = [...this.routes.values()].map((route) => ({
      id: route.id,
      tablesBuilt: this.tablesBuilt.get(route.id) ?? 0,
      tableSize: route.table?.size ?? 0,
    }));
    return { listeners, members, services };
  }

  // --- FlowOwner -----------------------------------------------------------------------------

  flowConnected(flow: Flow): void {
    const bucket = flow.member.bucket;
    bucket.totals.connections++;
    bucket.flows.add(flow);
    flow.lastActiveAt = Date.now();
    if (!this.bucketAttached(bucket)) {
      // The member left the plan, and its bucket was dropped, while this connect was under way:
      // take it back so the connection is counted and drained like the member's others.
      this.bucketsOf(bucket.serviceId).set(bucket.key, bucket);
      if (!bucket.drained) bucket.startDrain(this.settings.get(bucket.serviceId)?.drainingTimeoutMs ?? 0);
    }
    // Its countdown has run out: the connection is closed as the member's others were.
    if (bucket.drained) flow.destroy();
  }

  flowEnded(flow: Flow): void {
    this.flows.delete(flow);
    const slot = flow.listener as ListenerSlot;
    if (flow instanceof UdpSession) this.addDatagrams(flow);
    const bytesIn = flow.bytesIn();
    const bytesOut = flow.bytesOut();
    slot.active--;
    if (slot.holding && slot.active < this.maxConnectionsPerListener) {
      slot.holding = false;
      clearTimeout(slot.holdTimer);
      slot.server?.resume?.();
    }
    slot.totals.bytesIn += bytesIn;
    slot.totals.bytesOut += bytesOut;
    if (flow.connected) {
      const bucket = flow.member.bucket;
      bucket.flows.delete(flow);
      bucket.totals.bytesIn += bytesIn;
      bucket.totals.bytesOut += bytesOut;
      if (!bucket.retained && bucket.flows.size === 0) this.dropBucket(bucket);
    }
    if (this.flows.size === 0) this.whenIdle?.();
  }

  /** An ended session's datagrams, added to its listener's and (if it was connected) its member's totals. */
  private addDatagrams(session: UdpSession): void {
    const { datagramsIn, datagramsOut } = session.counters();
    session.slot.udp.datagramsIn += datagramsIn;
    session.slot.udp.datagramsOut += datagramsOut;
    if (!session.connected) return;
    const totals = (session.member.bucket.udp ??= emptyDatagramTotals());
    totals.datagramsIn += datagramsIn;
    totals.datagramsOut += datagramsOut;
  }

  // --- applying plans ------------------------------------------------------------------------

  private async prepareNow(listeners: readonly ListenerPlan[]): Promise<ReadonlyMap<string, string>> {
    if (this.closing !== undefined) throw new Error("the data plane is closed");
    const failed = new Map<string, string>();
    await Promise.all(
      listeners.map(async (plan) => {
        const { id, port } = plan;
        const protocol = transportOf(plan);
        const slot = this.listeners.get(id);
        const listening = slot !== undefined && slot.server !== null && slot.port === port && slot.protocol === protocol;
        const prepared = this.prepared.get(id);
        if (listening || (prepared?.port === port && prepared.protocol === protocol)) return;
        prepared?.server.close();
        this.prepared.delete(id);
        const taker: PreparedServer["taker"] = {};
        try {
          const server = await this.openServer(id, port, protocol, () => taker.slot);
          this.prepared.set(id, { port, protocol, server, taker });
        } catch (err) {
          failed.set(id, err instanceof Error ? err.message : String(err));
        }
      }),
    );
    return failed;
  }

  private releasePrepared(): void {
    for (const prepared of this.prepared.values()) prepared.server.close();
    this.prepared.clear();
  }

  /** Gives `slot` the server `prepare` opened for it, if there is one for its port. */
  private takePrepared(slot: ListenerSlot): boolean {
    const prepared = this.prepared.get(slot.id);
    if (prepared === undefined || prepared.port !== slot.port || prepared.protocol !== slot.protocol) return false;
    this.prepared.delete(slot.id);
    prepared.taker.slot = slot;
    slot.server = prepared.server;
    slot.error = undefined;
    this.onEvent({ type: "listener-bound", id: slot.id, port: slot.port });
    return true;
  }

  private async applyNow(plan: DataPlanePlan): Promise<ReadonlyMap<string, string>> {
    if (this.closing !== undefined) throw new Error("the data plane is closed");
    this.applyServices(plan);
    const toBind = this.applyListeners(plan.listeners);
    if (this.relay !== undefined) this.udpSessions.recheck();
    await Promise.all(toBind.map((slot) => this.bind(slot)));
    return this.failedListeners();
  }

  private applyServices(plan: DataPlanePlan): void {
    const seen = new Set<string>();
    for (const service of plan.services) {
      seen.add(service.id);
      let settings = this.settings.get(service.id);
      const udpSessionTimeoutMs = service.udpSessionTimeoutMs ?? DEFAULTS.dataPlane.udpSessionTimeoutMs;
      if (settings === undefined) {
        settings = { idleTimeoutMs: service.idleTimeoutMs, udpSessionTimeoutMs, drainingTimeoutMs: service.drainingTimeoutMs };
        this.settings.set(service.id, settings);
      } else {
        settings.idleTimeoutMs = service.idleTimeoutMs;
        settings.udpSessionTimeoutMs = udpSessionTimeoutMs;
        settings.drainingTimeoutMs = service.drainingTimeoutMs;
      }
      const { route, built } = buildRoute(service, this.routes.get(service.id), settings, (key) => this.bucket(service.id, key));
      this.routes.set(service.id, route);
      if (built) {
        this.tablesBuilt.set(service.id, (this.tablesBuilt.get(service.id) ?? 0) + 1);
        this.onEvent({ type: "table-built", serviceId: service.id, members: service.table.length, tableSize: route.table?.size ?? 0 });
      }
      const retained = new Set(service.retained);
      for (const key of retained) this.bucket(service.id, key).cancelDrain();
      for (const bucket of this.bucketsOf(service.id).values()) {
        if (!retained.has(bucket.key)) this.retire(bucket, settings.drainingTimeoutMs);
      }
    }
    for (const [id, route] of this.routes) {
      if (seen.has(id)) continue;
      this.routes.delete(id);
      const drainMs = route.settings.drainingTimeoutMs;
      for (const bucket of this.bucketsOf(id).values()) this.retire(bucket, drainMs);
    }
  }

  /** Updates listener slots; returns those that need a server. Closes servers before any bind, so a port can move. */
  private applyListeners(plans: readonly ListenerPlan[]): ListenerSlot[] {
    const wanted = new Map(plans.map((p) => [p.id, p]));
    for (const slot of [...this.listeners.values()]) {
      const next = wanted.get(slot.id);
      if (next === undefined || transportOf(next) !== slot.protocol) this.removeListener(slot);
      else if (next.port !== slot.port) {
        slot.closeServer();
        slot.port = next.port;
      }
    }
    const toBind: ListenerSlot[] = [];
    for (const p of plans) {
      let slot = this.listeners.get(p.id);
      if (slot === undefined) {
        slot = new ListenerSlot(p.id, p.port, transportOf(p));
        this.listeners.set(p.id, slot);
      }
      slot.serviceId = p.serviceId;
      slot.route = p.serviceId === undefined ? null : (this.routes.get(p.serviceId) ?? null);
      if (slot.server === null && !this.takePrepared(slot)) toBind.push(slot);
    }
    return toBind;
  }

  private removeListener(slot: ListenerSlot): void {
    slot.closeServer();
    this.listeners.delete(slot.id);
    const open = [...this.flows].filter((f) => f.listener === slot);
    this.onEvent({ type: "listener-closed", id: slot.id, port: slot.port, openConnections: open.length });
    if (open.length === 0) return;
    const drainMs = slot.route?.settings.drainingTimeoutMs ?? 0;
    if (drainMs <= 0) {
      for (const flow of open) flow.destroy();
      return;
    }
    const timer = setTimeout(() => {
      this.listenerDrains.delete(timer);
      for (const flow of open) flow.destroy();
    }, drainMs);
    timer.unref();
    this.listenerDrains.add(timer);
  }

  private async bind(slot: ListenerSlot): Promise<void> {
    const port = slot.port;
    try {
      const server = await this.openServer(slot.id, port, slot.protocol, () => slot);
      if (this.listeners.get(slot.id) !== slot || slot.port !== port || this.closing !== undefined) {
        server.close(); // removed or moved while binding (cannot happen while applies are serialized)
        return;
      }
      slot.server = server;
      slot.error = undefined;
      this.onEvent({ type: "listener-bound", id: slot.id, port });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const changed = slot.error !== message;
      slot.error = message;
      if (changed) this.onEvent({ type: "listener-failed", id: slot.id, port, error: message });
    }
  }

  /**
   * Opens a server whose clients go to `slotFor()`; while that is undefined (prepared, not
   * applied), TCP clients are reset and UDP datagrams dropped.
   */
  private async openServer(id: string, port: number, protocol: Transport, slotFor: () => ListenerSlot | undefined): Promise<OpenServer> {
    const onError = (error: string): void => this.onEvent({ type: "listener-error", id, error });
    const relay = this.relay;
    if (protocol === "UDP") return this.openUdpServer(port, slotFor, onError);
    const socket = await this.boundSocket?.(port, "TCP");
    if (relay === undefined) {
      const onConnection = (client: net.Socket): void => {
        const slot = slotFor();
        if (slot !== undefined) this.accept(slot, client);
        else {
          client.on("error", noop);
          client.resetAndDestroy();
        }
      };
      return listen(this.listenAddress, port, onConnection, (err) => onError(err.message), socket);
    }
    const handler = {
      accepted: (flowId: number, remoteAddress: string, remotePort: number, localAddress: string, localPort: number): void => {
        const slot = slotFor();
        if (slot !== undefined) this.acceptNative(relay, slot, flowId, remoteAddress, remotePort, localAddress, localPort);
        else relay.reset(flowId);
      },
      failed: (code: string): void => onError(`accept failed: ${code}`),
    };
    return listenNative(relay, this.listenAddress, port, { transport: "TCP", handler }, this.socketBufferBytes, socket);
  }

  /** `openServer` for UDP: the datagrams of a server no slot has taken yet are dropped. */
  private async openUdpServer(port: number, slotFor: () => ListenerSlot | undefined, onError: (error: string) => void): Promise<OpenServer> {
    const shared = await this.boundSocket?.(port, "UDP");
    const relay = this.relay;
    let server: OpenServer | undefined;
    const takenSlot = (): UdpSlot | undefined => {
      const slot = slotFor();
      return slot !== undefined && server !== undefined && slot.server === server ? (slot as UdpSlot) : undefined;
    };
    if (relay === undefined) {
      const onDatagram = (message: Buffer, clientAddress: string, clientPort: number): void => {
        const slot = takenSlot();
        if (slot !== undefined) this.udpSessions.receive(slot, server as UdpServer, message, clientAddress, clientPort);
      };
      server = await listenUdp(this.listenAddress, port, onDatagram, (err) => onError(err.message), shared);
      return server;
    }
    const handler = {
      session: (sessionId: number, clientAddress: string, clientPort: number, localAddress: string, localPort: number): void => {
        const slot = takenSlot();
        if (slot !== undefined) this.udpSessions.opened(slot, relay, sessionId, clientAddress, clientPort, localAddress, localPort);
        else relay.udpClose(sessionId);
      },
      failed: (code: string): void => onError(`receive failed: ${code}`),
    };
    server = listenNative(relay, this.listenAddress, port, { transport: "UDP", handler }, UDP_RECEIVE_BUFFER_BYTES, shared);
    return server;
  }

  private failedListeners(): ReadonlyMap<string, string> {
    const failed = new Map<string, string>();
    for (const slot of this.listeners.values()) {
      if (slot.server === null) failed.set(slot.id, slot.error ?? "not listening");
    }
    return failed;
  }

  private retryFailedListeners(): void {
    if (this.closing !== undefined) return;
    if (![...this.listeners.values()].some((s) => s.server === null)) return;
    void this.queue.run(async () => {
      if (this.closing !== undefined) return;
      const failed = [...this.listeners.values()].filter((s) => s.server === null);
      await Promise.all(failed.map((slot) => this.bind(slot)));
    });
  }

  // --- members -------------------------------------------------------------------------------

  private bucketsOf(serviceId: string): Map<string, MemberBucket> {
    let byKey = this.buckets.get(serviceId);
    if (byKey === undefined) {
      byKey = new Map();
      this.buckets.set(serviceId, byKey);
    }
    return byKey;
  }

  private bucket(serviceId: string, key: string): MemberBucket {
    const byKey = this.bucketsOf(serviceId);
    let bucket = byKey.get(key);
    if (bucket === undefined) {
      bucket = new MemberBucket(serviceId, key);
      byKey.set(key, bucket);
    }
    return bucket;
  }

  private bucketAttached(bucket: MemberBucket): boolean {
    return this.buckets.get(bucket.serviceId)?.get(bucket.key) === bucket;
  }

  /** The member left the plan: drain its connections, or forget it if it has none. */
  private retire(bucket: MemberBucket, drainingTimeoutMs: number): void {
    if (bucket.flows.size === 0) this.dropBucket(bucket);
    else bucket.startDrain(drainingTimeoutMs);
  }

  private dropBucket(bucket: MemberBucket): void {
    bucket.stop();
    bucket.retained = false;
    const byKey = this.buckets.get(bucket.serviceId);
    if (byKey?.get(bucket.key) !== bucket) return;
    byKey.delete(bucket.key);
    if (byKey.size === 0 && !this.routes.has(bucket.serviceId)) {
      this.buckets.delete(bucket.serviceId);
      this.tablesBuilt.delete(bucket.serviceId);
      this.settings.delete(bucket.serviceId);
    }
  }

  // --- the hot path ----------------------------------------------------------------------------

  private accept(slot: ListenerSlot, client: net.Socket): void {
    const remoteAddress = client.remoteAddress;
    if (remoteAddress === undefined) {
      slot.totals.connections++;
      client.destroy(); // gone before we got to it
      return;
    }
    const picked = this.pick(slot, remoteAddress, client.remotePort as number, client.localAddress as string, client.localPort as number);
    if (typeof picked === "string") {
      slot.rejected[picked]++;
      client.on("error", noop);
      client.resetAndDestroy();
      return;
    }
    const flow = new StreamFlow(this, slot, slot.route as ServiceRoute, picked.hash, client, picked.member);
    slot.active++;
    this.flows.add(flow);
    flow.start();
  }

  private acceptNative(
    relay: NativeRelay,
    slot: ListenerSlot,
    flowId: number,
    remoteAddress: string,
    remotePort: number,
    localAddress: string,
    localPort: number,
  ): void {
    const picked = this.pick(slot, remoteAddress, remotePort, localAddress, localPort);
    if (typeof picked === "string") {
      slot.rejected[picked]++;
      relay.reset(flowId);
      return;
    }
    const route = slot.route as ServiceRoute;
    const flow = new NativeFlow(this, slot, route, picked.hash, relay, flowId, picked.member);
    slot.active++;
    // Full now: the clients queued behind this one are left to the other workers at once.
    if (slot.active >= this.maxConnectionsPerListener) this.holdWhileFull(slot, true);
    this.flows.add(flow);
    const header = proxyHeaderFor(route, remoteAddress, remotePort, localAddress, localPort);
    flow.start(header);
  }

  /**
   * Counts a new client (a connection, or a UDP session) and picks its member with the flow
   * hash (the flow keeps it for its fallback candidates), or says why the client is refused.
   * UDP sessions are bounded by the session table (which evicts), not by the listener's limit.
   */
  private pick(
    slot: ListenerSlot,
    remoteAddress: string,
    remotePort: number,
    localAddress: string,
    localPort: number,
    protocol: Transport = "TCP",
  ): Picked | RejectReason {
    slot.totals.connections++;
    const route = slot.route;
    const table = route === null ? null : route.table;
    if (table === null || route === null) return "no_backend";
    if (protocol === "TCP" && slot.active >= this.maxConnectionsPerListener) {
      this.holdWhileFull(slot, false);
      return "limit";
    }
    if (protocol === "TCP" && this.flows.size >= this.maxConnections) return "limit";
    const hash = route.quintuple ? this.hasher.quintupleHash(remoteAddress, remotePort, localAddress, localPort, protocol) : this.hasher.ipHash(remoteAddress);
    const member = table.lookup(hash);
    return member === undefined ? "no_backend" : { member, hash };
  }

  /**
   * At its limit on a shared socket: from now (`atOnce`) or the end of this loop turn (after the
   * queued clients it took are reset) on, accepts for one turn every LIMIT_PAUSE_MS until a
   * connection ends (see the header comment).
   */
  private holdWhileFull(slot: ListenerSlot, atOnce: boolean): void {
    if (slot.server?.pause === undefined || slot.holding) return;
    slot.holding = true;
    if (atOnce) this.holdTurn(slot);
    else setImmediate(() => this.holdTurn(slot));
  }

  private holdTurn(slot: ListenerSlot): void {
    const server = slot.server;
    if (!slot.holding || server?.pause === undefined || server.resume === undefined) return;
    server.pause();
    slot.holdTimer = setTimeout(() => {
      if (!slot.holding || slot.server !== server) return;
      server.resume?.();
      // The poll phase of this loop turn accepts (and resets) what is queued; then pause again.
      setImmediate(() => this.holdTurn(slot));
    }, LIMIT_PAUSE_MS);
    slot.holdTimer.unref();
  }

  private sessionOpened(session: UdpSession): void {
    session.slot.active++;
    session.member.bucket.udp ??= emptyDatagramTotals();
    this.flows.add(session);
  }

  /** Closes idle connections and resets abandoned ones (see the header comment). */
  private sweep(): void {
    const now = Date.now();
    // Asking a flow whether it is abandoned costs a call into the engine: at most four times per timeout.
    const recheckMs = this.abandonedTimeoutMs / 4;
    for (const flow of this.flows) {
      if (!flow.connected) continue;
      const activity = flow.activity();
      if (activity !== flow.lastActivity) {
        flow.lastActivity = activity;
        flow.lastActiveAt = now;
      } else if (now - flow.lastActiveAt >= flow.idleTimeoutMs()) {
        flow.destroy();
      } else if (now - flow.lastActiveAt >= this.abandonedTimeoutMs && now - flow.abandonCheckedAt >= recheckMs) {
        flow.abandonCheckedAt = now;
        if (flow.abandoned()) flow.reset();
      }
    }
  }

  // --- shutdown --------------------------------------------------------------------------------

  private async closeNow(graceMs: number): Promise<void> {
    clearInterval(this.retryTimer);
    for (const slot of this.listeners.values()) slot.closeServer();
    await this.queue.idle(); // an apply under way finishes (and its servers are closed below)
    for (const slot of this.listeners.values()) slot.closeServer();
    this.releasePrepared();
    if (this.flows.size > 0 && graceMs > 0) await this.idleOrTimeout(graceMs);
    for (const flow of this.flows) flow.destroy();
    if (this.flows.size > 0) await this.idleOrTimeout(5000);
    clearInterval(this.sweepTimer);
    for (const timer of this.listenerDrains) clearTimeout(timer);
    this.listenerDrains.clear();
    for (const byKey of this.buckets.values()) for (const bucket of byKey.values()) bucket.stop();
  }

  private idleOrTimeout(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.whenIdle = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.whenIdle = done;
    });
  }
}

/** A new client's member and flow hash. */
interface Picked {
  readonly member: RouteMember;
  readonly hash: number;
}

/** A server `prepare` opened; its clients go to `taker.slot` once an apply takes it. */
interface PreparedServer {
  readonly port: number;
  readonly protocol: Transport;
  readonly server: OpenServer;
  readonly taker: { slot?: ListenerSlot };
}

function noop(): void {}

function socketBufferBytes(value: number): number {
  if (validSocketBufferBytes(value)) return value;
  throw new RangeError(`socketBufferBytes must be 0 (the kernel's autotuning) or an integer from ${SOCKET_BUFFER_BYTES.min} to ${SOCKET_BUFFER_BYTES.max}, got ${String(value)}`);
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${String(value)}`);
  return value;
}
