/**
 * Connection-state sync between the packet Worker and the main thread, over SharedArrayBuffers:
 *
 * - `SyncChangeRing`: worker → main, one slot per change (entry id, op, outside key). The worker
 *   writes through `SyncChangeWriter` (the dispatcher's `ConnChangeSink`) and publishes once per
 *   packet batch; the main thread reads the records from the shared table when it drains, so a
 *   slot is small and an entry changed twice in a batch is queued once. When the ring is full the
 *   change is dropped and "needs full resync" is raised instead of blocking the packet path.
 * - `SyncApplyRing`: main → worker, fixed-size records of received entries, applied by the
 *   worker between packet batches (`SyncPump`), since only the worker may write the table.
 * - `SyncEndpoint`: the main thread's side: encodes drained changes and full-table walks into
 *   batch bodies, decodes received bodies into the apply ring, and keeps the counters.
 *
 * Ring positions are u32 counters that wrap; slot counts are powers of two.
 */
import type { ConnTable } from "../core/nat/conn-table.ts";
import type { DispatchSpec } from "../core/nat/dispatcher-spec.ts";
import type { ConnChangeSink, Dispatcher } from "../core/nat/dispatcher.ts";
import {
  SYNC_ENTRY_BYTES, SYNC_HEADER_BYTES, SYNC_MAX_ENTRIES, SyncBatch, SyncBatchFlag, SyncDecodeResult, SyncEntry, SyncOp, SyncResult,
  SyncServiceIndex, decodeSyncBatch, encodeSyncEntry, encodeSyncHeader, readSyncEntry, setSyncRemove, syncDecodeResultNames, syncResultNames,
} from "../core/sync/conn-sync-codec.ts";

const HEADER_BYTES = 128;
// Change ring header, i32 words.
const C_WRITTEN = 0, C_READ = 1, C_CAPTURE = 2, C_NEEDS_FULL = 3, C_SLOTS = 4;
// Change ring counters, f64 words (worker-written).
const CF_APPENDED = 8, CF_OVERFLOWS = 9;
const CHANGE_WORDS = 5;
// Apply ring header, i32 words; then worker-written f64 counters indexed by `SyncResult` code.
const A_WRITTEN = 0, A_READ = 1, A_SLOTS = 2;
const AF_RESULTS = 4;
const APPLY_WORDS = 10;

/** True if `ids[0, count)` holds `id`. */
function holds(ids: Int32Array, count: number, id: number): boolean {
  for (let j = 0; j < count; j++) if (ids[j] === id) return true;
  return false;
}

function slotCount(slots: number): number {
  if (!Number.isInteger(slots) || slots < 2 || slots > 1 << 24 || (slots & (slots - 1)) !== 0) {
    throw new RangeError(`Invalid sync ring size "${slots}": expected a power of two from 2 to 2^24`);
  }
  return slots;
}

/**
 * Worker → main ring of connection changes (see the file comment). One producer (the packet
 * Worker, through `SyncChangeWriter`), one consumer (`take` on the main thread).
 */
export class SyncChangeRing {
  readonly buffer: SharedArrayBuffer;
  /** Number of slots (a power of two). */
  readonly slots: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  /** The slots as u32 words, CHANGE_WORDS per slot. */
  readonly words: Uint32Array;

  /** Opens the ring in `buffer`, or creates one of `slots` slots (default 65536, about 1.3 MB). */
  constructor(buffer?: SharedArrayBuffer, slots = 65536) {
    const n = buffer ? new Int32Array(buffer, 0, HEADER_BYTES / 4)[C_SLOTS]! : slotCount(slots);
    this.buffer = buffer ?? new SharedArrayBuffer(HEADER_BYTES + n * CHANGE_WORDS * 4);
    this.slots = n;
    this.i32 = new Int32Array(this.buffer, 0, HEADER_BYTES / 4);
    this.f64 = new Float64Array(this.buffer, 0, HEADER_BYTES / 8);
    this.words = new Uint32Array(this.buffer, HEADER_BYTES, n * CHANGE_WORDS);
    if (!buffer) this.i32[C_SLOTS] = n;
  }

