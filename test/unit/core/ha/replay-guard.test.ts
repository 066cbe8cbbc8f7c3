import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { REPLAY_MAX_NODES, REPLAY_WINDOW_SIZE, ReplayGuard } from "../../../../src/core/ha/replay-guard.ts";
import type { ReplayVerdict } from "../../../../src/core/ha/replay-guard.ts";
import { seededRandom } from "../crypto/random.ts";

const W = REPLAY_WINDOW_SIZE;

describe("ReplayGuard", () => {
  test("the first message of a node is fresh and the same seq again is a replay", () => {
    const guard = new ReplayGuard();
    assert.equal(guard.accept("beta", 5, 0, 1), "ok");
    assert.equal(guard.accept("beta", 5, 0, 1), "replay");
    assert.equal(guard.accept("beta", 5, 0, 2), "ok");
    assert.equal(guard.accept("beta", 5, 0, 2), "replay");
  });

  test("check alone records nothing; commit does", () => {
    const guard = new ReplayGuard();
    assert.equal(guard.check("beta", 5, 0, 1), "ok");
    assert.equal(guard.check("beta", 5, 0, 1), "ok");
    assert.equal(guard.generationOf("beta"), undefined);
    guard.commit("beta", 5, 0, 1);
    assert.equal(guard.check("beta", 5, 0, 1), "replay");
    assert.equal(guard.generationOf("beta"), 5);
  });

  test("late messages inside the window are accepted once; at or beyond its left edge they are replays", () => {
    const guard = new ReplayGuard();
    assert.equal(guard.accept("beta", 1, 2, 1000), "ok");
    assert.equal(guard.accept("beta", 1, 2, 990), "ok");
    assert.equal(guard.accept("beta", 1, 2, 990), "replay");
    assert.equal(guard.accept("beta", 1, 2, 1000 - W + 1), "ok", "the oldest number in the window");
    assert.equal(guard.accept("beta", 1, 2, 1000 - W), "replay", "just left of the window");
    assert.equal(guard.accept("beta", 1, 2, 1), "replay");
  });

  test("a jump of more than a window forgets every older number, but not the ones seen inside the new window", () => {
    const guard = new ReplayGuard();
    for (let seq = 1; seq <= 10; seq++) assert.equal(guard.accept("beta", 1, 0, seq), "ok");
    assert.equal(guard.accept("beta", 1, 0, 10 + W + 5), "ok");
    assert.equal(guard.accept("beta", 1, 0, 10), "replay", "now left of the window");
    assert.equal(guard.accept("beta", 1, 0, 10 + W), "ok", "inside the window, never seen, although its ring slot held seq 10's neighbour");
    assert.equal(guard.accept("beta", 1, 0, 10 + W), "replay");
  });

  test("a slide of less than a window keeps the numbers still inside it", () => {
    const guard = new ReplayGuard();
    assert.equal(guard.accept("beta", 1, 0, 50), "ok");
    assert.equal(guard.accept("beta", 1, 0, 60), "ok");
    assert.equal(guard.accept("beta", 1, 0, 50 + W - 1), "ok");
    assert.equal(guard.accept("beta", 1, 0, 60), "replay");
    assert.equal(guard.accept("beta", 1, 0, 50), "replay", "left of the window now");
    assert.equal(guard.accept("beta", 1, 0, 59), "ok");
  });

  test("sequence numbers above 2^32 work the same", () => {
    const guard = new ReplayGuard();
    const base = 2 ** 40 + 7;
    assert.equal(guard.accept("beta", 1, 0, base), "ok");
    assert.equal(guard.accept("beta", 1, 0, base - 1), "ok");
    assert.equal(guard.accept("beta", 1, 0, base - 1), "replay");
    assert.equal(guard.accept("beta", 1, 0, Number.MAX_SAFE_INTEGER), "ok");
    assert.equal(guard.accept("beta", 1, 0, base), "replay");
  });

  test("every link has its own window, so a copy of link 0's message is a replay on link 0 whatever link 1 saw", () => {
    const guard = new ReplayGuard();
    assert.equal(guard.accept("beta", 1, 0, 7), "ok");
    assert.equal(guard.accept("beta", 1, 1, 7), "ok", "link 1 numbers its own messages");
    assert.equal(guard.accept("beta", 1, 1, 500), "ok");
    assert.equal(guard.accept("beta", 1, 0, 7), "replay");
    assert.equal(guard.accept("beta", 1, 0, 8), "ok");
  });

  test("a newer generation resets the node's windows and an older one is refused", () => {
    const guard = new ReplayGuard();
    assert.equal(guard.accept("beta", 10, 0, 100), "ok");
    assert.equal(guard.accept("beta", 10, 1, 100), "ok");
    assert.equal(guard.accept("beta", 11, 0, 1), "ok", "restart numbers from 1 again");
    assert.equal(guard.accept("beta", 11, 1, 1), "ok", "link 1's window was reset too");
    assert.equal(guard.accept("beta", 11, 0, 1), "replay");
    assert.equal(guard.accept("beta", 10, 0, 101), "old-generation");
    assert.equal(guard.generationOf("beta"), 11);
  });

  test("an unauthenticated old-generation message committed by mistake changes nothing", () => {
    const guard = new ReplayGuard();
    guard.commit("beta", 11, 0, 5);
    guard.commit("beta", 10, 0, 9);
    assert.equal(guard.generationOf("beta"), 11);
    assert.equal(guard.check("beta", 11, 0, 9), "ok");
  });

  test("nodes are independent", () => {
    const guard = new ReplayGuard();
    assert.equal(guard.accept("alpha", 1, 0, 1), "ok");
    assert.equal(guard.accept("beta", 1, 0, 1), "ok");
    assert.equal(guard.accept("beta", 0, 0, 2), "old-generation");
    assert.equal(guard.accept("gamma", 0, 0, 2), "ok");
  });

  test("nodes beyond the limit are refused as unknown until one is forgotten", () => {
    const guard = new ReplayGuard();
    for (let i = 0; i < REPLAY_MAX_NODES; i++) assert.equal(guard.accept(`node-${i}`, 1, 0, 1), "ok");
    assert.equal(guard.check("intruder", 1, 0, 1), "unknown");
    assert.equal(guard.accept("intruder", 1, 0, 1), "unknown");
    assert.equal(guard.accept("node-0", 1, 0, 2), "ok", "known nodes still work");
    assert.equal(guard.forget("node-3"), true);
    assert.equal(guard.forget("node-3"), false);
    assert.equal(guard.accept("intruder", 1, 0, 1), "ok");
    assert.equal(guard.accept("node-3", 1, 0, 1), "unknown");
  });

  test("values the decoder never produces throw a RangeError", () => {
    const guard = new ReplayGuard();
    assert.throws(() => guard.check("beta", 1, 8, 1), RangeError);
    assert.throws(() => guard.check("beta", 1, -1, 1), RangeError);
    assert.throws(() => guard.check("beta", 1, 0, 0), RangeError);
    assert.throws(() => guard.check("beta", -1, 0, 1), RangeError);
    assert.throws(() => guard.check("beta", 1, 0, 2 ** 53), RangeError);
  });

  test("verdicts match a set-based model over random arrivals", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const random = seededRandom(seed);
      const guard = new ReplayGuard();
      const seen = new Set<number>();
      let highest = 0;
      for (let i = 0; i < 20_000; i++) {
        // Mostly near the top, some far ahead or far behind, to cross every branch.
        const r = random();
        const delta = r < 0.8 ? Math.floor(random() * 2.5 * W) - 2 * W : r < 0.95 ? Math.floor(random() * 4) : Math.floor(random() * 5 * W);
        const seq = Math.max(1, highest + delta);
        const expected: ReplayVerdict = seq > highest || (seq > highest - W && !seen.has(seq)) ? "ok" : "replay";
        assert.equal(guard.accept("beta", 1, 0, seq), expected, `seed ${seed} step ${i} seq ${seq} highest ${highest}`);
        if (expected === "ok") {
          seen.add(seq);
          highest = Math.max(highest, seq);
        }
      }
    }
  });
});
