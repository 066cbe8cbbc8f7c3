import { DropCounters, DropReason } from "../packet/drop-reason.ts";
import { icmpEchoReply } from "../packet/icmp-echo-reply.ts";
import { DecodeFlags, DecodeResult, IcmpType, IpProtocol, PacketView, TcpFlag, decodeIpv4 } from "../packet/packet-view.ts";
import { VNET_HDR_F_NEEDS_CSUM, VNET_HDR_LEN, VirtioNetHdr, decodeVirtioNetHdr, vnetPartialChecksumMatches } from "../packet/virtio-net-hdr.ts";
import { rewriteDst, rewriteIcmpErrorInner, rewriteSrc, rewriteSrcDst } from "../packet/rewrite.ts";
import { createScheduler } from "../sched/create-scheduler.ts";
import { serverKey } from "../sched/hash.ts";
import { PersistenceTable } from "../sched/persistence-table.ts";
import type { Scheduler } from "../sched/scheduler.ts";
import { MAX_WEIGHT, ServerPool, type AdminState } from "../sched/server-pool.ts";
import { SyncOp, SyncResult, SyncServiceIndex, type SyncEntry } from "../sync/conn-sync-codec.ts";
import { ConnEvent, ConnFlag, ConnSpec, ConnTable, Dir, InsertError, TcpState } from "./conn-table.ts";
import { DispatchStats, StatField } from "./dispatch-stats.ts";
import type { DispatchSpec, DispatchService } from "./dispatcher-spec.ts";
import { LocalPortAllocator } from "./local-port-allocator.ts";

/** What to do with a packet after `process`: drop it, or write the (rewritten) buffer back out. */
export const Verdict = {
  /** Dropped; the reason was counted in `drops`. */
  Drop: 0,
  /** Rewritten in place and to be written back to the TUN device for the kernel to route. */
  Forward: 1,
  /** Turned into an answer (ICMP echo reply) in place; written back like Forward. */
  Reply: 2,
  /**
   * Not ours: a server's packet that the policy rules steered here but that belongs to no
   * tracked connection (a client talking to the server directly). Written back unchanged; it
   * comes back out of the TUN, where the steering rules (iif) no longer match, and is routed.
   */
  Pass: 3,
} as const;

/** One of the verdicts above. */
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

interface ServiceState {
  readonly spec: DispatchService;
  readonly pool: ServerPool;
  readonly scheduler: Scheduler;
  readonly ports: LocalPortAllocator | undefined;
}

/**
 * Where the dispatcher reports connection changes for state sync (the active node's side). Called
 * synchronously from the packet path with numbers only; must not throw or touch the table.
 */
export interface ConnChangeSink {
  /** Entry `id` was created, changed state, or is due for a refresh: read it from the table later. */
  upserted(id: number): void;
  /** Entry `id` is being removed (closed, expired, evicted); its fields are readable now, not after the call. */
  removed(id: number): void;
}

/** Ports one new fullnat connection may hand back (held by another service's entry) before it gives up. */
const PORT_RELEASES = 8;

/** Options of a `Dispatcher`: an existing table (to share or restore one) and randomness. */
export interface DispatcherOptions {
  readonly table?: ConnTable;
  /** Seeds the table's hash key and port shuffles; pass crypto randomness in production. */
  readonly seed?: number;
  readonly drops?: DropCounters;
  readonly statsBuffer?: ArrayBufferLike;
}

const UDP = IpProtocol.Udp;
const TCP = IpProtocol.Tcp;
const ICMP = IpProtocol.Icmp;

/**
 * The NAT packet engine: decodes a packet, finds or creates its connection, picks a server,
 * rewrites addresses, ports and checksums in place, and returns a verdict. `nat` rewrites the
 * destination (VIP:port → server) and replies' source; `fullnat` also rewrites the source to a
 * local address and port, so servers need no route back. ICMP echo to a VIP is answered; ICMP
 * errors about a tracked flow are translated for the other side. Contract: never throws on
 * wire input, never allocates per packet; every drop is counted by reason in `drops`.
 */