  /** Moves up to `max` published changes into `out` (CHANGE_WORDS u32 per change: id, op | proto << 8, client, vip, clientPort << 16 | vipPort); returns how many. */
  take(max: number, out: Uint32Array): number {
    const i32 = this.i32, mask = this.slots - 1;
    const written = Atomics.load(i32, C_WRITTEN) >>> 0;
    const read = Atomics.load(i32, C_READ) >>> 0;
    const n = Math.min((written - read) >>> 0, max, Math.floor(out.length / CHANGE_WORDS));
    const words = this.words;
    for (let k = 0; k < n; k++) {
      const at = ((read + k) & mask) * CHANGE_WORDS;
      for (let j = 0; j < CHANGE_WORDS; j++) out[k * CHANGE_WORDS + j] = words[at + j]!;
    }
    // Consume before the records are read: a change the worker makes after this point is queued
    // again rather than folded into a slot the main thread already took.
    if (n > 0) Atomics.store(i32, C_READ, (read + n) | 0);
    return n;
  }

  /** Published changes not yet taken. */
  get pending(): number {
    return (Atomics.load(this.i32, C_WRITTEN) - Atomics.load(this.i32, C_READ)) >>> 0;
  }

  /** Asks the worker to start or stop capturing changes (applied at its next batch). */
  setCapture(on: boolean): void {
    Atomics.store(this.i32, C_CAPTURE, on ? 1 : 0);
  }

  /** Whether capture is requested. */
  get capture(): boolean {
    return Atomics.load(this.i32, C_CAPTURE) !== 0;
  }

  /** True once a change was lost to a full ring, until `clearNeedsFullResync`. */
  get needsFullResync(): boolean {
    return Atomics.load(this.i32, C_NEEDS_FULL) !== 0;
  }

  /** Clears the flag; call when a full resync starts (changes lost after this raise it again). */
  clearNeedsFullResync(): void {
    Atomics.store(this.i32, C_NEEDS_FULL, 0);
  }

  /** Changes queued by the worker since start (after merging repeats of one entry). */
  get appended(): number {
    return this.f64[CF_APPENDED]!;
  }

  /** Changes lost to a full ring. */
  get overflows(): number {
    return this.f64[CF_OVERFLOWS]!;
  }

  /** Producer side, for `SyncChangeWriter` only. */
  raiseOverflow(): void {
    this.f64[CF_OVERFLOWS]!++;
    Atomics.store(this.i32, C_NEEDS_FULL, 1);
  }

  /** Producer side: makes slots up to `pending` visible, with the table writes before them. */
  publish(pending: number): void {
    Atomics.store(this.i32, C_WRITTEN, pending | 0);
  }

  /** Producer side: the consumer's position. */
  readPosition(): number {
    return Atomics.load(this.i32, C_READ) >>> 0;
  }

  /** Producer side: the published position (where a new writer starts). */
  writtenPosition(): number {
    return Atomics.load(this.i32, C_WRITTEN) >>> 0;
  }

  /** Producer side: counts one queued change. */
  countAppended(): void {
    this.f64[CF_APPENDED]!++;
  }
}

/**
 * The packet Worker's writer into a `SyncChangeRing`: the dispatcher's `ConnChangeSink`. Writes
 * slots privately and makes them visible with `publish` (once per packet batch); a change of the
 * entry in the last unpublished slot is merged into it. Never blocks: a full ring drops the change
 * and raises "needs full resync".
 */
export class SyncChangeWriter implements ConnChangeSink {
  private pending: number;
  private published: number;
  private readCache: number;
  private readonly mask: number;

  constructor(private readonly ring: SyncChangeRing, private readonly table: ConnTable) {
    this.pending = this.published = ring.writtenPosition();
    this.readCache = ring.readPosition();
    this.mask = ring.slots - 1;
  }

  /** Queues an upsert of entry `id`. */
  upserted(id: number): void {
    this.append(id, SyncOp.Upsert);
  }

  /** Queues a remove of entry `id` (its key is read now, while the record still holds it). */
  removed(id: number): void {
    this.append(id, SyncOp.Remove);
  }

  /** Makes the queued changes visible to the main thread. */
  publish(): void {
    if (this.pending === this.published) return;
    this.ring.publish(this.pending);
    this.published = this.pending;
  }

