import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SmoothWrrScheduler } from "../../../../src/core/sched/smooth-wrr-scheduler.ts";
import { ServerPool } from "../../../../src/core/sched/server-pool.ts";
import { histogram, letters, maxRun, picks } from "./fixtures.ts";

function wrr(weights: readonly number[], count: number): number[] {
  return picks(new SmoothWrrScheduler(), new ServerPool(weights.map((weight) => ({ weight }))), count);
}

describe("wrr", () => {
  test("wrr spreads 1:2 weights as A,B,B", () => {
    // Smooth WRR starts the cycle at B; the repeating pattern is Netkestra's A,B,B rotated.
    const sequence = letters(wrr([1, 2], 12));
    assert.equal(sequence, "BAB".repeat(4));
    assert.ok(sequence.slice(1).startsWith("ABBABBABB"), sequence);
  });

  test("wrr spreads 1:3 weights as A,B,B,B", () => {
    const sequence = letters(wrr([1, 3], 12));
    assert.equal(sequence, "BABB".repeat(3));
    assert.ok(sequence.slice(1).startsWith("ABBBABBB"), sequence);
  });

  test("wrr gives 1:2:3 weights exactly 100/200/300 of 600 picks in short runs", () => {
    const sequence = wrr([1, 2, 3], 600);
    assert.deepEqual(histogram(sequence, 3), [100, 200, 300]);
    // Each cycle of six is C,B,A,C,B,C: C never runs more than twice, even across cycles.
    assert.equal(letters(sequence.slice(0, 6)), "CBACBC");
    assert.ok(maxRun(sequence) <= 2, `longest run ${maxRun(sequence)}`);
  });

  test("wrr yields the same sequence for proportional weights", () => {
    assert.deepEqual(wrr([100, 200, 300], 60), wrr([1, 2, 3], 60));
  });

  test("wrr spreads 3:5 weights without a burst of the heavier server", () => {
    // IPVS's interleaved WRR gives B,B,A,B,A,B,A,B here; smooth WRR never repeats B three times.
    const sequence = wrr([3, 5], 8);
    assert.deepEqual(histogram(sequence, 2), [3, 5]);
    assert.ok(maxRun(sequence) <= 2, letters(sequence));
  });

  test("wrr applies a live weight change from the next cycle", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 1 }]);
    const scheduler = new SmoothWrrScheduler();
    assert.equal(letters(picks(scheduler, pool, 3)), "ABA");
    pool.setWeight(1, 3); // mid-cycle: the stale credits are dropped, a fresh 1:3 cycle starts
    assert.equal(letters(picks(scheduler, pool, 8)), "BABB".repeat(2));
  });

  test("wrr skips drained, disabled, down and zero-weight servers", () => {
    const pool = new ServerPool([
      { weight: 1 },
      { weight: 5, admin: "drain" },
      { weight: 2 },
      { weight: 5, admin: "disabled" },
      { weight: 5, up: false },
      { weight: 0 },
    ]);
    assert.deepEqual(histogram(picks(new SmoothWrrScheduler(), pool, 30), 6), [10, 0, 20, 0, 0, 0]);
  });

  test("wrr returns -1 when no server is eligible", () => {
    const pool = new ServerPool([{ weight: 0 }, { admin: "drain" }]);
    assert.deepEqual(picks(new SmoothWrrScheduler(), pool, 3), [-1, -1, -1]);
  });
});

describe("adaptive", () => {
  test("adaptive starts from the administrator's weights", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 2 }]);
    assert.equal(letters(picks(new SmoothWrrScheduler(true), pool, 6)), "BABBAB");
  });

  test("adaptive follows the effective weights a controller sets", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 1 }, { weight: 1 }]);
    const adaptive = new SmoothWrrScheduler(true);
    // Netkestra's Table 3 after 40 s: 67/29/4.
    pool.setEffectiveWeight(0, 67);
    pool.setEffectiveWeight(1, 29);
    pool.setEffectiveWeight(2, 4);
    assert.deepEqual(histogram(picks(adaptive, pool, 500), 3), [335, 145, 20]);
  });

  test("adaptive ignores effective weights for servers that are not eligible", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 1, admin: "drain" }]);
    pool.setEffectiveWeight(1, 50);
    assert.deepEqual(histogram(picks(new SmoothWrrScheduler(true), pool, 10), 2), [10, 0]);
  });

  test("adaptive falls back to admin weights when every effective weight is zero", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 3 }]);
    pool.setEffectiveWeight(0, 0);
    pool.setEffectiveWeight(1, 0);
    assert.deepEqual(histogram(picks(new SmoothWrrScheduler(true), pool, 8), 2), [2, 6]);
  });
});