export class Dispatcher {
  readonly view = new PacketView();
  readonly table: ConnTable;
  readonly drops: DropCounters;
  readonly stats: DispatchStats;
  private readonly services: ServiceState[];
  private readonly byKey = new Map<number, number>();
  private readonly vips = new Set<number>();
  private readonly serverAddrs = new Set<number>();
  private readonly localAddrs = new Set<number>();
  /** Packets passed through unchanged (see `Verdict.Pass`). */
  passed = 0;
  private readonly persistence: PersistenceTable;
  private readonly conn = new ConnSpec();
  private readonly flow = { srcAddr: 0, srcPort: 0 };
  private readonly vnet = new VirtioNetHdr();
  private readonly syncIndex: SyncServiceIndex;
  private sink: ConnChangeSink | null = null;
  /** By entry id: when the client's pending request began (valid while REQUEST_PENDING is set). */
  private readonly requestStartMs: Float64Array;
  /** True while a synced entry is applied, so its own table events are not captured back. */
  private applyingSync = false;

  constructor(spec: DispatchSpec, options: DispatcherOptions = {}) {
    const seed = options.seed ?? 0x7a4d3e1;
    this.table = options.table ?? ConnTable.create(spec.maxConnections, { timeouts: spec.timeouts, seed: [seed, (seed ^ 0x5bd1e995) >>> 0] });
    this.drops = options.drops ?? new DropCounters();
    this.stats = new DispatchStats(spec.services.map((s) => s.servers.length), options.statsBuffer);
    this.requestStartMs = new Float64Array(this.table.capacity);
    this.persistence = new PersistenceTable({ capacity: Math.max(1024, Math.min(spec.maxConnections, 1 << 20)) });
    this.services = spec.services.map((s, index) => {
      this.byKey.set(serviceKey(s.proto, s.vip, s.port), index);
      this.vips.add(s.vip);
      for (const r of s.servers) this.serverAddrs.add(r.addr);
      for (const a of s.localAddrs) this.localAddrs.add(a);
      if (s.persistenceMs > 0) this.persistence.setService(index, { timeoutMs: s.persistenceMs, prefixLength: s.persistencePrefix });
      const pool = new ServerPool(s.servers.map((r) => ({ weight: r.weight, admin: r.admin, up: r.up, key: serverKey(r.addr, r.port) })));
      const ports = s.fullnat
        ? new LocalPortAllocator({ localAddrs: s.localAddrs, portMin: spec.localPortMin, portMax: spec.localPortMax, seed: (seed + index * 7919) >>> 0 })
        : undefined;
      return { spec: s, pool, scheduler: createScheduler(s.scheduler), ports };
    });
    this.syncIndex = new SyncServiceIndex(spec);
    this.table.onEvent = (id, event) => {
      const removal = event === ConnEvent.EXPIRED || event === ConnEvent.EVICTED || event === ConnEvent.REMOVED;
      if (this.sink !== null && !this.applyingSync) this.capture(id, removal);
      if (removal) this.release(id);
    };
  }

  /**
   * Starts (a sink) or stops (null) reporting connection changes for state sync: creations, state
   * changes and removals, plus a refresh of a live entry whose last sync is older than its
   * `syncRefreshMs`. While null, the per-packet cost is one field test.
   */
  setSyncSink(sink: ConnChangeSink | null): void {
    this.sink = sink;
  }

  private capture(id: number, removal: boolean): void {
    if (removal) {
      this.sink!.removed(id);
      return;
    }
    // The event's packet (or insert) time is the entry's last-seen time.
    this.table.markSynced(id, this.table.lastSeenMs(id));
    this.sink!.upserted(id);
  }

  /**
   * Processes one frame as read from a TUN device with IFF_VNET_HDR: a 10-byte virtio_net_hdr,
   * then the packet. A NEEDS_CSUM header must point exactly at the decoded L4 checksum (the
   * partial-sum rewrite is only sound then); the header itself is written back unchanged.
   */
  processFrame(buf: Uint8Array, length: number, nowMs: number): Verdict {
    const hdr = this.vnet;
    if (!decodeVirtioNetHdr(buf, 0, length, hdr)) return this.drop(DropReason.BadVnetHdr);
    if ((hdr.flags & VNET_HDR_F_NEEDS_CSUM) === 0) return this.process(buf, VNET_HDR_LEN, length - VNET_HDR_LEN, nowMs, DecodeFlags.SkipIpChecksum);
    // Check the header against a decode before anything is rewritten.
    const decoded = decodeIpv4(buf, VNET_HDR_LEN, length - VNET_HDR_LEN, this.view, DecodeFlags.SkipIpChecksum | DecodeFlags.L4ChecksumPartial);
    if (decoded === DecodeResult.Ok && !vnetPartialChecksumMatches(hdr, this.view)) return this.drop(DropReason.BadVnetHdr);
    return this.process(buf, VNET_HDR_LEN, length - VNET_HDR_LEN, nowMs, DecodeFlags.SkipIpChecksum | DecodeFlags.L4ChecksumPartial);
  }