  private append(id: number, op: number): void {
    const words = this.ring.words, pending = this.pending;
    if (pending !== this.published) {
      // Unpublished, so the main thread cannot be reading it: merge into it. An upsert slot for
      // `id` still names the same connection (a recycled id is preceded by a remove).
      const last = ((pending - 1) & this.mask) * CHANGE_WORDS;
      if (words[last] === id && (words[last + 1]! & 0xff) === SyncOp.Upsert) {
        if (op === SyncOp.Remove) words[last + 1] = (words[last + 1]! & ~0xff) | op;
        return;
      }
    }
    if (((pending - this.readCache) >>> 0) >= this.ring.slots) {
      this.readCache = this.ring.readPosition();
      if (((pending - this.readCache) >>> 0) >= this.ring.slots) {
        this.ring.raiseOverflow();
        return;
      }
    }
    const t = this.table, at = (pending & this.mask) * CHANGE_WORDS;
    words[at] = id;
    words[at + 1] = op | (t.proto(id) << 8);
    words[at + 2] = t.clientAddr(id);
    words[at + 3] = t.vipAddr(id);
    words[at + 4] = ((t.clientPort(id) << 16) | t.vipPort(id)) >>> 0;
    this.pending = (pending + 1) >>> 0;
    this.ring.countAppended();
  }
}

/**
 * Main → worker ring of received sync entries, fixed 40-byte records. One producer (`push`, main
 * thread), one consumer (`drain`, packet Worker). The worker counts each entry's `SyncResult`.
 */
export class SyncApplyRing {
  readonly buffer: SharedArrayBuffer;
  /** Number of slots (a power of two). */
  readonly slots: number;
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly words: Uint32Array;
  private readonly entry = new SyncEntry();

  /** Opens the ring in `buffer`, or creates one of `slots` slots (default 16384, 640 KiB). */
  constructor(buffer?: SharedArrayBuffer, slots = 16384) {
    const n = buffer ? new Int32Array(buffer, 0, HEADER_BYTES / 4)[A_SLOTS]! : slotCount(slots);
    this.buffer = buffer ?? new SharedArrayBuffer(HEADER_BYTES + n * APPLY_WORDS * 4);
    this.slots = n;
    this.i32 = new Int32Array(this.buffer, 0, HEADER_BYTES / 4);
    this.f64 = new Float64Array(this.buffer, 0, HEADER_BYTES / 8);
    this.words = new Uint32Array(this.buffer, HEADER_BYTES, n * APPLY_WORDS);
    if (!buffer) this.i32[A_SLOTS] = n;
  }

  /** Free slots now (the worker may free more at any time). */
  get free(): number {
    return this.slots - ((Atomics.load(this.i32, A_WRITTEN) - Atomics.load(this.i32, A_READ)) >>> 0);
  }

  /** Queues `entries[0, count)` all together; false (nothing queued) when they do not all fit. */
  push(entries: readonly SyncEntry[], count: number): boolean {
    if (count > this.free) return false;
    const w = this.words, mask = this.slots - 1;
    const written = Atomics.load(this.i32, A_WRITTEN) >>> 0;
    for (let k = 0; k < count; k++) {
      const e = entries[k]!, at = ((written + k) & mask) * APPLY_WORDS;
      w[at] = (e.op & 0xff) | ((e.proto & 0xff) << 8) | ((e.state & 0xff) << 16) | ((e.flags & 0xff) << 24);
      w[at + 1] = e.clientAddr;
      w[at + 2] = e.vipAddr;
      w[at + 3] = e.serverAddr;
      w[at + 4] = e.localAddr;
      w[at + 5] = ((e.clientPort << 16) | e.vipPort) >>> 0;
      w[at + 6] = ((e.serverPort << 16) | e.localPort) >>> 0;
      w[at + 7] = ((e.serviceId << 16) | e.serverIndex) >>> 0;
      w[at + 8] = e.remainingMs;
      w[at + 9] = e.ageMs;
    }
    if (count > 0) Atomics.store(this.i32, A_WRITTEN, (written + count) | 0);
    return true;
  }

