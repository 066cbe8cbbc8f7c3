/**
 * The dispatcher's connection table: every tracked flow (TCP, UDP, ICMP echo) in one
 * ArrayBuffer (or SharedArrayBuffer), with no JS object per entry and no allocation per packet.
 *
 * Memory layout (all regions in one buffer, so `ConnTable.attach(buffer)` in another thread sees
 * exactly the same table; every mutable field, counters and cursors included, lives in the buffer):
 *
 *   header     256 B   geometry, hash seed, counters, free list, wheel cursor, timeouts
 *   records    80 B × capacity      one fixed-width record per entry (layout below)
 *   links      8 B × (capacity + wheelSlots)  timer-wheel list links (next, prev); free-list link
 *   outside    8 B × indexSlots     open-addressing index by (proto, client, vip): [hash, id + 1]
 *   inside     8 B × indexSlots     open-addressing index by (proto, server, dst): [hash, id + 1]
 *
 * Record (80 B, widths chosen so the per-packet fields share one or two cache lines):
 *
 *   0  u8  proto (IP protocol number; 0 = free record)   20 u16 clientPort   32 f64 createdMs
 *   1  u8  state (TcpState; NONE for UDP/ICMP)           22 u16 vipPort      40 f64 lastSeenMs
 *   2  u8  flags (ConnFlag)                              24 u16 serverPort   48 f64 expiresMs
 *   3  u8  syncMark (state sync)                         26 u16 localPort    56 u32 packetsIn
 *   4  u32 clientAddr      12 u32 serverAddr             28 u16 serviceId    60 u32 packetsOut
 *   8  u32 vipAddr         16 u32 localAddr              30 u16 serverIndex  64 f64 bytesIn
 *                                                                            72 f64 bytesOut
 *
 * Times are f64 milliseconds of the monotonic clock (exact, never wrap). Byte counters are f64
 * (exact to 2^53 bytes). Packet counters are u32 and wrap like an SNMP Counter32; per-service
 * totals belong to the engine's stats, these are per-flow diagnostics.
 *
 * Per-entry budget at the default index load (0.75, rounded up to a power of two): 80 B record +
 * 8 B links + 2 × 8 B × (indexSlots / capacity) ≈ 120 B at capacity 2^20, i.e. 120 MiB for
 * 1,048,576 entries (154 MiB RSS for the whole Bun process holding 1M connections, measured by
 * bench/conntable-rss.ts). Pages are touched only as entries are used.
 *
 * Lookups: two robin-hood linear-probing indexes keyed by HalfSipHash-1-3 (the hash Linux uses as
 * `hsiphash` for DoS-resistant hash tables) with a per-table random 64-bit key, so remote clients
 * cannot aim their addresses and ports at one probe chain. Deletion shifts the following entries
 * back (no tombstones), and the index load is bounded by construction (capacity ≤ indexSlots ×
 * indexLoad).
 *
 * Expiry: a hashed timing wheel of `wheelSlots` buckets of `tickMs` each (circular doubly linked
 * lists threaded through `links`). A packet only moves an entry's `expiresMs` forward; the entry
 * stays in its (earlier) bucket and is re-filed when that bucket comes due, so the per-packet cost
 * is two stores. Entries are re-filed eagerly only when their expiry moves earlier (a state with a
 * shorter timeout). `expire()` visits due buckets only, bounded by its budget, so 1M entries are
 * never scanned per tick; an entry is reaped at most one tick after it expires.
 *
 * Single writer: one thread (the packet worker) mutates the table; others may read records and
 * counters (values may be momentarily torn, which is fine for statistics).
 *
 * State sync (HA): `syncMark` is the time an entry was last handed to state sync, in units of
 * 1024 ms modulo 256. `syncRefreshDue` tells the packet path when to re-send a long-lived entry,
 * so its copy on the standby never expires while the active still sees traffic; it is called only
 * while sync capture is on, so the per-packet path pays nothing otherwise.
 */

/** IP protocol numbers (IANA) of the flows the table tracks. */
export const Proto = { ICMP: 1, TCP: 6, UDP: 17 } as const;

/** Packet direction within a connection: IN is client → server, OUT is server → client (replies). */
export const Dir = { IN: 0, OUT: 1 } as const;
/** A packet direction, `Dir.IN` or `Dir.OUT`. */
export type Dir = (typeof Dir)[keyof typeof Dir];

/** Bits of the TCP header's flags byte (RFC 9293 §3.1) that drive the state machine. */
export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/**
 * TCP connection states as the dispatcher infers them, named like IPVS after the real server's
 * side: SYN_RECV = client SYN seen, SYN_ACK = server answered, CLOSE_WAIT = client closed first,
 * FIN_WAIT = server closed first, LAST_ACK = client closed then server closed (awaiting the
 * client's last ACK), TIME_WAIT = both sides closed, CLOSE = reset (or an invalid start).
 */
export const TcpState = {
  NONE: 0,
  SYN_RECV: 1,
  SYN_ACK: 2,
  ESTABLISHED: 3,
  FIN_WAIT: 4,
  CLOSE_WAIT: 5,
  LAST_ACK: 6,
  TIME_WAIT: 7,
  CLOSE: 8,
} as const;
/** A TCP state number from `TcpState`. */
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

/** Display names of the TCP states, indexed by state number. */
export const TCP_STATE_NAMES: readonly string[] = [
  "NONE", "SYN_RECV", "SYN_ACK", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE",
];

/**
 * Per-entry flag bits. FULLNAT is fixed at insert; REPLIED is set by the first OUT packet; SYNCED
 * marks an entry received from the peer by state sync (set by `setSynced`, informational).
 * REQUEST_PENDING: the client sent data the server has not answered yet (the dispatcher keeps the
 * time it started, for response-time measurement); it is local and never synced.
 */
export const ConnFlag = { FULLNAT: 0x01, REPLIED: 0x02, SYNCED: 0x04, SERVER_DATA: 0x08, PASSIVE_COUNTED: 0x10, REQUEST_PENDING: 0x20 } as const;

/** What happened to an entry, as reported to `ConnTable.onEvent`. */
export const ConnEvent = { CREATED: 1, STATE_CHANGED: 2, EXPIRED: 3, EVICTED: 4, REMOVED: 5 } as const;
/** An event number from `ConnEvent`. */
export type ConnEvent = (typeof ConnEvent)[keyof typeof ConnEvent];

/**
 * Observer of table changes, called synchronously with numbers only (no allocation). For the three
 * removal events it runs after the entry left both indexes but before its record is cleared, so the
 * listener can still read every field (service, server, local port to free). It must not mutate
 * the table.
 */
export type ConnEventListener = (id: number, event: ConnEvent) => void;

/** Negative results of `ConnTable.insert`. */
export const InsertError = {
  /** The outside key is already tracked (look it up before inserting). */
  EXISTS: -1,
  /** Another entry already owns the inside key (nat: two VIPs mapping one client port to one server). */
  INSIDE_CONFLICT: -2,
  /** The table is full and no embryonic or closed entry was found to evict: the connection is refused. */
  FULL: -3,
} as const;