  /**
   * Processes the packet in `buf[offset, offset + length)` at `nowMs`, rewriting it in place.
   * `decodeFlags` carries what the device knows (see `DecodeFlags`, e.g. a partial L4 checksum).
   */
  process(buf: Uint8Array, offset: number, length: number, nowMs: number, decodeFlags = 0): Verdict {
    const view = this.view;
    const decoded = decodeIpv4(buf, offset, length, view, decodeFlags);
    if (decoded !== DecodeResult.Ok) return this.drop(decoded);
    if (view.moreFragments) return this.drop(DropReason.Fragment);
    const proto = view.protocol;
    if (proto === ICMP) return this.processIcmp(buf, nowMs);
    const table = this.table;
    let id = table.lookupOutside(proto, view.src, view.srcPort, view.dst, view.dstPort);
    if (id >= 0) return this.forwardIn(buf, id, nowMs);
    id = table.lookupInside(proto, view.src, view.srcPort, view.dst, view.dstPort);
    if (id >= 0) return this.forwardOut(buf, id, nowMs);
    return this.newConnection(buf, nowMs);
  }

  /** Client → server on a known connection. */
  private forwardIn(buf: Uint8Array, id: number, nowMs: number): Verdict {
    const table = this.table;
    const s = table.serviceId(id);
    const i = table.serverIndex(id);
    const state = this.services[s]!;
    // A disabled server takes no traffic at all, existing connections included (drain keeps them).
    if (!state.pool.isServing(i) && state.pool.admin(i) === "disabled") {
      table.remove(id);
      this.stats.dropped(s);
      return this.drop(DropReason.NoServer);
    }
    // Passive health: a repeated SYN means the server left the first one unanswered.
    if ((this.view.tcpFlags & TcpFlag.Syn) !== 0 && this.view.protocol === TCP) this.passiveSyn(id, s, i);
    this.account(id, s, i, Dir.IN, nowMs);
    if ((table.flags(id) & ConnFlag.REQUEST_PENDING) === 0 && this.payloadBytes() > 0) {
      table.setFlag(id, ConnFlag.REQUEST_PENDING, true);
      this.requestStartMs[id] = nowMs;
    }
    if (table.flags(id) & ConnFlag.FULLNAT) {
      rewriteSrcDst(buf, this.view, table.localAddr(id), table.localPort(id), table.serverAddr(id), table.serverPort(id));
    } else {
      rewriteDst(buf, this.view, table.serverAddr(id), table.serverPort(id));
    }
    return Verdict.Forward;
  }

  /** Server → client reply on a known connection. */
  private forwardOut(buf: Uint8Array, id: number, nowMs: number): Verdict {
    const table = this.table;
    if (this.view.protocol === TCP && (table.flags(id) & ConnFlag.SERVER_DATA) === 0) this.passiveOut(id);
    this.account(id, table.serviceId(id), table.serverIndex(id), Dir.OUT, nowMs);
    if ((table.flags(id) & ConnFlag.REQUEST_PENDING) !== 0) this.responseSeen(id, nowMs);
    if ((table.flags(id) & ConnFlag.REPLIED) === 0) table.setFlag(id, ConnFlag.REPLIED, true);
    if (table.flags(id) & ConnFlag.FULLNAT) {
      rewriteSrcDst(buf, this.view, table.vipAddr(id), table.vipPort(id), table.clientAddr(id), table.clientPort(id));
    } else {
      rewriteSrc(buf, this.view, table.vipAddr(id), table.vipPort(id));
    }
    return Verdict.Forward;
  }