  /** Hands up to `max` queued entries to `apply` (one reused object) and counts its results; returns how many. */
  drain(max: number, apply: (entry: SyncEntry) => number): number {
    const w = this.words, mask = this.slots - 1, e = this.entry, f64 = this.f64;
    const written = Atomics.load(this.i32, A_WRITTEN) >>> 0;
    const read = Atomics.load(this.i32, A_READ) >>> 0;
    const n = Math.min((written - read) >>> 0, max);
    for (let k = 0; k < n; k++) {
      const at = ((read + k) & mask) * APPLY_WORDS, w0 = w[at]!;
      e.op = w0 & 0xff;
      e.proto = (w0 >>> 8) & 0xff;
      e.state = (w0 >>> 16) & 0xff;
      e.flags = w0 >>> 24;
      e.clientAddr = w[at + 1]!;
      e.vipAddr = w[at + 2]!;
      e.serverAddr = w[at + 3]!;
      e.localAddr = w[at + 4]!;
      e.clientPort = w[at + 5]! >>> 16;
      e.vipPort = w[at + 5]! & 0xffff;
      e.serverPort = w[at + 6]! >>> 16;
      e.localPort = w[at + 6]! & 0xffff;
      e.serviceId = w[at + 7]! >>> 16;
      e.serverIndex = w[at + 7]! & 0xffff;
      e.remainingMs = w[at + 8]!;
      e.ageMs = w[at + 9]!;
      const result = apply(e);
      if (result >= 0 && result < syncResultNames.length) f64[AF_RESULTS + result]!++;
    }
    if (n > 0) Atomics.store(this.i32, A_READ, (read + n) | 0);
    return n;
  }

  /** Entries ever queued (a u32 position that wraps; compare with `consumedPosition`). */
  queuedPosition(): number {
    return Atomics.load(this.i32, A_WRITTEN) >>> 0;
  }

  /** Entries the worker has applied so far (a u32 position that wraps). */
  consumedPosition(): number {
    return Atomics.load(this.i32, A_READ) >>> 0;
  }

  /** Entries the worker finished with `SyncResult` code `result`. */
  results(result: number): number {
    return this.f64[AF_RESULTS + result] ?? 0;
  }
}

/**
 * The packet Worker's half of sync, run between packet batches: publishes captured changes,
 * follows the main thread's capture switch, and applies up to `budget` received entries.
 */
export class SyncPump {
  private capturing = false;
  private nowMs = 0;
  private readonly applyOne = (entry: SyncEntry): number => this.dispatcher.applySynced(entry, this.nowMs);

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly changes: SyncChangeRing,
    private readonly writer: SyncChangeWriter,
    private readonly apply: SyncApplyRing,
    private readonly budget = 4096,
  ) {}

  /** One round at `nowMs`; cheap when there is nothing to do (two atomic loads). */
  pump(nowMs: number): void {
    this.writer.publish();
    const want = this.changes.capture;
    if (want !== this.capturing) {
      this.dispatcher.setSyncSink(want ? this.writer : null);
      this.capturing = want;
    }
    this.nowMs = nowMs;
    this.apply.drain(this.budget, this.applyOne);
  }
}

/** Position of a full-table walk for a (re)joining standby; from `SyncEndpoint.fullSyncCursor`. */
export class FullSyncCursor {
  /** Next entry id to look at. */
  nextId = 0;
  /** True once the batch with `SyncBatchFlag.FullEnd` was encoded. */
  done = false;
  /** True once the first batch (flagged `SyncBatchFlag.FullStart`) was encoded. */
  started = false;
}

/** What `SyncEndpoint.drainChanges` and `encodeFullSync` produced: a body of `bytes` (0: none). */
export interface SyncEncoded {
  readonly bytes: number;
  readonly entries: number;
  /** Sequence number of the batch, -1 when none was encoded. */
  readonly seq: number;
  /** More changes are waiting (drain again), or the walk is not done. */
  readonly more: boolean;
  /**
   * Entries sent for the first time since capture began (new connections): their creation times
   * (the Worker's clock, see `SyncEndpointOptions.nowMs`) are `created[0, fresh)` of the array
   * passed to `drainChanges`. Always 0 for full-walk batches.
   */
  readonly fresh: number;
}

