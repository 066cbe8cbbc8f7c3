/**
 * Connection-state sync: the body of one sync datagram (a batch of connection-table changes), how
 * a table entry becomes a wire entry, and how a received entry is matched to the local services.
 * The transport (authentication, framing, retries) wraps this body; see `SYNC_MAX_ENTRIES`.
 *
 * Body (network byte order), a 16-byte header then `count` fixed 40-byte entries:
 *
 *   header   0 u8  version (1)          4 u32 generation (the sender's table instance)
 *            1 u8  flags (SyncBatchFlag) 8 u32 seq, high 21 bits
 *            2 u16 count                12 u32 seq, low 32 bits
 *
 *   entry    0 u8  op (SyncOp)          4 u32 clientAddr    20 u16 clientPort   28 u16 serviceId
 *            1 u8  proto                8 u32 vipAddr       22 u16 vipPort      30 u16 serverIndex
 *            2 u8  TCP state           12 u32 serverAddr    24 u16 serverPort   32 u32 remainingMs
 *            3 u8  flags (ConnFlag)    16 u32 localAddr     26 u16 localPort    36 u32 ageMs
 *
 * A remove carries only the outside key (op, proto, client, vip); its other fields are zero.
 * Times are relative (remaining lifetime, age) because the two nodes' clocks differ. `seq` counts
 * batches of one sender (incremental and full-resync batches alike), so a receiver can see loss;
 * `generation` changes when the sender's table is recreated (a restart), so a receiver can tell a
 * restarted peer from a lost batch. The receiver identifies a service by protocol, VIP and port,
 * never by the sender's service id alone (see `SyncServiceIndex`).
 */
import { ConnFlag, ConnSpec, Proto, TcpState, type ConnTable } from "../nat/conn-table.ts";
import type { DispatchSpec } from "../nat/dispatcher-spec.ts";

/** Version byte of the body format above. */
export const SYNC_VERSION = 1;
/** Bytes of the batch header. */
export const SYNC_HEADER_BYTES = 16;
/** Bytes of one entry. */
export const SYNC_ENTRY_BYTES = 40;
/** Frame overhead the transport adds around a body: frame header 16, sync envelope 12, HMAC tag 32 (see `sync-frame.ts`). */
export const SYNC_FRAME_OVERHEAD_BYTES = 60;
/** Largest datagram the transport sends (stays under a 1500-byte MTU with IP/UDP and tunnels). */
export const SYNC_MAX_DATAGRAM_BYTES = 1400;
/** Entries per batch: 16 + 33 × 40 = 1336 bytes of body, plus 60 of frame = 1396 ≤ 1400. */
export const SYNC_MAX_ENTRIES = Math.floor((SYNC_MAX_DATAGRAM_BYTES - SYNC_FRAME_OVERHEAD_BYTES - SYNC_HEADER_BYTES) / SYNC_ENTRY_BYTES);
/** Largest body: header plus `SYNC_MAX_ENTRIES` entries. */
export const SYNC_MAX_BODY_BYTES = SYNC_HEADER_BYTES + SYNC_MAX_ENTRIES * SYNC_ENTRY_BYTES;

/** What an entry asks the receiver to do. */
export const SyncOp = {
  /** Insert the connection if its outside key is absent, else update its state and lifetime. */
  Upsert: 1,
  /** Remove the connection with this outside key (closed, expired or evicted on the sender). */
  Remove: 2,
} as const;
/** One of `SyncOp`. */
export type SyncOp = (typeof SyncOp)[keyof typeof SyncOp];

/** Header flag bits. */
export const SyncBatchFlag = {
  /** The entries come from a full walk of the sender's table (a resync), not from changes. */
  Full: 0x01,
  /** The last batch of a full walk: the receiver now holds everything the sender had at its start. */
  FullEnd: 0x02,
  /** The first batch of a full walk: a receiver counts the walk complete only from here to FullEnd without a gap. */
  FullStart: 0x04,
} as const;

const KNOWN_BATCH_FLAGS = SyncBatchFlag.Full | SyncBatchFlag.FullEnd | SyncBatchFlag.FullStart;

/** Results of `decodeSyncBatch`; 0 is success. */
export const SyncDecodeResult = {
  Ok: 0,
  /** Fewer bytes than the header, or than `count` entries need. */
  Truncated: 1,
  /** A version this code does not speak. */
  BadVersion: 2,
  /** More entries than `SYNC_MAX_ENTRIES`, or bytes beyond the last entry. */
  BadLength: 3,
  /** Unknown header flags, or a sequence number beyond 2^53 - 1. */
  BadHeader: 4,
  /** An entry with an unknown op, protocol 0, an unknown TCP state or unknown flag bits. */
  BadEntry: 5,
} as const;
/** One of `SyncDecodeResult`. */
export type SyncDecodeResult = (typeof SyncDecodeResult)[keyof typeof SyncDecodeResult];