  /**
   * Response time: the server's first data after a client request ends the turn the request's
   * first data began (HTTP/1.x request → response, DNS query → answer, each turn of a keep-alive
   * connection); a server packet without data (a bare ACK) does not.
   */
  private responseSeen(id: number, nowMs: number): void {
    if (this.payloadBytes() === 0) return;
    const table = this.table;
    table.setFlag(id, ConnFlag.REQUEST_PENDING, false);
    this.stats.responseTime(table.serviceId(id), table.serverIndex(id), Math.max(0, nowMs - this.requestStartMs[id]!));
  }

  /** Bytes of TCP or UDP payload in the packet in `view`. */
  private payloadBytes(): number {
    const view = this.view;
    return view.protocol === TCP ? view.l4Length - view.tcpHeaderLength : view.protocol === UDP ? view.udpLength - 8 : 0;
  }

  /** A client SYN on a known entry: counts a timeout once if the server never answered. */
  private passiveSyn(id: number, s: number, i: number): void {
    const table = this.table;
    if (table.state(id) !== TcpState.SYN_RECV || (table.flags(id) & (ConnFlag.REPLIED | ConnFlag.PASSIVE_COUNTED)) !== 0) return;
    table.setFlag(id, ConnFlag.PASSIVE_COUNTED, true);
    this.stats.passive(s, i, StatField.Timeouts);
  }

  /**
   * A server packet on a connection whose server has sent no data yet: a RST answering the SYN is
   * a refusal, a RST before any data a reset "instead of a response"; the first data ends the checks.
   */
  private passiveOut(id: number): void {
    const table = this.table, view = this.view;
    if ((view.tcpFlags & TcpFlag.Rst) === 0) {
      if (view.totalLength > view.headerLength + view.tcpHeaderLength) table.setFlag(id, ConnFlag.SERVER_DATA, true);
      return;
    }
    if ((table.flags(id) & ConnFlag.PASSIVE_COUNTED) !== 0) return;
    table.setFlag(id, ConnFlag.PASSIVE_COUNTED, true);
    this.stats.passive(table.serviceId(id), table.serverIndex(id), table.state(id) === TcpState.SYN_RECV ? StatField.Refused : StatField.Resets);
  }

  /** Updates counters and TCP state, and keeps the pool's active/inactive counts in step. */
  private account(id: number, s: number, i: number, dir: number, nowMs: number): void {
    const view = this.view;
    const table = this.table;
    if (this.sink !== null && table.syncRefreshDue(id, dir, nowMs)) this.sink.upserted(id);
    const before = table.state(id);
    const after = table.update(id, dir, view.tcpFlags, view.totalLength, nowMs);
    if (before !== after && view.protocol === TCP) {
      const pool = this.services[s]!.pool;
      if (after === TcpState.ESTABLISHED) pool.onEstablished(i);
      else if (before === TcpState.ESTABLISHED) pool.onInactive(i);
    }
    this.stats.packet(s, i, dir, view.totalLength);
  }

  /** A packet matching no connection: start one if it opens a flow to a service. */
  private newConnection(buf: Uint8Array, nowMs: number): Verdict {
    const view = this.view;
    const s = this.byKey.get(serviceKey(view.protocol, view.dst, view.dstPort));
    if (s === undefined) {
      if (this.vips.has(view.dst)) return this.drop(DropReason.NoService);
      return this.notOurs();
    }
    // Only a SYN opens a TCP connection; anything else is a stray (or a connection we lost).
    if (view.protocol === TCP && (view.tcpFlags & (TcpFlag.Syn | TcpFlag.Ack | TcpFlag.Rst)) !== TcpFlag.Syn) {
      return this.drop(DropReason.NoConnection);
    }
    const state = this.services[s]!;
    const flow = this.flow;
    flow.srcAddr = view.src;
    flow.srcPort = view.srcPort;
    const i = state.spec.persistenceMs > 0 ? this.persistence.pick(s, state.pool, state.scheduler, flow, nowMs) : state.scheduler.pick(state.pool, flow);
    if (i < 0) {
      this.stats.dropped(s);
      return this.drop(DropReason.NoServer);
    }
    const server = state.spec.servers[i]!;
    const conn = this.conn;
    conn.proto = view.protocol;
    conn.clientAddr = view.src;
    conn.clientPort = view.srcPort;
    conn.vipAddr = view.dst;
    conn.vipPort = view.dstPort;
    conn.serverAddr = server.addr;
    conn.serverPort = server.port;
    conn.serviceId = s;
    conn.serverIndex = i;
    conn.localAddr = 0;
    conn.localPort = 0;
    conn.flags = 0;
    if (state.ports) {
      const lease = state.ports.allocate(view.protocol, server.addr, server.port);
      if (lease < 0) {
        this.stats.dropped(s);
        return this.drop(DropReason.NoLocalPort);
      }
      conn.localAddr = state.ports.leaseAddr(lease);
      conn.localPort = state.ports.leasePort(lease);
      conn.flags = ConnFlag.FULLNAT;
    }
    let id = this.table.insert(conn, nowMs);
    if (id === InsertError.INSIDE_CONFLICT && state.ports) id = this.insertPastSyncedPorts(s, state.ports, nowMs);
    if (id < 0) {
      if (state.ports) state.ports.release(conn.proto, conn.serverAddr, conn.serverPort, conn.localAddr, conn.localPort);
      this.stats.dropped(s);
      // A fullnat conflict means every port left was taken by entries the allocator did not know.
      return this.drop(id === InsertError.FULL ? DropReason.TableFull : id === InsertError.INSIDE_CONFLICT && state.ports ? DropReason.NoLocalPort : DropReason.NoConnection);
    }
    state.pool.onConnect(i, true);
    if (state.spec.persistenceMs > 0) this.persistence.attach(s, view.src, i);
    this.stats.connection(s, i);
    return this.forwardIn(buf, id, nowMs);
  }