/** What `SyncEndpoint.applyBody` did with one received body. */
export interface SyncApplied {
  /** "ok": queued for the worker; "busy": the apply ring is full, nothing queued, retry the same body; "malformed": dropped. */
  readonly status: "ok" | "busy" | "malformed";
  /** Entries queued for the worker (the worker's own results are in the snapshot). */
  readonly applied: number;
  /** Entries dropped here, total and by reason (e.g. unknown_service). */
  readonly dropped: number;
  readonly reasons: Readonly<Record<string, number>>;
  /** The batch's sequence number, -1 when malformed. */
  readonly seq: number;
  /** The sender's table generation, -1 when malformed. */
  readonly generation: number;
  /** `SyncBatchFlag` bits of the batch. */
  readonly flags: number;
  /** Why the body was malformed (a `syncDecodeResultNames` entry), else "". */
  readonly error: string;
}

/** Sync counters for the snapshot. */
export interface SyncSnapshot {
  readonly capture: boolean;
  readonly needsFullResync: boolean;
  readonly pendingChanges: number;
  readonly captured: number;
  readonly overflows: number;
  readonly sentBatches: number;
  readonly sentEntries: number;
  readonly fullSyncEntries: number;
  /** Queued changes not sent because the entry changed or went away while read (a later change resends). */
  readonly skippedStale: number;
  readonly receivedBatches: number;
  readonly queued: number;
  readonly busy: number;
  readonly seqGaps: number;
  readonly generationChanges: number;
  readonly malformed: Readonly<Record<string, number>>;
  /** Worker results: applied, absent (remove of an unknown entry), and drops by reason. */
  readonly applied: number;
  readonly absent: number;
  readonly dropped: Readonly<Record<string, number>>;
}

/** Options of a `SyncEndpoint`. */
export interface SyncEndpointOptions {
  readonly table: ConnTable;
  readonly spec: DispatchSpec;
  readonly changes: SyncChangeRing;
  readonly apply: SyncApplyRing;
  /** This node's table generation (u32), sent in every batch. */
  readonly generation: number;
  /** The packet Worker's clock (same epoch-based monotonic ms as the table's times). */
  readonly nowMs: () => number;
}

/**
 * The main thread's side of connection-state sync: turns the change ring and the shared table
 * into batch bodies for the transport, and received bodies into the apply ring. Everything here
 * only reads the table; the packet Worker remains its single writer.
 */
export class SyncEndpoint {
  private readonly table: ConnTable;
  private readonly changes: SyncChangeRing;
  private readonly apply: SyncApplyRing;
  private readonly generation: number;
  private readonly nowMs: () => number;
  private readonly services: SyncServiceIndex;
  private readonly slots = new Uint32Array(SYNC_MAX_ENTRIES * CHANGE_WORDS);
  private readonly batchIds = new Int32Array(SYNC_MAX_ENTRIES);
  private readonly entry = new SyncEntry();
  private readonly received = new SyncBatch();
  private readonly accepted: SyncEntry[] = [];
  /** Per entry id: the creation time (u32 ms) of the connection last reported fresh in that slot. */
  private readonly reported: Uint32Array;
  /** Connections created before this (capture switched on) are never reported fresh. */
  private captureSinceMs = 0;
  private seq = 0;
  private lastSeq = -1;
  private lastGeneration = -1;
  private readonly c = { sentBatches: 0, sentEntries: 0, fullSyncEntries: 0, skippedStale: 0, receivedBatches: 0, queued: 0, busy: 0, seqGaps: 0, generationChanges: 0 };
  private readonly malformed = new Float64Array(syncDecodeResultNames.length);
  private readonly droppedHere = new Float64Array(syncResultNames.length);

  constructor(options: SyncEndpointOptions) {
    this.table = options.table;
    this.changes = options.changes;
    this.apply = options.apply;
    this.generation = options.generation >>> 0;
    this.nowMs = options.nowMs;
    this.services = new SyncServiceIndex(options.spec);
    this.reported = new Uint32Array(options.table.capacity);
  }

  /** Starts or stops capturing changes in the worker (the active node captures; a standby need not). */
  setCapture(on: boolean): void {
    if (on && !this.changes.capture) this.captureSinceMs = this.nowMs();
    this.changes.setCapture(on);
  }

  /** True once changes were lost to a full ring: the peer needs a full resync. */
  get needsFullResync(): boolean {
    return this.changes.needsFullResync;
  }