/** Metric names of `SyncDecodeResult` codes, indexed by code. */
export const syncDecodeResultNames: readonly string[] = ["ok", "truncated", "bad_version", "bad_length", "bad_header", "bad_entry"];

/** Outcome of applying one entry on the receiver; 0 is success, the rest are counted by name. */
export const SyncResult = {
  Applied: 0,
  /** A remove for a connection the receiver does not have (already expired there): nothing to do. */
  Absent: 1,
  /** No local service has the entry's protocol, VIP and port. */
  UnknownService: 2,
  /** The service has no server with the entry's address and port. */
  UnknownServer: 3,
  /** The entry's forwarding (nat/fullnat) or local address disagrees with the local service. */
  Mismatch: 4,
  /** The connection table is full and nothing could be evicted. */
  TableFull: 5,
  /** The entry could not be inserted beside the receiver's own entries. */
  Conflict: 6,
} as const;
/** One of `SyncResult`. */
export type SyncResult = (typeof SyncResult)[keyof typeof SyncResult];

/** Metric names of `SyncResult` codes, indexed by code. */
export const syncResultNames: readonly string[] = ["applied", "absent", "unknown_service", "unknown_server", "mismatch", "table_full", "conflict"];

const N_STATES = 9;
const KNOWN_FLAGS = ConnFlag.FULLNAT | ConnFlag.REPLIED | ConnFlag.SYNCED;
const MAX_U32 = 0xffffffff;
const TWO_32 = 2 ** 32;
/** One sync-mark unit of the table (1024 ms): its refresh test rounds elapsed time down to whole units. */
const REFRESH_SLACK_MS = 1024;

/** One connection as sync carries it: a `ConnSpec` plus the op, TCP state and relative times. */
export class SyncEntry extends ConnSpec {
  op: number = SyncOp.Upsert;
  state = 0;
  /** How long the receiver should keep the entry without news, in ms (0..2^32-1). */
  remainingMs = 0;
  /** Time since the connection was created on the sender, in ms (0..2^32-1). */
  ageMs = 0;
}

/** A decoded batch: header fields and `count` entries in reused objects (allocate one per receiver). */
export class SyncBatch {
  seq = 0;
  generation = 0;
  flags = 0;
  count = 0;
  readonly entries: readonly SyncEntry[] = Array.from({ length: SYNC_MAX_ENTRIES }, () => new SyncEntry());
}

/** Header fields of a batch to encode. */
export interface SyncBatchHeader {
  /** Batch sequence number, an integer 0..2^53-1. */
  readonly seq: number;
  /** The sender's table generation (u32). */
  readonly generation: number;
  /** `SyncBatchFlag` bits. */
  readonly flags: number;
  /** Entries already written with `encodeSyncEntry`, 0..SYNC_MAX_ENTRIES. */
  readonly count: number;
}

function put16(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 8;
  out[at + 1] = v;
}

function put32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24;
  out[at + 1] = v >>> 16;
  out[at + 2] = v >>> 8;
  out[at + 3] = v;
}

function get16(b: Uint8Array, at: number): number {
  return (b[at]! << 8) | b[at + 1]!;
}

function get32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/** Clamps a time span to the u32 the wire carries: negative or NaN → 0, beyond 49.7 days → 2^32-1. */
function clampU32(ms: number): number {
  return ms > 0 ? (ms < MAX_U32 ? Math.floor(ms) : MAX_U32) : 0;
}

/** Byte length of a body holding `count` entries. */
export function syncBodyBytes(count: number): number {
  return SYNC_HEADER_BYTES + count * SYNC_ENTRY_BYTES;
}

/**
 * Writes `entry` as entry number `index` of the body in `out` (times clamped to u32). Throws
 * RangeError when `index` is beyond `SYNC_MAX_ENTRIES` or `out` is too small: a caller's bug.
 */
