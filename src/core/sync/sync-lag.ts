/**
 * Sync lag: the time from a connection's creation on the active node to its presence in the
 * standby's table. The active remembers, per batch it sends, the creation times of the new
 * connections in it; the standby acknowledges (cumulatively) the highest batch its packet Worker
 * has applied; the ack's arrival closes every batch up to it. Both ends of each sample are read
 * on the active's clock, so the two nodes' clocks never meet; the figure includes the ack's
 * trip back, so it errs on the high side by one one-way delay.
 */

/** Upper bounds (ms) of the cumulative histogram buckets, as Prometheus `le` labels. */
export const SYNC_LAG_BUCKETS_MS: readonly number[] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/** Sync lag figures for the API. */
export interface SyncLagSnapshot {
  /** Samples ever taken. */
  readonly samples: number;
  /** Samples in the window the percentiles are computed over (the most recent ones). */
  readonly window: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly lastMs: number | null;
  /** New connections sent and not yet acknowledged. */
  readonly unacked: number;
  /** New connections whose batch was never acknowledged (forgotten after `maxPendingBatches`). */
  readonly neverAcked: number;
  /** Cumulative counts per `SYNC_LAG_BUCKETS_MS` bound, then the +Inf count (= samples). */
  readonly buckets: readonly number[];
  /** Sum of all samples in ms (the Prometheus histogram's _sum). */
  readonly sumMs: number;
}

/** Collects lag samples from sent batches and acknowledgements; see the file comment. */
export class SyncLagMeter {
  private readonly window: Float64Array;
  private filled = 0;
  private next = 0;
  private total = 0;
  private sumMs = 0;
  private last: number | null = null;
  private neverAcked = 0;
  private unacked = 0;
  private readonly counts = new Float64Array(SYNC_LAG_BUCKETS_MS.length);
  /** Sent batches awaiting an ack, oldest first: seq and creation times. */
  private readonly pending: { seq: number; created: number[] }[] = [];

  constructor(windowSize = 16384, private readonly maxPendingBatches = 8192) {
    this.window = new Float64Array(windowSize);
  }

  /** Batch `seq` carried `count` new connections created at `created[0, count)` (ms). */
  sent(seq: number, created: ArrayLike<number>, count: number): void {
    if (count <= 0) return;
    const times: number[] = [];
    for (let i = 0; i < count; i++) times.push(created[i]!);
    this.pending.push({ seq, created: times });
    this.unacked += count;
    while (this.pending.length > this.maxPendingBatches) {
      const dropped = this.pending.shift()!;
      this.unacked -= dropped.created.length;
      this.neverAcked += dropped.created.length;
    }
  }

  /** The peer's table holds every batch up to `seq`, known at `nowMs` (same clock as `sent`). */
  acked(seq: number, nowMs: number): void {
    while (this.pending.length > 0 && this.pending[0]!.seq <= seq) {
      const batch = this.pending.shift()!;
      this.unacked -= batch.created.length;
      for (const createdMs of batch.created) this.sample(Math.max(0, nowMs - createdMs));
    }
  }

  /** Forgets unacknowledged batches (the peer restarted: a full resync covers them). */
  forgetPending(): void {
    for (const batch of this.pending) this.neverAcked += batch.created.length;
    this.pending.length = 0;
    this.unacked = 0;
  }

  /** The figures now; percentiles over the window (nearest rank). */
  snapshot(): SyncLagSnapshot {
    const n = this.filled;
    let p50: number | null = null, p99: number | null = null, max: number | null = null;
    if (n > 0) {
      const sorted = this.window.slice(0, n).sort();
      const rank = (p: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
      p50 = round(rank(0.5));
      p99 = round(rank(0.99));
      max = round(sorted[n - 1]!);
    }
    return {
      samples: this.total,
      window: n,
      p50Ms: p50,
      p99Ms: p99,
      maxMs: max,
      lastMs: this.last === null ? null : round(this.last),
      unacked: this.unacked,
      neverAcked: this.neverAcked,
      buckets: [...this.counts, this.total],
      sumMs: round(this.sumMs),
    };
  }

  private sample(ms: number): void {
    this.window[this.next] = ms;
    this.next = (this.next + 1) % this.window.length;
    if (this.filled < this.window.length) this.filled++;
    this.total++;
    this.sumMs += ms;
    this.last = ms;
    for (let b = 0; b < SYNC_LAG_BUCKETS_MS.length; b++) if (ms <= SYNC_LAG_BUCKETS_MS[b]!) this.counts[b]!++;
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