  /**
   * Encodes up to `maxEntries` queued changes (default and ceiling `SYNC_MAX_ENTRIES`, also bounded
   * by `out`) into one body in `out`. Upserts carry the entry as it is now; an entry queued twice
   * goes once. Returns bytes 0 when nothing is queued. Throws RangeError if `out` holds no entry.
   */
  drainChanges(out: Uint8Array, maxEntries = SYNC_MAX_ENTRIES, created?: Float64Array): SyncEncoded {
    const max = this.capacity(out, maxEntries);
    const nowMs = this.nowMs(), e = this.entry, slots = this.slots, ids = this.batchIds, t = this.table, reported = this.reported;
    let count = 0, fresh = 0;
    while (count < max) {
      const n = this.changes.take(max - count, slots);
      if (n === 0) break;
      for (let k = 0; k < n; k++) {
        const at = k * CHANGE_WORDS, id = slots[at]!, w1 = slots[at + 1]!, proto = (w1 >>> 8) & 0xff;
        const clientAddr = slots[at + 2]!, vipAddr = slots[at + 3]!, clientPort = slots[at + 4]! >>> 16, vipPort = slots[at + 4]! & 0xffff;
        if ((w1 & 0xff) === SyncOp.Remove) {
          // The id may come back as another connection later in this batch.
          for (let j = 0; j < count; j++) if (ids[j] === id) ids[j] = -1;
          setSyncRemove(e, proto, clientAddr, clientPort, vipAddr, vipPort);
          ids[count] = -1;
        } else {
          if (holds(ids, count, id)) continue;
          // The record is read now; it must still be the connection the change was about.
          if (!readSyncEntry(t, id, nowMs, e) || e.proto !== proto || e.clientAddr !== clientAddr || e.clientPort !== clientPort
            || e.vipAddr !== vipAddr || e.vipPort !== vipPort) {
            this.c.skippedStale++;
            continue;
          }
          ids[count] = id;
          if (created !== undefined && fresh < created.length) {
            // A connection is fresh the first time it is sent: its creation time marks the slot.
            const createdMs = t.createdMs(id), mark = (Math.floor(createdMs) >>> 0) || 1;
            if (reported[id] !== mark && createdMs >= this.captureSinceMs) {
              reported[id] = mark;
              created[fresh++] = createdMs;
            }
          }
        }
        encodeSyncEntry(out, count++, e);
      }
    }
    const more = this.changes.pending > 0;
    if (count === 0) return { bytes: 0, entries: 0, seq: -1, more, fresh: 0 };
    const seq = this.seq++;
    const bytes = encodeSyncHeader(out, { seq, generation: this.generation, flags: 0, count });
    this.c.sentBatches++;
    this.c.sentEntries += count;
    return { bytes, entries: count, seq, more, fresh };
  }

  /** Starts a full-table walk for a (re)joining standby and clears "needs full resync". */
  fullSyncCursor(): FullSyncCursor {
    this.changes.clearNeedsFullResync();
    return new FullSyncCursor();
  }

  /**
   * Encodes the next batch of a full walk at `cursor` (advancing it) into `out`; the last batch
   * carries `SyncBatchFlag.FullEnd` (an empty table yields one empty FullEnd batch). Pace calls as
   * the link allows; changes made meanwhile also flow through `drainChanges`. Returns bytes 0
   * once the walk is done.
   */
  encodeFullSync(cursor: FullSyncCursor, out: Uint8Array, maxEntries = SYNC_MAX_ENTRIES): SyncEncoded {
    if (cursor.done) return { bytes: 0, entries: 0, seq: -1, more: false, fresh: 0 };
    const max = this.capacity(out, maxEntries);
    const nowMs = this.nowMs(), t = this.table, e = this.entry;
    let count = 0, id = t.nextLive(cursor.nextId);
    for (; id >= 0 && count < max; id = t.nextLive(id + 1)) {
      if (!readSyncEntry(t, id, nowMs, e)) continue;
      encodeSyncEntry(out, count++, e);
      // Already on the peer: a later change of it is not a new connection's first arrival.
      this.reported[id] = (Math.floor(t.createdMs(id)) >>> 0) || 1;
    }
    cursor.nextId = id < 0 ? t.capacity : id;
    cursor.done = id < 0;
    const seq = this.seq++;
    const flags = SyncBatchFlag.Full | (cursor.started ? 0 : SyncBatchFlag.FullStart) | (cursor.done ? SyncBatchFlag.FullEnd : 0);
    cursor.started = true;
    const bytes = encodeSyncHeader(out, { seq, generation: this.generation, flags, count });
    this.c.sentBatches++;
    this.c.sentEntries += count;
    this.c.fullSyncEntries += count;
    return { bytes, entries: count, seq, more: !cursor.done, fresh: 0 };
  }