/** Idle timeouts in milliseconds: one per TCP state, one for UDP, one for ICMP echo. */
export interface Timeouts {
  tcpNoneMs: number;
  tcpSynRecvMs: number;
  tcpSynAckMs: number;
  tcpEstablishedMs: number;
  tcpFinWaitMs: number;
  tcpCloseWaitMs: number;
  tcpLastAckMs: number;
  tcpTimeWaitMs: number;
  tcpCloseMs: number;
  udpMs: number;
  icmpMs: number;
}

/** Default timeouts: IPVS's TCP values (ip_vs_proto_tcp.c `tcp_timeouts`, SYN_ACK as SYN_RECV), UDP 60 s, ICMP echo 10 s. */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  tcpNoneMs: 2_000,
  tcpSynRecvMs: 60_000,
  tcpSynAckMs: 60_000,
  tcpEstablishedMs: 15 * 60_000,
  tcpFinWaitMs: 2 * 60_000,
  tcpCloseWaitMs: 60_000,
  tcpLastAckMs: 30_000,
  tcpTimeWaitMs: 2 * 60_000,
  tcpCloseMs: 10_000,
  udpMs: 60_000,
  icmpMs: 10_000,
});

/** The order in which timeouts are stored in the header: TCP states 0..8, then UDP, then ICMP. */
const TIMEOUT_KEYS: readonly (keyof Timeouts)[] = [
  "tcpNoneMs", "tcpSynRecvMs", "tcpSynAckMs", "tcpEstablishedMs", "tcpFinWaitMs",
  "tcpCloseWaitMs", "tcpLastAckMs", "tcpTimeWaitMs", "tcpCloseMs", "udpMs", "icmpMs",
];

/** Geometry and policy of a new table; every field is optional. */
export interface ConnTableOptions {
  /** Allocate a SharedArrayBuffer (for a table shared with a Worker). Default false. */
  shared?: boolean;
  /** Timeouts overriding `DEFAULT_TIMEOUTS`. */
  timeouts?: Partial<Timeouts>;
  /** 64-bit hash key as two u32 words; default random. Pass crypto-random words in production. */
  seed?: readonly [number, number];
  /** Highest load of each index when the table is full, in (0, 0.9]. Default 0.75. */
  indexLoad?: number;
  /** Timer-wheel granularity in ms: expiry is at most this late. Default 1000. */
  tickMs?: number;
  /** Timer-wheel buckets, a power of two; `tickMs × wheelSlots` should exceed the longest timeout. Default 1024. */
  wheelSlots?: number;
  /** Records examined for an evictable entry when the table is full. Default 64. */
  evictProbe?: number;
}

/** Counters and gauges of a table, for stats pages and tests. */
export interface ConnTableStats {
  capacity: number;
  count: number;
  created: number;
  expired: number;
  evicted: number;
  refused: number;
  removed: number;
  insideConflicts: number;
  duplicates: number;
}

/** Probe-length summary of one index. */
export interface ProbeStats {
  used: number;
  slots: number;
  meanDistance: number;
  maxDistance: number;
}

/**
 * A reusable description of a connection to insert. Fill the fields and reuse the same object for
 * every insert (no allocation per packet). Addresses are IPv4 as unsigned 32-bit numbers. For ICMP
 * echo, `clientPort` is the echo identifier and `vipPort`/`serverPort` are 0; in fullnat,
 * `localPort` is the identifier the dispatcher substituted.
 */
export class ConnSpec {
  proto = 0;
  clientAddr = 0;
  clientPort = 0;
  vipAddr = 0;
  vipPort = 0;
  serverAddr = 0;
  serverPort = 0;
  /** fullnat only (with `ConnFlag.FULLNAT` in `flags`); 0 in nat. */
  localAddr = 0;
  localPort = 0;
  serviceId = 0;
  serverIndex = 0;
  flags = 0;
}

// Record geometry: strides and field offsets per view.
const RECORD_BYTES = 80;
const S8 = RECORD_BYTES;
const S16 = RECORD_BYTES / 2;
const S32 = RECORD_BYTES / 4;
const S64 = RECORD_BYTES / 8;
const B_PROTO = 0, B_STATE = 1, B_FLAGS = 2, B_SYNC_MARK = 3;
const W_CLIENT_ADDR = 1, W_VIP_ADDR = 2, W_SERVER_ADDR = 3, W_LOCAL_ADDR = 4, W_PKTS_IN = 14, W_PKTS_OUT = 15;
const H_CLIENT_PORT = 10, H_VIP_PORT = 11, H_SERVER_PORT = 12, H_LOCAL_PORT = 13, H_SERVICE = 14, H_SERVER_INDEX = 15;
const D_CREATED = 4, D_LAST_SEEN = 5, D_EXPIRES = 6, D_BYTES_IN = 8, D_BYTES_OUT = 9;

// Header: u32 words 0..31, f64 words 16..31 (bytes 128..255).
const HEADER_BYTES = 256;
const MAGIC = 0x54434e54; // "TNCT"
const VERSION = 1;
const U_MAGIC = 0, U_VERSION = 1, U_CAPACITY = 2, U_INDEX_SLOTS = 3, U_WHEEL_SLOTS = 4, U_TICK_MS = 5;
const U_SEED0 = 6, U_SEED1 = 7, U_COUNT = 8, U_FREE_HEAD = 9, U_NEXT_FRESH = 10, U_EVICT_HAND = 11;
const U_EVICT_PROBE = 12, U_TIMEOUTS = 16;
const T_UDP = 9, T_ICMP = 10;
const F_CURSOR = 16, F_CREATED = 17, F_EXPIRED = 18, F_EVICTED = 19, F_REFUSED = 20, F_REMOVED = 21;
const F_CONFLICTS = 22, F_DUPLICATES = 23;

const NIL = 0xffffffff;
const MAX_CAPACITY = 1 << 26;
const MAX_TIMEOUT_MS = 0x7fffffff;
const TCP = 6, ICMP = 1;
const N_STATES = 9;
const INSIDE_TAG = 0x100;
// Sync marks count 1024 ms units modulo 256. A refresh interval of at most 120 units keeps the
// wrapped difference exact: see `syncRefreshDue`.
const SYNC_UNIT_MS = 1024;
const SYNC_MAX_UNITS = 120;