export function encodeSyncEntry(out: Uint8Array, index: number, entry: SyncEntry): void {
  const at = SYNC_HEADER_BYTES + index * SYNC_ENTRY_BYTES;
  if (!Number.isInteger(index) || index < 0 || index >= SYNC_MAX_ENTRIES || at + SYNC_ENTRY_BYTES > out.length) {
    throw new RangeError(`Cannot encode sync entry "${index}": a ${out.length}-byte buffer holds ${Math.max(0, Math.floor((out.length - SYNC_HEADER_BYTES) / SYNC_ENTRY_BYTES))} entries, at most ${SYNC_MAX_ENTRIES}`);
  }
  const remove = entry.op === SyncOp.Remove;
  out[at] = entry.op;
  out[at + 1] = entry.proto;
  out[at + 2] = remove ? 0 : entry.state;
  out[at + 3] = remove ? 0 : entry.flags & KNOWN_FLAGS;
  put32(out, at + 4, entry.clientAddr);
  put32(out, at + 8, entry.vipAddr);
  put16(out, at + 20, entry.clientPort);
  put16(out, at + 22, entry.vipPort);
  if (remove) {
    out.fill(0, at + 12, at + 20);
    out.fill(0, at + 24, at + SYNC_ENTRY_BYTES);
    return;
  }
  put32(out, at + 12, entry.serverAddr);
  put32(out, at + 16, entry.localAddr);
  put16(out, at + 24, entry.serverPort);
  put16(out, at + 26, entry.localPort);
  put16(out, at + 28, entry.serviceId);
  put16(out, at + 30, entry.serverIndex);
  put32(out, at + 32, clampU32(entry.remainingMs));
  put32(out, at + 36, clampU32(entry.ageMs));
}

/**
 * Writes the header of a body whose `header.count` entries are already in `out`; returns the body
 * length in bytes. Throws RangeError for an invalid count, sequence or flags, or a short `out`.
 */
export function encodeSyncHeader(out: Uint8Array, header: SyncBatchHeader): number {
  const { seq, count, flags } = header;
  if (!Number.isInteger(count) || count < 0 || count > SYNC_MAX_ENTRIES) throw new RangeError(`Invalid sync entry count "${count}": expected 0 to ${SYNC_MAX_ENTRIES}`);
  if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`Invalid sync sequence "${seq}": expected an integer 0 to 2^53-1`);
  if ((flags & ~KNOWN_BATCH_FLAGS) !== 0) throw new RangeError(`Invalid sync batch flags "${flags}"`);
  const bytes = syncBodyBytes(count);
  if (out.length < bytes) throw new RangeError(`Cannot encode sync batch: buffer of "${out.length}" bytes, body needs ${bytes}`);
  out[0] = SYNC_VERSION;
  out[1] = flags;
  put16(out, 2, count);
  put32(out, 4, header.generation >>> 0);
  put32(out, 8, Math.floor(seq / TWO_32));
  put32(out, 12, seq % TWO_32);
  return bytes;
}

/**
 * Decodes the body in `bytes[0, length)` into `out` (entries `out.entries[0, out.count)`). Never
 * throws on any input: a malformed body returns its `SyncDecodeResult`, and then `out.count` is 0.
 */
export function decodeSyncBatch(bytes: Uint8Array, length: number, out: SyncBatch): SyncDecodeResult {
  out.count = 0;
  if (!(length >= 0 && length <= bytes.length) || !Number.isInteger(length) || length < SYNC_HEADER_BYTES) return SyncDecodeResult.Truncated;
  if (bytes[0] !== SYNC_VERSION) return SyncDecodeResult.BadVersion;
  const flags = bytes[1]!;
  const count = get16(bytes, 2);
  const seqHigh = get32(bytes, 8);
  if ((flags & ~KNOWN_BATCH_FLAGS) !== 0 || seqHigh > 0x1fffff) return SyncDecodeResult.BadHeader;
  if (count > SYNC_MAX_ENTRIES) return SyncDecodeResult.BadLength;
  const need = syncBodyBytes(count);
  if (length < need) return SyncDecodeResult.Truncated;
  if (length > need) return SyncDecodeResult.BadLength;
  for (let i = 0; i < count; i++) {
    const at = SYNC_HEADER_BYTES + i * SYNC_ENTRY_BYTES;
    const op = bytes[at]!, proto = bytes[at + 1]!, state = bytes[at + 2]!, entryFlags = bytes[at + 3]!;
    if ((op !== SyncOp.Upsert && op !== SyncOp.Remove) || proto === 0 || state >= N_STATES || (entryFlags & ~KNOWN_FLAGS) !== 0) {
      return SyncDecodeResult.BadEntry;
    }
    const e = out.entries[i]!;
    e.op = op;
    e.proto = proto;
    e.state = state;
    e.flags = entryFlags;
    e.clientAddr = get32(bytes, at + 4);
    e.vipAddr = get32(bytes, at + 8);
    e.serverAddr = get32(bytes, at + 12);
    e.localAddr = get32(bytes, at + 16);
    e.clientPort = get16(bytes, at + 20);
    e.vipPort = get16(bytes, at + 22);
    e.serverPort = get16(bytes, at + 24);
    e.localPort = get16(bytes, at + 26);
    e.serviceId = get16(bytes, at + 28);
    e.serverIndex = get16(bytes, at + 30);
    e.remainingMs = get32(bytes, at + 32);
    e.ageMs = get32(bytes, at + 36);
  }
  out.seq = seqHigh * TWO_32 + get32(bytes, 12);
  out.generation = get32(bytes, 4);
  out.flags = flags;
  out.count = count;
  return SyncDecodeResult.Ok;
}

