/**
 * The standby's view of the sync stream: whether its shadow connection table holds everything
 * the active node has, and when to ask for a full resync. Pure; the engine feeds it the envelope
 * generation, seq and flags of each authenticated batch, the sender's reported position, and time.
 *
 * Synced means: a full walk arrived from its FullStart to its FullEnd batch, and no batch of that
 * sender went missing since. Anything else (a restarted sender, a gap in the batch numbers, a
 * walk that stalls, a body the table could not take) clears it and raises a new request id,
 * which the standby's status frames carry until the active answers with a walk. A walk the
 * active starts on its own (its change ring overflowed) also clears it until the walk ends.
 */
import { SyncBatchFlag } from "./conn-sync-codec.ts";

/** Why the receiver is not (or no longer) synced. */
export type SyncLossReason = "start" | "new-sender" | "gap" | "stalled" | "lost-locally" | "walk-restarted";

/** Counters of a `SyncReceiver`. */
export interface SyncReceiverCounters {
  gaps: number;
  walksCompleted: number;
  requests: number;
  senderRestarts: number;
}

/** What a step changed, for events and the HA machine. */
export interface SyncReceiverChange {
  /** The synced flag flipped to this value, or undefined when unchanged. */
  readonly synced?: boolean;
  /** Why it was lost, when `synced` became false or a new request was raised while unsynced. */
  readonly reason?: SyncLossReason;
  /** Entries of the walk that just completed, when `synced` became true. */
  readonly walkEntries?: number;
  /** Duration of that walk in ms. */
  readonly walkMs?: number;
}

/** Options of a `SyncReceiver`. */
export interface SyncReceiverOptions {
  /** Ask again when no walk has begun this long after a request (ms). */
  readonly rerequestMs: number;
  /** A walk with no batch for this long is abandoned and asked for again (ms). */
  readonly stallMs: number;
}

const NONE = Object.freeze({});

/** The standby's sync bookkeeping; see the file comment. */
export class SyncReceiver {
  /** Whether the shadow table is complete. */
  synced = false;
  /** The id carried by the current request (u32, changes with every new request). */
  requestId: number;
  readonly counters: SyncReceiverCounters = { gaps: 0, walksCompleted: 0, requests: 0, senderRestarts: 0 };
  private generation = -1;
  private expectedSeq = -1;
  private walking = false;
  private walkEntries = 0;
  private walkStartMs = 0;
  private lastWalkBatchMs = 0;
  private requestedMs: number;

  constructor(private readonly options: SyncReceiverOptions, nowMs: number, firstRequestId = 1) {
    this.requestId = firstRequestId >>> 0;
    this.requestedMs = nowMs;
    this.counters.requests = 1;
  }

  /** True while the receiver wants a walk (its status frames carry NeedFull). */
  get wantsFull(): boolean {
    return !this.synced && !this.walking;
  }

  /** Forgets the sender and asks for a walk (the node became standby again, or starts). */
  reset(nowMs: number): SyncReceiverChange {
    const was = this.synced;
    this.generation = -1;
    this.expectedSeq = -1;
    this.walking = false;
    this.synced = false;
    this.request(nowMs);
    return was ? { synced: false, reason: "start" } : NONE;
  }

  /**
   * One authenticated batch of sender `generation`: `seq`, its `SyncBatchFlag` bits and entry count.
   * The batch is applied whatever this returns (its entries are the sender's current truth).
   */
  onBatch(nowMs: number, generation: number, seq: number, flags: number, entries: number): SyncReceiverChange {
    let lost: SyncLossReason | undefined;
    if (generation !== this.generation) {
      if (this.generation >= 0) this.counters.senderRestarts++;
      lost = this.generation >= 0 ? "new-sender" : "start";
      this.generation = generation;
      this.walking = false;
    } else if (seq !== this.expectedSeq) {
      this.counters.gaps++;
      lost = "gap";
      this.walking = false;
    }
    this.expectedSeq = seq + 1;
    if ((flags & SyncBatchFlag.FullStart) !== 0) {
      // A walk restarts the count: until its end the table may miss what the walk is about to bring.
      if (this.synced && lost === undefined) lost = "walk-restarted";
      this.walking = true;
      this.walkEntries = 0;
      this.walkStartMs = nowMs;
    }
    const wasSynced = this.synced;
    if (lost !== undefined) {
      this.synced = false;
      // A batch that starts a walk is the answer already: asking again would restart it.
      if (!this.walking) this.request(nowMs);
    }
    if (this.walking && (flags & SyncBatchFlag.Full) !== 0) {
      this.walkEntries += entries;
      this.lastWalkBatchMs = nowMs;
      if ((flags & SyncBatchFlag.FullEnd) !== 0) {
        this.walking = false;
        this.synced = true;
        this.counters.walksCompleted++;
        return wasSynced ? NONE : { synced: true, walkEntries: this.walkEntries, walkMs: nowMs - this.walkStartMs };
      }
    }
    if (lost === undefined) return NONE;
    return wasSynced ? { synced: false, reason: lost } : { reason: lost };
  }

  /**
   * The sender (of `generation`) says its last batch is `position` (-1: none yet): a tail batch may
   * be missing, or the sender restarted (a newer generation) before sending any batch.
   */
  onSenderPosition(nowMs: number, generation: number, position: number): SyncReceiverChange {
    if (generation < this.generation) return NONE;
    if (generation > this.generation) {
      const first = this.generation < 0;
      this.generation = generation;
      this.expectedSeq = position + 1;
      // The first sender heard: the request already out covers it; asking again would restart its walk.
      if (first) return NONE;
      this.counters.senderRestarts++;
      this.walking = false;
      return this.lose(nowMs, "new-sender");
    }
    if (position < this.expectedSeq) return NONE;
    this.counters.gaps++;
    // Counted as received-through-position: the walk this asks for covers the missing batches.
    this.expectedSeq = position + 1;
    return this.lose(nowMs, "gap");
  }

  /** A batch that passed authentication could not be applied here (malformed, queue full). */
  onLostLocally(nowMs: number): SyncReceiverChange {
    return this.lose(nowMs, "lost-locally");
  }

  /** Re-asks when a request went unanswered or a walk stalled. */
  tick(nowMs: number): SyncReceiverChange {
    if (this.walking && nowMs - this.lastWalkBatchMs > this.options.stallMs) return this.lose(nowMs, "stalled");
    if (!this.synced && !this.walking && nowMs - this.requestedMs > this.options.rerequestMs) this.request(nowMs);
    return NONE;
  }

  private lose(nowMs: number, reason: SyncLossReason, abandonWalk = true): SyncReceiverChange {
    const was = this.synced;
    this.synced = false;
    if (abandonWalk) this.walking = false;
    if (!this.walking) this.request(nowMs);
    return was ? { synced: false, reason } : { reason };
  }

  private request(nowMs: number): void {
    this.requestId = (this.requestId + 1) >>> 0;
    this.requestedMs = nowMs;
    this.counters.requests++;
  }
}