  /**
   * Decodes the body `bytes[0, length)` and queues its entries for the worker, all or none:
   * "busy" (nothing counted) when the apply ring lacks room, so the caller retries the same body.
   * Upserts for an unknown service or server, or with mismatching forwarding, are dropped and
   * counted here. Never throws on any input.
   */
  applyBody(bytes: Uint8Array, length: number): SyncApplied {
    const batch = this.received;
    const result = decodeSyncBatch(bytes, length, batch);
    if (result !== SyncDecodeResult.Ok) {
      this.malformed[result]!++;
      return { status: "malformed", applied: 0, dropped: 0, reasons: {}, seq: -1, generation: -1, flags: 0, error: syncDecodeResultNames[result]! };
    }
    const accepted = this.accepted;
    const drops = new Array<number>(syncResultNames.length).fill(0);
    let kept = 0;
    for (let k = 0; k < batch.count; k++) {
      const e = batch.entries[k]!;
      const r = e.op === SyncOp.Upsert ? this.services.resolve(e) : SyncResult.Applied;
      if (r === SyncResult.Applied) accepted[kept++] = e;
      else drops[r]!++;
    }
    if (!this.apply.push(accepted, kept)) {
      this.c.busy++;
      return { status: "busy", applied: 0, dropped: 0, reasons: {}, seq: batch.seq, generation: batch.generation, flags: batch.flags, error: "" };
    }
    this.noteSequence(batch.seq, batch.generation);
    this.c.receivedBatches++;
    this.c.queued += kept;
    const reasons: Record<string, number> = {};
    let dropped = 0;
    drops.forEach((n, r) => {
      if (n === 0) return;
      reasons[syncResultNames[r]!] = n;
      this.droppedHere[r]! += n;
      dropped += n;
    });
    return { status: "ok", applied: kept, dropped, reasons, seq: batch.seq, generation: batch.generation, flags: batch.flags, error: "" };
  }

  /**
   * Whether everything queued up to `position` (a `queuedPosition` taken after `applyBody`) is in
   * the Worker's table now: a received change counts as arrived only once the table holds it.
   */
  appliedThrough(position: number): boolean {
    return ((this.apply.consumedPosition() - position) | 0) >= 0;
  }

  /** The apply ring's queued position now, for `appliedThrough`. */
  get queuedPosition(): number {
    return this.apply.queuedPosition();
  }

  /** The counters (main thread and worker). */
  snapshot(): SyncSnapshot {
    const malformed: Record<string, number> = {};
    this.malformed.forEach((n, r) => {
      if (r > 0 && n > 0) malformed[syncDecodeResultNames[r]!] = n;
    });
    const dropped: Record<string, number> = {};
    for (let r = SyncResult.UnknownService; r < syncResultNames.length; r++) {
      const n = this.droppedHere[r]! + this.apply.results(r);
      if (n > 0) dropped[syncResultNames[r]!] = n;
    }
    return {
      capture: this.changes.capture,
      needsFullResync: this.changes.needsFullResync,
      pendingChanges: this.changes.pending,
      captured: this.changes.appended,
      overflows: this.changes.overflows,
      ...this.c,
      malformed,
      applied: this.apply.results(SyncResult.Applied),
      absent: this.apply.results(SyncResult.Absent),
      dropped,
    };
  }

  private capacity(out: Uint8Array, maxEntries: number): number {
    const max = Math.min(maxEntries, SYNC_MAX_ENTRIES, Math.floor((out.length - SYNC_HEADER_BYTES) / SYNC_ENTRY_BYTES));
    if (!(max >= 1)) throw new RangeError(`Cannot encode a sync batch into "${out.length}" bytes with at most "${maxEntries}" entries: room for none`);
    return max;
  }

  private noteSequence(seq: number, generation: number): void {
    if (generation !== this.lastGeneration) {
      if (this.lastGeneration >= 0) this.c.generationChanges++;
      this.lastGeneration = generation;
    } else if (seq !== this.lastSeq + 1) {
      this.c.seqGaps++;
    }
    this.lastSeq = seq;
  }
}