  /**
   * fullnat: the local port in `this.conn` is held by an entry the allocator did not hand out (one
   * received by state sync). Such a port stays leased, adopted by its holder (whose release frees
   * it), and the next port is tried; adoption only shrinks the free pool, so this ends. A port
   * held by another service's entry goes back (at most `PORT_RELEASES` times). Returns the
   * insert's result; on failure `this.conn.localPort` is 0, so the caller's release is a no-op.
   */
  private insertPastSyncedPorts(s: number, ports: LocalPortAllocator, nowMs: number): number {
    const conn = this.conn, table = this.table;
    for (let released = 0; ;) {
      const holder = table.lookupInside(conn.proto, conn.serverAddr, conn.serverPort, conn.localAddr, conn.localPort);
      if (holder < 0 || (table.flags(holder) & ConnFlag.FULLNAT) === 0 || table.serviceId(holder) !== s) {
        ports.release(conn.proto, conn.serverAddr, conn.serverPort, conn.localAddr, conn.localPort);
        released++;
      }
      conn.localPort = 0;
      const lease = released <= PORT_RELEASES ? ports.allocate(conn.proto, conn.serverAddr, conn.serverPort) : -1;
      if (lease < 0) return InsertError.INSIDE_CONFLICT;
      conn.localAddr = ports.leaseAddr(lease);
      conn.localPort = ports.leasePort(lease);
      const id = table.insert(conn, nowMs);
      if (id !== InsertError.INSIDE_CONFLICT) return id;
    }
  }

  /**
   * Applies one entry received by state sync (the standby's side) at `nowMs`: an upsert inserts
   * the connection (same server, same fullnat local address and port) or updates its state and
   * lifetime, keeping server connection counts and persistence in step; a remove deletes it. The
   * sender is authoritative: a local entry with the same key but another server, or holding the
   * same reply tuple, is replaced. Rewrites `entry.serviceId`/`serverIndex` to local indices.
   * Synced connections are not counted in the per-service connection statistics (the active counted
   * them). Returns `SyncResult.Applied` or why the entry was not applied; never throws on any entry.
   */
  applySynced(entry: SyncEntry, nowMs: number): SyncResult {
    this.applyingSync = true;
    try {
      return entry.op === SyncOp.Remove ? this.applySyncedRemove(entry) : this.applySyncedUpsert(entry, nowMs);
    } finally {
      this.applyingSync = false;
    }
  }

  private applySyncedRemove(e: SyncEntry): SyncResult {
    const id = this.table.lookupOutside(e.proto, e.clientAddr, e.clientPort, e.vipAddr, e.vipPort);
    if (id < 0) return SyncResult.Absent;
    this.table.remove(id);
    return SyncResult.Applied;
  }

