import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DropBurst } from "../../../../src/core/ha/drop-burst.ts";
import type { HaEvent } from "../../../../src/core/ha/ha-node-types.ts";
import { seededRandom } from "../crypto/random.ts";

const REASONS = ["bad-mac", "foreign-cluster", "replay"] as const;

/** Sums `fields.reason_*` of `events` by reason, and their `frames`. */
function totals(events: readonly HaEvent[]): { frames: number; byReason: Record<string, number> } {
  const byReason: Record<string, number> = {};
  let frames = 0;
  for (const e of events) {
    frames += e.fields.frames as number;
    for (const [key, value] of Object.entries(e.fields)) {
      if (key.startsWith("reason_")) byReason[key] = (byReason[key] ?? 0) + (value as number);
    }
  }
  return { frames, byReason };
}

describe("drop burst", () => {
  test("the first drop after a quiet spell raises an event at once, with counts by reason and the source", () => {
    const burst = new DropBurst("sync", 10_000);
    const event = burst.drop("bad-mac", 5_000, "10.1.0.9:8694");
    assert.deepEqual(event, {
      type: "forged-burst",
      severity: "warn",
      message: "Dropped 1 sync frame (1 bad-mac)",
      fields: { frames: 1, phase: "started", reason_bad_mac: 1, source: "10.1.0.9:8694" },
    });
  });

  test("a flood of 10,000 drops within one interval raises one event, then one summary with the rest after the interval", () => {
    const burst = new DropBurst("heartbeat", 10_000);
    const events: HaEvent[] = [];
    for (let i = 0; i < 10_000; i++) {
      const event = burst.drop(REASONS[i % 3]!, 1_000 + i * 0.9, "x");
      if (event) events.push(event);
    }
    assert.equal(events.length, 1);
    assert.equal(events[0]!.fields.frames, 1);
    assert.equal(burst.tick(10_999), undefined, "less than an interval after the event");
    const summary = burst.tick(11_000);
    assert.ok(summary);
    assert.deepEqual(summary.fields, { frames: 9_999, phase: "summary", reason_bad_mac: 3_333, reason_foreign_cluster: 3_333, reason_replay: 3_333 });
    assert.equal(summary.message, "Dropped 9999 heartbeat frames (3333 foreign-cluster, 3333 replay, 3333 bad-mac)");
    assert.equal(burst.tick(30_000), undefined, "nothing left to report");
    const { frames, byReason } = totals([...events, summary]);
    assert.equal(frames, 10_000);
    assert.deepEqual(byReason, { reason_bad_mac: 3_334, reason_foreign_cluster: 3_333, reason_replay: 3_333 });
  });

  test("drops that go on for several intervals raise one event per interval and nothing in between", () => {
    const burst = new DropBurst("sync", 1_000);
    const times: number[] = [];
    for (let t = 0; t < 5_000; t += 10) {
      const event = burst.drop("replay", t);
      if (event) times.push(t);
    }
    assert.deepEqual(times, [0, 1_000, 2_000, 3_000, 4_000]);
  });

  test("after a spell longer than the interval without drops, the next drop is a new burst reported at once", () => {
    const burst = new DropBurst("sync", 1_000);
    assert.equal(burst.drop("bad-mac", 0)?.fields.phase, "started");
    assert.equal(burst.drop("bad-mac", 400), undefined);
    assert.equal(burst.tick(1_000)?.fields.frames, 1);
    // Quiet since 400: a new burst, reported even though the summary went out 401 ms ago.
    assert.deepEqual(burst.drop("replay", 1_401)?.fields, { frames: 1, phase: "started", reason_replay: 1 });
    assert.equal(burst.drop("bad-mac", 1_500), undefined, "within the new burst");
    const again = burst.drop("replay", 2_501);
    assert.deepEqual(again?.fields, { frames: 2, phase: "started", reason_bad_mac: 1, reason_replay: 1 });
  });

  test("tick reports nothing without drops, or before an interval has passed since the last event", () => {
    const burst = new DropBurst("sync", 1_000);
    assert.equal(burst.tick(0), undefined);
    assert.equal(burst.tick(1e9), undefined);
    burst.drop("bad-mac", 100);
    burst.drop("bad-mac", 200);
    assert.equal(burst.tick(1_099), undefined);
    assert.equal(burst.tick(1_100)?.fields.frames, 1);
  });

  test("with random drops and ticks, the events count every drop exactly once by reason", () => {
    for (let seed = 1; seed <= 20; seed++) {
      const random = seededRandom(seed);
      const burst = new DropBurst("sync", 500);
      const events: HaEvent[] = [];
      const expected: Record<string, number> = {};
      let t = 0;
      for (let i = 0; i < 3_000; i++) {
        t += random() < 0.01 ? 2_000 : random() * 50;
        if (random() < 0.1) {
          const e = burst.tick(t);
          if (e) events.push(e);
          continue;
        }
        const reason = REASONS[Math.floor(random() * 3)]!;
        expected[`reason_${reason.replaceAll("-", "_")}`] = (expected[`reason_${reason.replaceAll("-", "_")}`] ?? 0) + 1;
        const e = burst.drop(reason, t);
        if (e) events.push(e);
      }
      const last = burst.tick(t + 500);
      if (last) events.push(last);
      const { frames, byReason } = totals(events);
      assert.deepEqual(byReason, expected, `seed ${seed}`);
      assert.equal(frames, Object.values(expected).reduce((a, n) => a + n, 0));
      // Never a row per frame: far fewer events than drops.
      assert.ok(events.length * 5 < frames, `seed ${seed}: ${events.length} events for ${frames} drops`);
    }
  });
});
