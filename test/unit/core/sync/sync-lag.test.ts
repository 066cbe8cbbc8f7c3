import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SYNC_LAG_BUCKETS_MS, SyncLagMeter } from "../../../../src/core/sync/sync-lag.ts";

/** Takes one sample of `ms` per value, each in its own batch acknowledged at once. */
function samples(meter: SyncLagMeter, values: readonly number[], startSeq = 0): void {
  values.forEach((ms, i) => {
    meter.sent(startSeq + i, [0], 1);
    meter.acked(startSeq + i, ms);
  });
}

describe("sync lag meter", () => {
  test("an unused meter has no figures, and empty buckets", () => {
    const s = new SyncLagMeter().snapshot();
    assert.deepEqual(s, {
      samples: 0, window: 0, p50Ms: null, p99Ms: null, maxMs: null, lastMs: null, unacked: 0, neverAcked: 0,
      buckets: new Array(SYNC_LAG_BUCKETS_MS.length + 1).fill(0), sumMs: 0,
    });
  });

  test("a cumulative ack closes every batch up to its seq, each connection one sample from its creation", () => {
    const m = new SyncLagMeter();
    m.sent(0, [100, 110, 999], 2);
    m.sent(1, [120], 1);
    m.sent(2, [130], 1);
    assert.equal(m.snapshot().unacked, 4);
    m.acked(1, 200);
    let s = m.snapshot();
    assert.deepEqual([s.samples, s.unacked, s.maxMs, s.lastMs, s.sumMs], [3, 1, 100, 80, 100 + 90 + 80]);
    m.acked(1, 500);
    assert.equal(m.snapshot().samples, 3, "an ack repeated closes nothing more");
    m.acked(0, 500);
    assert.equal(m.snapshot().samples, 3, "an older ack closes nothing more");
    m.acked(9, 230);
    s = m.snapshot();
    assert.deepEqual([s.samples, s.unacked, s.lastMs, s.maxMs], [4, 0, 100, 100]);
  });

  test("a batch with no new connections is not remembered, and an ack never makes a negative sample", () => {
    const m = new SyncLagMeter();
    m.sent(0, [1], 0);
    m.sent(1, [500], 1);
    m.acked(1, 400);
    const s = m.snapshot();
    assert.deepEqual([s.samples, s.lastMs, s.unacked], [1, 0, 0]);
  });

  test("percentiles are nearest-rank over the window, in numeric order", () => {
    const m = new SyncLagMeter();
    // Out of order and of different digit counts, so that a string sort would get them wrong.
    samples(m, [100, 20, 3, 9, 1000, 4, 50, 7, 8, 6]);
    const s = m.snapshot();
    // Sorted: 3 4 6 7 8 9 20 50 100 1000: rank ceil(0.5 × 10) = 5 → 8; ceil(0.99 × 10) = 10 → 1000.
    assert.deepEqual([s.window, s.p50Ms, s.p99Ms, s.maxMs], [10, 8, 1000, 1000]);
    const hundred = new SyncLagMeter();
    samples(hundred, Array.from({ length: 100 }, (_, i) => 100 - i));
    const h = hundred.snapshot();
    assert.deepEqual([h.p50Ms, h.p99Ms, h.maxMs, h.lastMs], [50, 99, 100, 1]);
    const one = new SyncLagMeter();
    samples(one, [42.123]);
    assert.deepEqual([one.snapshot().p50Ms, one.snapshot().p99Ms], [42.12, 42.12], "rounded to hundredths");
  });

  test("the window wraps to the most recent samples while the totals keep counting", () => {
    const m = new SyncLagMeter(4);
    samples(m, [1000, 900, 800, 700, 1, 2, 3, 4, 5]);
    const s = m.snapshot();
    assert.equal(s.samples, 9);
    assert.equal(s.window, 4);
    // The window holds 2 3 4 5: the older, larger samples are gone from the percentiles.
    assert.deepEqual([s.p50Ms, s.p99Ms, s.maxMs, s.lastMs], [3, 5, 5, 5]);
    assert.equal(s.sumMs, 1000 + 900 + 800 + 700 + 15);
    assert.equal(s.buckets.at(-1), 9);
  });

  test("histogram buckets are cumulative with inclusive bounds, and the +Inf bucket equals the samples", () => {
    const m = new SyncLagMeter();
    const values = [0, 0.5, 1, 1.01, 3, 10, 15, 200, 5000, 5001, 60_000];
    samples(m, values);
    const s = m.snapshot();
    assert.equal(s.buckets.length, SYNC_LAG_BUCKETS_MS.length + 1);
    const expected = SYNC_LAG_BUCKETS_MS.map((le) => values.filter((v) => v <= le).length);
    assert.deepEqual(s.buckets, [...expected, values.length]);
    assert.deepEqual(s.buckets.slice(0, 4), [3, 4, 5, 6]);
    assert.equal(s.buckets.at(-1), s.samples);
    for (let b = 1; b < s.buckets.length; b++) assert.ok(s.buckets[b]! >= s.buckets[b - 1]!, "cumulative");
    assert.equal(s.sumMs, values.reduce((a, v) => a + v, 0));
  });

  test("beyond maxPendingBatches the oldest unacknowledged batches are dropped into neverAcked", () => {
    const m = new SyncLagMeter(16, 3);
    for (let seq = 0; seq < 5; seq++) m.sent(seq, [0, 0, 0, 0, 0], seq + 1);
    let s = m.snapshot();
    // Batches 0 and 1 (1 + 2 connections) were dropped; 2, 3, 4 (3 + 4 + 5) wait.
    assert.deepEqual([s.unacked, s.neverAcked], [12, 3]);
    m.acked(1, 10);
    assert.equal(m.snapshot().samples, 0, "the dropped batches are not sampled when their ack comes");
    m.acked(4, 10);
    s = m.snapshot();
    assert.deepEqual([s.samples, s.unacked, s.neverAcked], [12, 0, 3]);
  });

  test("forgetPending moves every waiting connection to neverAcked, and a later ack samples nothing", () => {
    const m = new SyncLagMeter();
    m.sent(0, [0, 0], 2);
    m.sent(1, [0], 1);
    m.acked(0, 5);
    m.forgetPending();
    let s = m.snapshot();
    assert.deepEqual([s.samples, s.unacked, s.neverAcked], [2, 0, 1]);
    m.acked(1, 10);
    assert.equal(m.snapshot().samples, 2);
    m.sent(7, [20], 1);
    m.acked(7, 25);
    s = m.snapshot();
    assert.deepEqual([s.samples, s.lastMs, s.neverAcked], [3, 5, 1]);
  });
});