  private applySyncedUpsert(e: SyncEntry, nowMs: number): SyncResult {
    const resolved = this.syncIndex.resolve(e);
    if (resolved !== SyncResult.Applied) return resolved;
    const table = this.table, s = e.serviceId, i = e.serverIndex, service = this.services[s]!;
    const state = e.proto === TCP ? e.state : TcpState.NONE;
    let id = table.lookupOutside(e.proto, e.clientAddr, e.clientPort, e.vipAddr, e.vipPort);
    if (id >= 0 && !this.sameFlow(id, e)) {
      table.remove(id);
      id = -1;
    }
    let before: number = TcpState.NONE;
    if (id >= 0) {
      before = table.state(id);
    } else {
      id = this.insertSynced(e, nowMs);
      if (id < 0) return id === InsertError.FULL ? SyncResult.TableFull : SyncResult.Conflict;
      service.pool.onConnect(i, true);
      if (service.spec.persistenceMs > 0) {
        this.persistence.record(s, e.clientAddr, i, nowMs);
        this.persistence.attach(s, e.clientAddr, i);
      }
    }
    table.setSynced(id, state, e.flags, nowMs + e.remainingMs, nowMs - e.ageMs, nowMs);
    if (before !== state && e.proto === TCP) {
      if (state === TcpState.ESTABLISHED) service.pool.onEstablished(i);
      else if (before === TcpState.ESTABLISHED) service.pool.onInactive(i);
    }
    return SyncResult.Applied;
  }

  /** Inserts a resolved synced upsert, first removing a local entry that holds its reply tuple. */
  private insertSynced(e: SyncEntry, nowMs: number): number {
    const conn = this.conn, table = this.table;
    const fullnat = (e.flags & ConnFlag.FULLNAT) !== 0;
    conn.proto = e.proto;
    conn.clientAddr = e.clientAddr;
    conn.clientPort = e.clientPort;
    conn.vipAddr = e.vipAddr;
    conn.vipPort = e.vipPort;
    conn.serverAddr = e.serverAddr;
    conn.serverPort = e.serverPort;
    conn.localAddr = fullnat ? e.localAddr : 0;
    conn.localPort = fullnat ? e.localPort : 0;
    conn.serviceId = e.serviceId;
    conn.serverIndex = e.serverIndex;
    conn.flags = (fullnat ? ConnFlag.FULLNAT : 0) | ConnFlag.SYNCED;
    let id = table.insert(conn, nowMs);
    if (id === InsertError.INSIDE_CONFLICT) {
      const holder = table.lookupInside(conn.proto, conn.serverAddr, conn.serverPort, fullnat ? conn.localAddr : conn.clientAddr, fullnat ? conn.localPort : conn.clientPort);
      if (holder >= 0) table.remove(holder);
      id = table.insert(conn, nowMs);
    }
    return id;
  }

  /** True when live entry `id` goes to the same server (and fullnat local address:port) as `e`. */
  private sameFlow(id: number, e: SyncEntry): boolean {
    const t = this.table, fullnat = (e.flags & ConnFlag.FULLNAT) !== 0;
    if (t.serviceId(id) !== e.serviceId || t.serverIndex(id) !== e.serverIndex || t.serverAddr(id) !== e.serverAddr || t.serverPort(id) !== e.serverPort) return false;
    if (((t.flags(id) & ConnFlag.FULLNAT) !== 0) !== fullnat) return false;
    return !fullnat || (t.localAddr(id) === e.localAddr && t.localPort(id) === e.localPort);
  }