// TCP transitions [dir][event][state]; events SYN, FIN, ACK, RST (RST > SYN > FIN > ACK, as IPVS
// tcp_state_idx). Columns: NONE SYN_RECV SYN_ACK ESTABLISHED FIN_WAIT CLOSE_WAIT LAST_ACK TIME_WAIT CLOSE.
// Deliberate differences from IPVS's table: the client's ACK establishes only after the server's
// SYN-ACK (a spoofed SYN+ACK pair cannot buy a 15-minute entry); a stray SYN does not demote a
// live or closing connection; the server's FIN after the client's leads to LAST_ACK (30 s) and
// the client's final ACK to TIME_WAIT, rather than straight to TIME_WAIT; RST closes from any state.
const NO = 0, SR = 1, SA = 2, ES = 3, FW = 4, CW = 5, LA = 6, TW = 7, CL = 8;
// prettier-ignore
const TCP_NEXT = new Uint8Array([
  // IN (client → server)
  SR, SR, SA, ES, FW, CW, LA, SR, SR, // SYN: new SYN reopens TIME_WAIT/CLOSE (RFC 9293 §3.10.7.4)
  CL, CL, CW, CW, TW, CW, LA, TW, CL, // FIN: client closes first → CLOSE_WAIT; after server FIN → TIME_WAIT
  ES, SR, ES, ES, FW, CW, TW, TW, CL, // ACK: completes the handshake only after SYN-ACK; acks server FIN
  CL, CL, CL, CL, CL, CL, CL, CL, CL, // RST
  // OUT (server → client)
  NO, SA, SA, ES, FW, CW, LA, TW, CL, // SYN (SYN-ACK)
  CL, CL, FW, FW, FW, LA, LA, TW, CL, // FIN: server closes first → FIN_WAIT; after client FIN → LAST_ACK
  NO, SR, SA, ES, FW, CW, LA, TW, CL, // ACK: never advances (the client's ACK does)
  CL, CL, CL, CL, CL, CL, CL, CL, CL, // RST
]);

/**
 * The TCP state after a packet with `tcpFlags` in direction `dir` arrives in `state`; pure.
 * Packets with none of SYN/FIN/ACK/RST leave the state unchanged, as do unknown states.
 */
export function tcpNextState(state: number, dir: number, tcpFlags: number): number {
  const event = tcpFlags & 0x04 ? 3 : tcpFlags & 0x02 ? 0 : tcpFlags & 0x01 ? 1 : tcpFlags & 0x10 ? 2 : -1;
  if (event < 0 || state >= N_STATES) return state;
  return TCP_NEXT[((dir & 1) * 4 + event) * N_STATES + state]!;
}

/**
 * HalfSipHash-1-3 of four 32-bit words (16 bytes, little-endian word order) under key (k0, k1);
 * returns an unsigned 32-bit hash. Matches Linux's 32-bit `hsiphash` (lib/siphash.c).
 */
export function halfSipHash4(k0: number, k1: number, w0: number, w1: number, w2: number, w3: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = 0x6c796765 ^ k0;
  let v3 = 0x74656462 ^ k1;
  // One SipRound per message word, then one for the length word (16 << 24), then three final rounds.
  for (let i = 0; i < 8; i++) {
    const m = i === 0 ? w0 : i === 1 ? w1 : i === 2 ? w2 : i === 3 ? w3 : i === 4 ? 0x10000000 : 0;
    if (i === 5) v2 ^= 0xff;
    v3 ^= m;
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
    v0 ^= m;
  }
  return (v1 ^ v3) >>> 0;
}

/** Refresh interval of a timeout in sync units: a quarter of it, clamped to [1, SYNC_MAX_UNITS]. */
function syncRefreshUnits(timeoutMs: number): number {
  const units = Math.floor(timeoutMs / (4 * SYNC_UNIT_MS));
  return units < 1 ? 1 : units > SYNC_MAX_UNITS ? SYNC_MAX_UNITS : units;
}

interface Geometry {
  capacity: number;
  indexSlots: number;
  wheelSlots: number;
  recordsOff: number;
  linksOff: number;
  outsideOff: number;
  insideOff: number;
  byteLength: number;
}

function geometry(capacity: number, indexSlots: number, wheelSlots: number): Geometry {
  const recordsOff = HEADER_BYTES;
  const linksOff = recordsOff + capacity * RECORD_BYTES;
  const outsideOff = linksOff + (capacity + wheelSlots) * 8;
  const insideOff = outsideOff + indexSlots * 8;
  return {
    capacity, indexSlots, wheelSlots, recordsOff, linksOff, outsideOff, insideOff,
    byteLength: insideOff + indexSlots * 8,
  };
}

function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