/**
 * Reads live entry `id` of `table` at `nowMs` into `out` as an upsert. The lifetime sent is what
 * is left on the sender plus its refresh interval and one unit of slack: the sender re-sends only
 * when a packet finds the last sync that old, so without it the standby's copy could expire before
 * the active's. Returns false when `id` is not live, or its key or state changed while being read
 * (the packet worker writes concurrently; the change that did it queues the entry again).
 */
export function readSyncEntry(table: ConnTable, id: number, nowMs: number, out: SyncEntry): boolean {
  if (!table.read(id, out)) return false;
  const state = table.state(id);
  const expiresMs = table.expiresMs(id), createdMs = table.createdMs(id);
  // A recycled or re-stated record between the two reads is a torn read: skip it.
  if (table.proto(id) !== out.proto || table.state(id) !== state || table.clientAddr(id) !== out.clientAddr || table.clientPort(id) !== out.clientPort
    || table.vipAddr(id) !== out.vipAddr || table.vipPort(id) !== out.vipPort) return false;
  out.op = SyncOp.Upsert;
  out.state = out.proto === Proto.TCP ? state : TcpState.NONE;
  out.flags &= ConnFlag.FULLNAT | ConnFlag.REPLIED;
  out.remainingMs = clampU32(expiresMs - nowMs + table.syncRefreshMs(out.proto, state) + REFRESH_SLACK_MS);
  out.ageMs = clampU32(nowMs - createdMs);
  return true;
}

/** Fills `out` as a remove of the connection with this outside key. */
export function setSyncRemove(out: SyncEntry, proto: number, clientAddr: number, clientPort: number, vipAddr: number, vipPort: number): void {
  out.op = SyncOp.Remove;
  out.proto = proto;
  out.state = 0;
  out.flags = 0;
  out.clientAddr = clientAddr >>> 0;
  out.clientPort = clientPort;
  out.vipAddr = vipAddr >>> 0;
  out.vipPort = vipPort;
  out.serverAddr = 0;
  out.serverPort = 0;
  out.localAddr = 0;
  out.localPort = 0;
  out.serviceId = 0;
  out.serverIndex = 0;
  out.remainingMs = 0;
  out.ageMs = 0;
}

/**
 * The local services as sync sees them: resolves a received upsert to the local service (by
 * protocol, VIP and port) and server (by address and port, trying the sender's index first), and
 * checks that its forwarding agrees. Both nodes run the same config, but a sync entry must never
 * land on the wrong server because the configs briefly differ (a reload on one node only).
 */
export class SyncServiceIndex {
  private readonly byKey = new Map<number, number>();

  constructor(private readonly spec: DispatchSpec) {
    spec.services.forEach((s, index) => this.byKey.set(syncServiceKey(s.proto, s.vip, s.port), index));
  }

  /**
   * Checks upsert `entry` against the local services; on success rewrites its `serviceId` and
   * `serverIndex` to the local ones and returns `SyncResult.Applied`, else the reason to drop it.
   */
  resolve(entry: SyncEntry): SyncResult {
    const s = this.byKey.get(syncServiceKey(entry.proto, entry.vipAddr, entry.vipPort));
    if (s === undefined) return SyncResult.UnknownService;
    const service = this.spec.services[s]!;
    const fullnat = (entry.flags & ConnFlag.FULLNAT) !== 0;
    if (fullnat !== service.fullnat || (fullnat && !service.localAddrs.includes(entry.localAddr))) return SyncResult.Mismatch;
    const servers = service.servers;
    let i = entry.serverIndex;
    if (!(i < servers.length && servers[i]!.addr === entry.serverAddr && servers[i]!.port === entry.serverPort)) {
      i = servers.findIndex((r) => r.addr === entry.serverAddr && r.port === entry.serverPort);
      if (i < 0) return SyncResult.UnknownServer;
    }
    entry.serviceId = s;
    entry.serverIndex = i;
    return SyncResult.Applied;
  }
}

/** Map key of a service for sync: protocol, VIP and port in one safe integer. */
function syncServiceKey(proto: number, vip: number, port: number): number {
  return ((vip >>> 0) * 65536 + (port & 0xffff)) * 256 + (proto & 0xff);
}