  /** ICMP: answer echo to a VIP, translate errors about tracked flows, drop the rest. */
  private processIcmp(buf: Uint8Array, nowMs: number): Verdict {
    const view = this.view;
    if (view.icmpType === IcmpType.Echo) {
      if (!this.vips.has(view.dst)) return this.serverAddrs.has(view.src) ? this.notOurs() : this.drop(DropReason.NoService);
      return icmpEchoReply(buf, view) ? Verdict.Reply : this.drop(DropReason.IcmpInnerBad);
    }
    if (!view.isIcmpError || view.innerProtocol === ICMP) return this.serverAddrs.has(view.src) ? this.notOurs() : this.drop(DropReason.IcmpUnsupported);
    const table = this.table;
    const p = view.innerProtocol;
    // An error about a packet we sent to a server: the quote is (client or local) → server.
    let id = table.lookupInside(p, view.innerDst, view.innerDstPort, view.innerSrc, view.innerSrcPort);
    if (id >= 0) {
      const vip = table.vipAddr(id);
      rewriteIcmpErrorInner(buf, view, table.clientAddr(id), table.clientPort(id), vip, table.vipPort(id));
      // The client learns of the problem from the address it talked to, not from inside.
      rewriteSrc(buf, view, vip, 0);
      table.update(id, Dir.OUT, 0, view.totalLength, nowMs);
      return Verdict.Forward;
    }
    // An error about a reply we sent to a client: the quote is VIP → client.
    id = table.lookupOutside(p, view.innerDst, view.innerDstPort, view.innerSrc, view.innerSrcPort);
    if (id >= 0) {
      const fullnat = (table.flags(id) & ConnFlag.FULLNAT) !== 0;
      const dst = fullnat ? table.localAddr(id) : table.clientAddr(id);
      const dstPort = fullnat ? table.localPort(id) : table.clientPort(id);
      rewriteIcmpErrorInner(buf, view, table.serverAddr(id), table.serverPort(id), dst, dstPort);
      if (fullnat) rewriteSrc(buf, view, table.localAddr(id), 0);
      table.update(id, Dir.IN, 0, view.totalLength, nowMs);
      return Verdict.Forward;
    }
    return this.notOurs();
  }

  /** A packet of no connection and no service: pass a server's steered packet on, drop the rest. */
  private notOurs(): Verdict {
    const view = this.view;
    if (this.serverAddrs.has(view.src) && !this.vips.has(view.dst) && !this.localAddrs.has(view.dst)) {
      this.passed++;
      return Verdict.Pass;
    }
    return this.drop(DropReason.NoConnection);
  }

  private drop(reason: number): Verdict {
    this.drops.count(reason);
    return Verdict.Drop;
  }

  /** Frees what a removed connection held: pool counts, persistence, its fullnat port. */
  private release(id: number): void {
    const table = this.table;
    const s = table.serviceId(id);
    const i = table.serverIndex(id);
    const state = this.services[s];
    if (!state) return;
    state.pool.onDisconnect(i, table.proto(id) !== TCP || table.state(id) !== TcpState.ESTABLISHED);
    if (state.spec.persistenceMs > 0) this.persistence.detach(s, table.clientAddr(id), i, table.lastSeenMs(id));
    if (state.ports) state.ports.release(table.proto(id), table.serverAddr(id), table.serverPort(id), table.localAddr(id), table.localPort(id));
  }

  /** Removes connections whose timeout has passed, doing at most `budget` work; returns how many. */
  expire(nowMs: number, budget = 4096): number {
    this.persistence.expire(nowMs);
    return this.table.expire(nowMs, budget);
  }

  /** Changes a server's weight; applies to the next new connection. */
  setWeight(service: number, server: number, weight: number): void {
    this.services[service]?.pool.setWeight(server, weight);
  }

  /**
   * Sets the adaptive controller's weight of a server (the pool's effective weight, which the
   * `adaptive` scheduler dispatches by); applies to the next new connection. Unknown indices and
   * invalid weights are ignored (this runs in the packet Worker, which must not throw).
   */
  setAdaptiveWeight(service: number, server: number, weight: number): void {
    const pool = this.services[service]?.pool;
    if (!pool || !Number.isInteger(server) || server < 0 || server >= pool.size || !Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) return;
    pool.setEffectiveWeight(server, weight);
  }

  /** Changes a server's administrative state (drain keeps existing connections, disabled cuts them). */
  setAdmin(service: number, server: number, admin: AdminState): void {
    this.services[service]?.pool.setAdmin(server, admin);
  }

  /** Marks a server up or down (from health monitors). */
  setUp(service: number, server: number, up: boolean): void {
    this.services[service]?.pool.setUp(server, up);
  }

  /** Active (established) and inactive connection counts of a server. */
  connections(service: number, server: number): { active: number; inactive: number } {
    const pool = this.services[service]?.pool;
    return pool ? { active: pool.activeConns(server), inactive: pool.inactiveConns(server) } : { active: 0, inactive: 0 };
  }
}

/** Map key of a service: protocol, VIP and port packed into one safe integer. */
function serviceKey(proto: number, vip: number, port: number): number {
  return (vip * 65536 + port) * 2 + (proto === UDP ? 1 : 0);
}