function checkInt(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Invalid ${name} "${value}": expected an integer from ${min} to ${max}`);
  }
  return value;
}

function resolveGeometry(capacity: number, options: ConnTableOptions): Geometry {
  checkInt("capacity", capacity, 1, MAX_CAPACITY);
  const load = options.indexLoad ?? 0.75;
  if (!(load > 0 && load <= 0.9)) throw new RangeError(`Invalid indexLoad "${load}": expected a number in (0, 0.9]`);
  const wheelSlots = checkInt("wheelSlots", options.wheelSlots ?? 1024, 2, 1 << 20);
  if (nextPow2(wheelSlots) !== wheelSlots) throw new RangeError(`Invalid wheelSlots "${wheelSlots}": expected a power of two`);
  return geometry(capacity, nextPow2(Math.ceil(capacity / load)), wheelSlots);
}

/** A bounded connection table over one (Shared)ArrayBuffer; see the file comment for the layout. */
export class ConnTable {
  /** Called for every create, state change and removal; see `ConnEventListener`. Per instance, not shared. */
  onEvent: ConnEventListener | null = null;

  /** The buffer holding the whole table; hand it to `ConnTable.attach` in another thread. */
  readonly buffer: ArrayBufferLike;
  /** Maximum number of entries. */
  readonly capacity: number;

  private readonly hdr: Uint32Array;
  private readonly hdrF: Float64Array;
  private readonly u8: Uint8Array;
  private readonly u16: Uint16Array;
  private readonly u32: Uint32Array;
  private readonly f64: Float64Array;
  private readonly links: Uint32Array;
  private readonly outIdx: Uint32Array;
  private readonly inIdx: Uint32Array;
  private readonly mask: number;
  private readonly wheelSlots: number;
  private readonly tickMs: number;
  private readonly k0: number;
  private readonly k1: number;

  private constructor(buffer: ArrayBufferLike, g: Geometry) {
    this.buffer = buffer;
    this.capacity = g.capacity;
    this.hdr = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
    this.hdrF = new Float64Array(buffer, 0, HEADER_BYTES / 8);
    this.u8 = new Uint8Array(buffer, g.recordsOff, g.capacity * S8);
    this.u16 = new Uint16Array(buffer, g.recordsOff, g.capacity * S16);
    this.u32 = new Uint32Array(buffer, g.recordsOff, g.capacity * S32);
    this.f64 = new Float64Array(buffer, g.recordsOff, g.capacity * S64);
    this.links = new Uint32Array(buffer, g.linksOff, (g.capacity + g.wheelSlots) * 2);
    this.outIdx = new Uint32Array(buffer, g.outsideOff, g.indexSlots * 2);
    this.inIdx = new Uint32Array(buffer, g.insideOff, g.indexSlots * 2);
    this.mask = g.indexSlots - 1;
    this.wheelSlots = g.wheelSlots;
    this.tickMs = this.hdr[U_TICK_MS]!;
    this.k0 = this.hdr[U_SEED0]!;
    this.k1 = this.hdr[U_SEED1]!;
  }

  /** Bytes a table of `capacity` entries with `options` occupies (to size a buffer yourself). */
  static byteLengthFor(capacity: number, options: ConnTableOptions = {}): number {
    return resolveGeometry(capacity, options).byteLength;
  }

  /** Creates an empty table of `capacity` entries; throws RangeError on invalid options. */
  static create(capacity: number, options: ConnTableOptions = {}): ConnTable {
    const g = resolveGeometry(capacity, options);
    const tickMs = checkInt("tickMs", options.tickMs ?? 1000, 1, 3_600_000);
    const evictProbe = Math.min(capacity, checkInt("evictProbe", options.evictProbe ?? 64, 0, MAX_CAPACITY));
    const seed = options.seed ?? [(Math.random() * 2 ** 32) >>> 0, (Math.random() * 2 ** 32) >>> 0];
    const buffer = options.shared ? new SharedArrayBuffer(g.byteLength) : new ArrayBuffer(g.byteLength);
    const hdr = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
    hdr[U_MAGIC] = MAGIC;
    hdr[U_VERSION] = VERSION;
    hdr[U_CAPACITY] = g.capacity;
    hdr[U_INDEX_SLOTS] = g.indexSlots;
    hdr[U_WHEEL_SLOTS] = g.wheelSlots;
    hdr[U_TICK_MS] = tickMs;
    hdr[U_SEED0] = seed[0] >>> 0;
    hdr[U_SEED1] = seed[1] >>> 0;
    hdr[U_FREE_HEAD] = NIL;
    hdr[U_EVICT_PROBE] = evictProbe;
    new Float64Array(buffer, 0, HEADER_BYTES / 8)[F_CURSOR] = NaN;
    const table = new ConnTable(buffer, g);
    table.setTimeouts(DEFAULT_TIMEOUTS);
    if (options.timeouts) table.setTimeouts(options.timeouts);
    // Wheel sentinels point at themselves (empty circular lists). Records and indexes stay
    // untouched zero pages until used, which keeps RSS proportional to the live entries.
    const links = table.links;
    for (let b = 0; b < g.wheelSlots; b++) {
      const s = g.capacity + b;
      links[2 * s] = s;
      links[2 * s + 1] = s;
    }
    return table;
  }

  /** Opens a table that `create` built in `buffer` (possibly in another thread); throws on a foreign buffer. */
  static attach(buffer: ArrayBufferLike): ConnTable {
    if (buffer.byteLength < HEADER_BYTES) throw new Error(`Cannot attach connection table: buffer of "${buffer.byteLength}" bytes is too small`);
    const hdr = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
    if (hdr[U_MAGIC] !== MAGIC || hdr[U_VERSION] !== VERSION) {
      throw new Error(`Cannot attach connection table: bad magic or version "${hdr[U_MAGIC]}/${hdr[U_VERSION]}"`);
    }
    const g = geometry(hdr[U_CAPACITY]!, hdr[U_INDEX_SLOTS]!, hdr[U_WHEEL_SLOTS]!);
    if (g.byteLength !== buffer.byteLength) {
      throw new Error(`Cannot attach connection table: buffer has "${buffer.byteLength}" bytes, layout needs ${g.byteLength}`);
    }
    return new ConnTable(buffer, g);
  }

  /** Number of live entries. */
  get count(): number {
    return this.hdr[U_COUNT]!;
  }

  /** Replaces some timeouts; applies to entries at their next packet or state change. Throws RangeError on invalid values. */
  setTimeouts(timeouts: Partial<Timeouts>): void {
    for (let i = 0; i < TIMEOUT_KEYS.length; i++) {
      const key = TIMEOUT_KEYS[i]!;
      const value = timeouts[key];
      if (value === undefined) continue;
      this.hdr[U_TIMEOUTS + i] = checkInt(`timeout ${key}`, value, 1, MAX_TIMEOUT_MS);
    }
  }

  /** The timeouts currently in force. */
  timeouts(): Timeouts {
    const t = { ...DEFAULT_TIMEOUTS };
    for (let i = 0; i < TIMEOUT_KEYS.length; i++) t[TIMEOUT_KEYS[i]!] = this.hdr[U_TIMEOUTS + i]!;
    return t;
  }

  /** Idle timeout in ms for an entry of `proto` in TCP `state` (state ignored for UDP/ICMP). */
  timeoutMs(proto: number, state: number): number {
    const hdr = this.hdr;
    if (proto === TCP) return hdr[U_TIMEOUTS + (state < N_STATES ? state : 0)]!;
    return hdr[U_TIMEOUTS + (proto === ICMP ? T_ICMP : T_UDP)]!;
  }

  // ---- lookups ------------------------------------------------------------------------------

  /** Entry id for a client → VIP packet (ICMP echo: srcPort = identifier, dstPort = 0), or -1. */
  lookupOutside(proto: number, clientAddr: number, clientPort: number, vipAddr: number, vipPort: number): number {
    clientAddr >>>= 0;
    vipAddr >>>= 0;
    const h = halfSipHash4(this.k0, this.k1, clientAddr, vipAddr, ((clientPort << 16) | vipPort) >>> 0, proto);
    return this.probe(this.outIdx, h, false, proto, clientAddr, clientPort, vipAddr, vipPort);
  }

  /**
   * Entry id for a server → dispatcher reply, or -1. `dstAddr:dstPort` is the client (nat) or the
   * local address and port (fullnat). ICMP echo reply: srcPort = 0, dstPort = identifier.
   */
  lookupInside(proto: number, serverAddr: number, serverPort: number, dstAddr: number, dstPort: number): number {
    serverAddr >>>= 0;
    dstAddr >>>= 0;
    const h = halfSipHash4(this.k0, this.k1, serverAddr, dstAddr, ((serverPort << 16) | dstPort) >>> 0, proto | INSIDE_TAG);
    return this.probe(this.inIdx, h, true, proto, serverAddr, serverPort, dstAddr, dstPort);
  }

  private probe(idx: Uint32Array, h: number, inside: boolean, proto: number, a: number, pa: number, b: number, pb: number): number {
    const mask = this.mask;
    let i = h & mask;
    for (let dist = 0; ; dist++) {
      const id1 = idx[2 * i + 1]!;
      if (id1 === 0) return -1;
      const sh = idx[2 * i]!;
      // Robin hood invariant: once residents sit closer to home than we have walked, the key is absent.
      if (((i - (sh & mask)) & mask) < dist) return -1;
      if (sh === h && this.matches(id1 - 1, inside, proto, a, pa, b, pb)) return id1 - 1;
      i = (i + 1) & mask;
    }
  }

  private matches(id: number, inside: boolean, proto: number, a: number, pa: number, b: number, pb: number): boolean {
    const u32 = this.u32, u16 = this.u16, w = id * S32, hw = id * S16;
    if (this.u8[id * S8] !== proto) return false;
    if (!inside) {
      return u32[w + W_CLIENT_ADDR] === a && u32[w + W_VIP_ADDR] === b && u16[hw + H_CLIENT_PORT] === pa && u16[hw + H_VIP_PORT] === pb;
    }
    if (u32[w + W_SERVER_ADDR] !== a || u16[hw + H_SERVER_PORT] !== pa) return false;
    return this.u8[id * S8 + B_FLAGS]! & ConnFlag.FULLNAT
      ? u32[w + W_LOCAL_ADDR] === b && u16[hw + H_LOCAL_PORT] === pb
      : u32[w + W_CLIENT_ADDR] === b && u16[hw + H_CLIENT_PORT] === pb;
  }

  // ---- insert / remove ----------------------------------------------------------------------

  /**
   * Tracks a new connection described by `spec` at `nowMs`; returns its id (≥ 0) or an
   * `InsertError`. TCP entries start in NONE: feed the first packet to `update`. When the table
   * is full an embryonic or closed entry is evicted (`ConnEvent.EVICTED`) if one is found within
   * `evictProbe` records; otherwise the connection is refused and counted. Throws RangeError if
   * `spec.proto` is not 1..255.
   */
  insert(spec: ConnSpec, nowMs: number): number {
    const proto = spec.proto;
    if (!(proto >= 1 && proto <= 255)) throw new RangeError(`Invalid protocol "${proto}": expected 1 to 255`);
    const fullnat = (spec.flags & ConnFlag.FULLNAT) !== 0;
    const clientAddr = spec.clientAddr >>> 0, vipAddr = spec.vipAddr >>> 0, serverAddr = spec.serverAddr >>> 0;
    const clientPort = spec.clientPort & 0xffff, vipPort = spec.vipPort & 0xffff, serverPort = spec.serverPort & 0xffff;
    const localAddr = fullnat ? spec.localAddr >>> 0 : 0, localPort = fullnat ? spec.localPort & 0xffff : 0;
    const dstAddr = fullnat ? localAddr : clientAddr, dstPort = fullnat ? localPort : clientPort;
    const k0 = this.k0, k1 = this.k1;
    const hOut = halfSipHash4(k0, k1, clientAddr, vipAddr, ((clientPort << 16) | vipPort) >>> 0, proto);
    if (this.probe(this.outIdx, hOut, false, proto, clientAddr, clientPort, vipAddr, vipPort) >= 0) {
      this.hdrF[F_DUPLICATES]!++;
      return InsertError.EXISTS;
    }
    const hIn = halfSipHash4(k0, k1, serverAddr, dstAddr, ((serverPort << 16) | dstPort) >>> 0, proto | INSIDE_TAG);
    if (this.probe(this.inIdx, hIn, true, proto, serverAddr, serverPort, dstAddr, dstPort) >= 0) {
      this.hdrF[F_CONFLICTS]!++;
      return InsertError.INSIDE_CONFLICT;
    }
    let id = this.allocId();
    if (id === NIL) {
      if (!this.evictOne()) {
        this.hdrF[F_REFUSED]!++;
        return InsertError.FULL;
      }
      id = this.allocId();
    }
    const b8 = id * S8, w = id * S32, hw = id * S16, d = id * S64;
    const u8 = this.u8, u16 = this.u16, u32 = this.u32, f64 = this.f64;
    u8[b8 + B_PROTO] = proto;
    u8[b8 + B_STATE] = NO;
    u8[b8 + B_FLAGS] = spec.flags & ~ConnFlag.REPLIED;
    u32[w + W_CLIENT_ADDR] = clientAddr;
    u32[w + W_VIP_ADDR] = vipAddr;
    u32[w + W_SERVER_ADDR] = serverAddr;
    u32[w + W_LOCAL_ADDR] = localAddr;
    u16[hw + H_CLIENT_PORT] = clientPort;
    u16[hw + H_VIP_PORT] = vipPort;
    u16[hw + H_SERVER_PORT] = serverPort;
    u16[hw + H_LOCAL_PORT] = localPort;
    u16[hw + H_SERVICE] = spec.serviceId;
    u16[hw + H_SERVER_INDEX] = spec.serverIndex;
    const expiresMs = nowMs + this.timeoutMs(proto, NO);
    f64[d + D_CREATED] = nowMs;
    f64[d + D_LAST_SEEN] = nowMs;
    f64[d + D_EXPIRES] = expiresMs;
    this.indexInsert(this.outIdx, hOut, id);
    this.indexInsert(this.inIdx, hIn, id);
    if (Number.isNaN(this.hdrF[F_CURSOR]!)) this.hdrF[F_CURSOR] = Math.floor(nowMs / this.tickMs);
    this.file(id, expiresMs);
    this.hdr[U_COUNT]!++;
    this.hdrF[F_CREATED]!++;
    if (this.onEvent !== null) this.onEvent(id, ConnEvent.CREATED);
    return id;
  }

  /** Removes live entry `id` (reported as `ConnEvent.REMOVED`); returns false if `id` is not live. */
  remove(id: number): boolean {
    if (!this.isLive(id)) return false;
    this.hdrF[F_REMOVED]!++;
    this.release(id, ConnEvent.REMOVED);
    return true;
  }

  private allocId(): number {
    const hdr = this.hdr;
    const head = hdr[U_FREE_HEAD]!;
    if (head !== NIL) {
      hdr[U_FREE_HEAD] = this.links[2 * head]!;
      return head;
    }
    const fresh = hdr[U_NEXT_FRESH]!;
    if (fresh < this.capacity) {
      hdr[U_NEXT_FRESH] = fresh + 1;
      return fresh;
    }
    return NIL;
  }

  private release(id: number, event: ConnEvent): void {
    this.indexDelete(this.outIdx, this.outsideHash(id), id);
    this.indexDelete(this.inIdx, this.insideHash(id), id);
    this.unlink(id);
    this.hdr[U_COUNT]!--;
    try {
      if (this.onEvent !== null) this.onEvent(id, event);
    } finally {
      this.u32.fill(0, id * S32, (id + 1) * S32);
      this.links[2 * id] = this.hdr[U_FREE_HEAD]!;
      this.links[2 * id + 1] = NIL;
      this.hdr[U_FREE_HEAD] = id;
    }
  }

  /** True for an entry that has not completed a handshake (TCP NONE/SYN_RECV/SYN_ACK, UDP/ICMP without reply). */
  isEmbryonic(id: number): boolean {
    const b8 = id * S8, proto = this.u8[b8]!;
    if (proto === 0) return false;
    if (proto === TCP) return this.u8[b8 + B_STATE]! <= SA;
    return (this.u8[b8 + B_FLAGS]! & ConnFlag.REPLIED) === 0;
  }

  private isEvictable(id: number): boolean {
    if (this.isEmbryonic(id)) return true;
    // A TCP flow in TIME_WAIT or CLOSE is over; dropping it costs less than refusing a live one.
    const b8 = id * S8;
    return this.u8[b8] === TCP && this.u8[b8 + B_STATE]! >= TW;
  }

  private evictOne(): boolean {
    const hdr = this.hdr, cap = this.capacity, probes = hdr[U_EVICT_PROBE]!;
    let hand = hdr[U_EVICT_HAND]!;
    // A clock hand over the records: successive full-table inserts resume where the last stopped,
    // so every record is examined before any is examined twice.
    for (let n = 0; n < probes; n++) {
      const id = hand;
      hand = hand + 1 === cap ? 0 : hand + 1;
      if (this.isEvictable(id)) {
        hdr[U_EVICT_HAND] = hand;
        this.hdrF[F_EVICTED]!++;
        this.release(id, ConnEvent.EVICTED);
        return true;
      }
    }
    hdr[U_EVICT_HAND] = hand;
    return false;
  }

  // ---- per-packet update ---------------------------------------------------------------------

  /**
   * Accounts one packet of `byteCount` bytes in direction `dir` at `nowMs`: counters, last-seen,
   * TCP state (from `tcpFlags`; ignored for UDP/ICMP), and expiry from the new state's timeout.
   * Returns the (new) TCP state, or -1 if `id` is not live.
   */
  update(id: number, dir: number, tcpFlags: number, byteCount: number, nowMs: number): number {
    const u8 = this.u8, f64 = this.f64, b8 = id * S8, d = id * S64;
    const proto = u8[b8 + B_PROTO]!;
    if (!(proto > 0)) return -1;
    if (dir === 0) {
      this.u32[id * S32 + W_PKTS_IN]!++;
      f64[d + D_BYTES_IN] = f64[d + D_BYTES_IN]! + byteCount;
    } else {
      this.u32[id * S32 + W_PKTS_OUT]!++;
      f64[d + D_BYTES_OUT] = f64[d + D_BYTES_OUT]! + byteCount;
      u8[b8 + B_FLAGS] = u8[b8 + B_FLAGS]! | ConnFlag.REPLIED;
    }
    const old = u8[b8 + B_STATE]!;
    const state = proto === TCP ? tcpNextState(old, dir, tcpFlags) : old;
    const expiresMs = nowMs + this.timeoutMs(proto, state);
    const oldExpiresMs = f64[d + D_EXPIRES]!;
    f64[d + D_LAST_SEEN] = nowMs;
    f64[d + D_EXPIRES] = expiresMs;
    if (state !== old) {
      u8[b8 + B_STATE] = state;
      this.refile(id, expiresMs);
      if (this.onEvent !== null) this.onEvent(id, ConnEvent.STATE_CHANGED);
    } else if (expiresMs < oldExpiresMs) {
      // The bucket must never be later than the expiry; later expiries are re-filed lazily.
      this.refile(id, expiresMs);
    }
    return state;
  }

  /** Forces TCP `state` on entry `id` (state sync, admin) with a fresh timeout from `nowMs`; false if not live or invalid. */
  setState(id: number, state: number, nowMs: number): boolean {
    if (!this.isLive(id) || !(state >= 0 && state < N_STATES)) return false;
    const b8 = id * S8, d = id * S64;
    const old = this.u8[b8 + B_STATE]!;
    this.u8[b8 + B_STATE] = state;
    const expiresMs = nowMs + this.timeoutMs(this.u8[b8]!, state);
    this.f64[d + D_EXPIRES] = expiresMs;
    this.refile(id, expiresMs);
    if (state !== old && this.onEvent !== null) this.onEvent(id, ConnEvent.STATE_CHANGED);
    return true;
  }

  /** Sets or clears flag bits (e.g. `ConnFlag.SYNCED`) on a live entry; FULLNAT cannot change. */
  setFlag(id: number, flag: number, on: boolean): void {
    if (!this.isLive(id)) return;
    const b = id * S8 + B_FLAGS, bits = flag & ~ConnFlag.FULLNAT;
    this.u8[b] = on ? this.u8[b]! | bits : this.u8[b]! & ~bits;
  }

  // ---- state sync -------------------------------------------------------------------------------

  /**
   * Applies state received by state sync to live entry `id`: TCP `state` (NONE for UDP/ICMP), the
   * REPLIED bit of `flags`, an explicit `expiresMs` and `createdMs`; sets `ConnFlag.SYNCED` and the
   * sync mark (at `nowMs`, so a taken-over entry refreshes its peer on schedule). Reports
   * `ConnEvent.STATE_CHANGED` if the state changed. False if `id` is not live or `state` invalid.
   */
  setSynced(id: number, state: number, flags: number, expiresMs: number, createdMs: number, nowMs: number): boolean {
    if (!this.isLive(id) || !(state >= 0 && state < N_STATES) || !Number.isFinite(expiresMs)) return false;
    const b8 = id * S8, d = id * S64, u8 = this.u8;
    const old = u8[b8 + B_STATE]!;
    u8[b8 + B_STATE] = state;
    u8[b8 + B_FLAGS] = u8[b8 + B_FLAGS]! | ConnFlag.SYNCED | (flags & ConnFlag.REPLIED);
    u8[b8 + B_SYNC_MARK] = Math.floor(nowMs / SYNC_UNIT_MS);
    if (Number.isFinite(createdMs)) this.f64[d + D_CREATED] = createdMs;
    this.f64[d + D_EXPIRES] = expiresMs;
    this.refile(id, expiresMs);
    if (state !== old && this.onEvent !== null) this.onEvent(id, ConnEvent.STATE_CHANGED);
    return true;
  }

  /**
   * How long an entry of `proto` in TCP `state` may go without being re-sent to the standby while
   * packets keep it alive: a quarter of its timeout, in whole 1024 ms units from 1 to 120 (so from
   * about 1 s to about 2 minutes). A sender adds this (plus one unit) to the lifetime it sends.
   */
  syncRefreshMs(proto: number, state: number): number {
    return syncRefreshUnits(this.timeoutMs(proto, state)) * SYNC_UNIT_MS;
  }

  /** Records that live entry `id` was handed to state sync at `nowMs` (its sync mark). */
  markSynced(id: number, nowMs: number): void {
    this.u8[id * S8 + B_SYNC_MARK] = Math.floor(nowMs / SYNC_UNIT_MS);
  }

  /**
   * For a packet in direction `dir` about to `update` live entry `id` at `nowMs`: true, with the
   * sync mark moved to now, when the entry's last sync is at least `syncRefreshMs` old or this is
   * its first reply (which makes it non-embryonic without a state change); the caller then
   * re-sends it. Call it before `update` (it reads the previous packet). Only for sync capture.
   */
  syncRefreshDue(id: number, dir: number, nowMs: number): boolean {
    const b8 = id * S8, u8 = this.u8, proto = u8[b8]!;
    // A quarter of the timeout in units: timeouts are u32 ms below 2^31, 4 × 1024 = 2^12.
    let units = this.hdr[U_TIMEOUTS + (proto === TCP ? u8[b8 + B_STATE]! : proto === ICMP ? T_ICMP : T_UDP)]! >>> 12;
    units = units < 1 ? 1 : units > SYNC_MAX_UNITS ? SYNC_MAX_UNITS : units;
    const nowUnit = Math.floor(nowMs * (1 / SYNC_UNIT_MS));
    // The mark wraps every 256 units. Whenever sync was on at the previous packet, that packet
    // saw an elapsed time below `units`; if the gap since then is below `units` too, the true
    // elapsed time is below 2 × 120 < 256 units, so the wrapped difference is exact. A longer
    // gap is caught by the second test alone.
    if (((nowUnit - u8[b8 + B_SYNC_MARK]!) & 0xff) < units && nowMs - this.f64[id * S64 + D_LAST_SEEN]! < units * SYNC_UNIT_MS
      && (dir === 0 || (u8[b8 + B_FLAGS]! & ConnFlag.REPLIED) !== 0)) return false;
    u8[b8 + B_SYNC_MARK] = nowUnit;
    return true;
  }

  // ---- expiry ---------------------------------------------------------------------------------

  /**
   * Removes entries whose expiry is ≤ `nowMs`, examining at most `budget` entries (plus at most
   * `wheelSlots` empty buckets); each removal is reported as `ConnEvent.EXPIRED`. Returns the
   * number removed. Call it every tick; leftover work continues at the next call.
   */
  expire(nowMs: number, budget: number): number {
    const hdrF = this.hdrF, tickMs = this.tickMs, W = this.wheelSlots, cap = this.capacity;
    const links = this.links, f64 = this.f64;
    const nowTick = Math.floor(nowMs / tickMs);
    let cursor = hdrF[F_CURSOR]!;
    if (Number.isNaN(cursor)) {
      hdrF[F_CURSOR] = nowTick;
      return 0;
    }
    // After a long pause one revolution visits every bucket: no need to walk the empty laps.
    if (nowTick - cursor > W) cursor = nowTick - W;
    let removed = 0, work = 0;
    // Only whole ticks in the past are drained, so an entry is visited when it is surely due or
    // its expiry moved on (then it is re-filed further ahead, never into the bucket being drained).
    while (cursor < nowTick) {
      hdrF[F_CURSOR] = cursor;
      const sentinel = cap + (cursor % W);
      let id = links[2 * sentinel]!;
      while (id !== sentinel) {
        if (work >= budget) {
          hdrF[F_CURSOR] = cursor;
          return removed;
        }
        work++;
        const next = links[2 * id]!;
        const expiresMs = f64[id * S64 + D_EXPIRES]!;
        if (expiresMs <= nowMs) {
          hdrF[F_EXPIRED]!++;
          this.release(id, ConnEvent.EXPIRED);
          removed++;
        } else {
          // Re-file strictly ahead of the bucket being drained (and within one revolution of it).
          this.unlink(id);
          this.link(id, this.tickFor(expiresMs, cursor + 1, cursor + W - 1));
        }
        id = next;
      }
      cursor++;
    }
    hdrF[F_CURSOR] = cursor;
    return removed;
  }

  private tickFor(expiresMs: number, lowTick: number, highTick: number): number {
    const tick = Math.floor(expiresMs / this.tickMs);
    // Beyond the wheel's span the entry parks in the last bucket and is re-filed when it comes due.
    return tick < lowTick ? lowTick : tick > highTick ? highTick : tick;
  }

  /** Links `id` into the bucket of its expiry, clamped to the wheel's current revolution. */
  private file(id: number, expiresMs: number): void {
    const cursor = this.hdrF[F_CURSOR]!;
    this.link(id, this.tickFor(expiresMs, cursor, cursor + this.wheelSlots - 1));
  }

  private link(id: number, tick: number): void {
    const W = this.wheelSlots, links = this.links, s = this.capacity + (((tick % W) + W) % W);
    const last = links[2 * s + 1]!;
    links[2 * id] = s;
    links[2 * id + 1] = last;
    links[2 * last] = id;
    links[2 * s + 1] = id;
  }

  private unlink(id: number): void {
    const links = this.links, next = links[2 * id]!, prev = links[2 * id + 1]!;
    links[2 * prev] = next;
    links[2 * next + 1] = prev;
  }

  private refile(id: number, expiresMs: number): void {
    this.unlink(id);
    this.file(id, expiresMs);
  }

  // ---- index internals --------------------------------------------------------------------------

  private outsideHash(id: number): number {
    const w = id * S32, hw = id * S16;
    return halfSipHash4(this.k0, this.k1, this.u32[w + W_CLIENT_ADDR]!, this.u32[w + W_VIP_ADDR]!,
      ((this.u16[hw + H_CLIENT_PORT]! << 16) | this.u16[hw + H_VIP_PORT]!) >>> 0, this.u8[id * S8]!);
  }

  private insideHash(id: number): number {
    const w = id * S32, hw = id * S16, fullnat = this.u8[id * S8 + B_FLAGS]! & ConnFlag.FULLNAT;
    const dstAddr = fullnat ? this.u32[w + W_LOCAL_ADDR]! : this.u32[w + W_CLIENT_ADDR]!;
    const dstPort = fullnat ? this.u16[hw + H_LOCAL_PORT]! : this.u16[hw + H_CLIENT_PORT]!;
    return halfSipHash4(this.k0, this.k1, this.u32[w + W_SERVER_ADDR]!, dstAddr,
      ((this.u16[hw + H_SERVER_PORT]! << 16) | dstPort) >>> 0, this.u8[id * S8]! | INSIDE_TAG);
  }

  private indexInsert(idx: Uint32Array, h: number, id: number): void {
    const mask = this.mask;
    let i = h & mask, dist = 0, curH = h, curId1 = id + 1;
    for (;;) {
      const resId1 = idx[2 * i + 1]!;
      if (resId1 === 0) {
        idx[2 * i] = curH;
        idx[2 * i + 1] = curId1;
        return;
      }
      const resH = idx[2 * i]!;
      const resDist = (i - (resH & mask)) & mask;
      // Robin hood: the entry farther from home keeps the slot, which bounds probe-length variance.
      if (resDist < dist) {
        idx[2 * i] = curH;
        idx[2 * i + 1] = curId1;
        curH = resH;
        curId1 = resId1;
        dist = resDist;
      }
      i = (i + 1) & mask;
      dist++;
    }
  }

  private indexDelete(idx: Uint32Array, h: number, id: number): void {
    const mask = this.mask, id1 = id + 1;
    let i = h & mask;
    for (let n = 0; idx[2 * i + 1] !== id1; n++) {
      if (n > mask) throw new Error(`Connection table corrupt: entry "${id}" missing from its index`);
      i = (i + 1) & mask;
    }
    // Backward-shift deletion: pull followers one slot closer to home until an empty slot or an
    // entry already at home, so no tombstones accumulate.
    for (;;) {
      const j = (i + 1) & mask;
      const nextId1 = idx[2 * j + 1]!;
      if (nextId1 === 0 || ((j - (idx[2 * j]! & mask)) & mask) === 0) {
        idx[2 * i] = 0;
        idx[2 * i + 1] = 0;
        return;
      }
      idx[2 * i] = idx[2 * j]!;
      idx[2 * i + 1] = nextId1;
      i = j;
    }
  }

  // ---- field access -----------------------------------------------------------------------------

  /** True if `id` names a live entry. */
  isLive(id: number): boolean {
    return Number.isInteger(id) && id >= 0 && id < this.capacity && this.u8[id * S8] !== 0;
  }

  /** The first live entry id ≥ `fromId`, or -1: `for (let id = t.nextLive(0); id >= 0; id = t.nextLive(id + 1))`. */
  nextLive(fromId: number): number {
    const end = this.hdr[U_NEXT_FRESH]!, u8 = this.u8;
    for (let id = fromId < 0 ? 0 : fromId; id < end; id++) if (u8[id * S8] !== 0) return id;
    return -1;
  }

  /** Copies the connection description of entry `id` into `out` (flags included); false if `id` is not live. */
  read(id: number, out: ConnSpec): boolean {
    if (!this.isLive(id)) return false;
    const w = id * S32, hw = id * S16, u32 = this.u32, u16 = this.u16;
    out.proto = this.u8[id * S8]!;
    out.flags = this.u8[id * S8 + B_FLAGS]!;
    out.clientAddr = u32[w + W_CLIENT_ADDR]!;
    out.vipAddr = u32[w + W_VIP_ADDR]!;
    out.serverAddr = u32[w + W_SERVER_ADDR]!;
    out.localAddr = u32[w + W_LOCAL_ADDR]!;
    out.clientPort = u16[hw + H_CLIENT_PORT]!;
    out.vipPort = u16[hw + H_VIP_PORT]!;
    out.serverPort = u16[hw + H_SERVER_PORT]!;
    out.localPort = u16[hw + H_LOCAL_PORT]!;
    out.serviceId = u16[hw + H_SERVICE]!;
    out.serverIndex = u16[hw + H_SERVER_INDEX]!;
    return true;
  }

  /** IP protocol of entry `id` (0 if free). */
  proto(id: number): number { return this.u8[id * S8]!; }
  /** TCP state of entry `id`. */
  state(id: number): number { return this.u8[id * S8 + B_STATE]!; }
  /** `ConnFlag` bits of entry `id`. */
  flags(id: number): number { return this.u8[id * S8 + B_FLAGS]!; }
  /** Client address (u32). */
  clientAddr(id: number): number { return this.u32[id * S32 + W_CLIENT_ADDR]!; }
  /** Client port (ICMP: echo identifier). */
  clientPort(id: number): number { return this.u16[id * S16 + H_CLIENT_PORT]!; }
  /** Virtual address (u32). */
  vipAddr(id: number): number { return this.u32[id * S32 + W_VIP_ADDR]!; }
  /** Virtual port. */
  vipPort(id: number): number { return this.u16[id * S16 + H_VIP_PORT]!; }
  /** Real server address (u32). */
  serverAddr(id: number): number { return this.u32[id * S32 + W_SERVER_ADDR]!; }
  /** Real server port. */
  serverPort(id: number): number { return this.u16[id * S16 + H_SERVER_PORT]!; }
  /** fullnat local address (u32), 0 in nat. */
  localAddr(id: number): number { return this.u32[id * S32 + W_LOCAL_ADDR]!; }
  /** fullnat local port (ICMP: substituted identifier), 0 in nat. */
  localPort(id: number): number { return this.u16[id * S16 + H_LOCAL_PORT]!; }
  /** Service id given at insert. */
  serviceId(id: number): number { return this.u16[id * S16 + H_SERVICE]!; }
  /** Server index within the service given at insert. */
  serverIndex(id: number): number { return this.u16[id * S16 + H_SERVER_INDEX]!; }
  /** Monotonic ms at insert. */
  createdMs(id: number): number { return this.f64[id * S64 + D_CREATED]!; }
  /** Monotonic ms of the last packet. */
  lastSeenMs(id: number): number { return this.f64[id * S64 + D_LAST_SEEN]!; }
  /** Monotonic ms at which the entry expires unless another packet arrives. */
  expiresMs(id: number): number { return this.f64[id * S64 + D_EXPIRES]!; }
  /** Client → server packets (wrapping u32). */
  packetsIn(id: number): number { return this.u32[id * S32 + W_PKTS_IN]!; }
  /** Server → client packets (wrapping u32). */
  packetsOut(id: number): number { return this.u32[id * S32 + W_PKTS_OUT]!; }
  /** Client → server bytes. */
  bytesIn(id: number): number { return this.f64[id * S64 + D_BYTES_IN]!; }
  /** Server → client bytes. */
  bytesOut(id: number): number { return this.f64[id * S64 + D_BYTES_OUT]!; }

  // ---- diagnostics --------------------------------------------------------------------------------

  /** A snapshot of the counters (allocates; not for the packet path). */
  stats(): ConnTableStats {
    const f = this.hdrF;
    return {
      capacity: this.capacity,
      count: this.count,
      created: f[F_CREATED]!,
      expired: f[F_EXPIRED]!,
      evicted: f[F_EVICTED]!,
      refused: f[F_REFUSED]!,
      removed: f[F_REMOVED]!,
      insideConflicts: f[F_CONFLICTS]!,
      duplicates: f[F_DUPLICATES]!,
    };
  }

  /** Probe distances of the outside or inside index (O(index size); for tests and diagnostics). */
  probeStats(which: "outside" | "inside"): ProbeStats {
    const idx = which === "outside" ? this.outIdx : this.inIdx, mask = this.mask;
    let used = 0, total = 0, max = 0;
    for (let i = 0; i <= mask; i++) {
      if (idx[2 * i + 1] === 0) continue;
      const dist = (i - (idx[2 * i]! & mask)) & mask;
      used++;
      total += dist;
      if (dist > max) max = dist;
    }
    return { used, slots: mask + 1, meanDistance: used === 0 ? 0 : total / used, maxDistance: max };
  }

  /** Checks every invariant (indexes, wheel, free list, count) in O(size); returns "" or the first problem found. */
  audit(): string {
    let live = 0;
    for (let id = this.nextLive(0); id >= 0; id = this.nextLive(id + 1)) {
      live++;
      const w = id * S32, hw = id * S16, fullnat = this.flags(id) & ConnFlag.FULLNAT;
      if (this.lookupOutside(this.proto(id), this.u32[w + W_CLIENT_ADDR]!, this.u16[hw + H_CLIENT_PORT]!, this.u32[w + W_VIP_ADDR]!, this.u16[hw + H_VIP_PORT]!) !== id) {
        return `entry "${id}" not found by its outside key`;
      }
      const dstAddr = fullnat ? this.localAddr(id) : this.clientAddr(id), dstPort = fullnat ? this.localPort(id) : this.clientPort(id);
      if (this.lookupInside(this.proto(id), this.serverAddr(id), this.serverPort(id), dstAddr, dstPort) !== id) {
        return `entry "${id}" not found by its inside key`;
      }
    }
    if (live !== this.count) return `count is "${this.count}" but ${live} entries are live`;
    for (const which of ["outside", "inside"] as const) {
      const used = this.probeStats(which).used;
      if (used !== live) return `${which} index holds "${used}" slots for ${live} entries`;
    }
    return this.auditWheel(live);
  }

  private auditWheel(live: number): string {
    const links = this.links, cap = this.capacity, cursor = this.hdrF[F_CURSOR]!;
    let filed = 0;
    for (let b = 0; b < this.wheelSlots; b++) {
      const s = cap + b;
      for (let id = links[2 * s]!, prev = s; id !== s; prev = id, id = links[2 * id]!) {
        if (id >= cap || this.u8[id * S8] === 0) return `wheel bucket "${b}" links a free record "${id}"`;
        if (links[2 * id + 1] !== prev) return `wheel bucket "${b}" has a broken back link at "${id}"`;
        // The bucket's tick (the one in [cursor, cursor + W) with this residue) must not be later than the expiry.
        const tick = cursor + ((b - (cursor % this.wheelSlots) + this.wheelSlots) % this.wheelSlots);
        if (tick > Math.floor(this.expiresMs(id) / this.tickMs)) return `entry "${id}" is filed after its expiry`;
        if (++filed > live) return "wheel lists more entries than are live";
      }
    }
    return filed === live ? "" : `wheel lists "${filed}" entries for ${live} live`;
  }
}
