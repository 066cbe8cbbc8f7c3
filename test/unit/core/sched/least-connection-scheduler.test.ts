import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LeastConnectionScheduler } from "../../../../src/core/sched/least-connection-scheduler.ts";
import { ServerPool } from "../../../../src/core/sched/server-pool.ts";
import { flow, letters, picks } from "./fixtures.ts";

/** Sets server `i`'s counts to `active` and `inactive`. */
function load(pool: ServerPool, i: number, active: number, inactive: number): void {
  for (let k = 0; k < active; k++) pool.onConnect(i);
  for (let k = 0; k < inactive; k++) pool.onConnect(i, true);
}

describe("lc", () => {
  test("lc picks the smallest active * 256 + inactive overhead", () => {
    const pool = new ServerPool([{}, {}, {}]);
    load(pool, 0, 2, 0); // 512
    load(pool, 1, 1, 300); // 556
    load(pool, 2, 1, 200); // 456
    assert.equal(new LeastConnectionScheduler().pick(pool, flow("10.0.0.1")), 2);
  });

  test("lc counts one active connection as 256 inactive ones", () => {
    const pool = new ServerPool([{}, {}]);
    load(pool, 0, 1, 0); // 256
    load(pool, 1, 0, 255); // 255
    assert.equal(new LeastConnectionScheduler().pick(pool, flow("10.0.0.1")), 1);
    load(pool, 1, 0, 2); // 257
    assert.equal(new LeastConnectionScheduler().pick(pool, flow("10.0.0.1")), 0);
  });

  test("lc breaks ties in round-robin order instead of always taking server 0", () => {
    const pool = new ServerPool([{}, {}, {}]);
    assert.equal(letters(picks(new LeastConnectionScheduler(), pool, 6)), "ABCABC");
  });

  test("lc balances connections as they open", () => {
    const pool = new ServerPool([{}, {}, {}]);
    load(pool, 0, 3, 0);
    const lc = new LeastConnectionScheduler();
    const f = flow("10.0.0.1");
    for (let k = 0; k < 6; k++) pool.onConnect(lc.pick(pool, f));
    assert.deepEqual([0, 1, 2].map((i) => pool.activeConns(i)), [3, 3, 3]);
  });

  test("lc ignores weights but skips servers that take no new connections", () => {
    const pool = new ServerPool([{ weight: 100 }, { weight: 1 }, { weight: 0 }, { admin: "drain" }, { up: false }]);
    load(pool, 0, 1, 0);
    const lc = new LeastConnectionScheduler();
    assert.equal(lc.pick(pool, flow("10.0.0.1")), 1);
    pool.setAdmin(1, "disabled");
    assert.equal(lc.pick(pool, flow("10.0.0.1")), 0);
    pool.setUp(0, false);
    assert.equal(lc.pick(pool, flow("10.0.0.1")), -1);
  });
});

describe("wlc", () => {
  test("wlc picks the smallest overhead per weight", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 3 }, { weight: 2 }]);
    load(pool, 0, 1, 0); // 256 / 1 = 256
    load(pool, 1, 2, 10); // 522 / 3 = 174
    load(pool, 2, 1, 50); // 306 / 2 = 153
    assert.equal(new LeastConnectionScheduler(true).pick(pool, flow("10.0.0.1")), 2);
  });

  test("wlc compares by cross multiplication, so equal ratios are ties", () => {
    const pool = new ServerPool([{ weight: 3 }, { weight: 6 }]);
    load(pool, 0, 1, 0); // 256 / 3
    load(pool, 1, 2, 0); // 512 / 6: the same ratio
    const wlc = new LeastConnectionScheduler(true);
    assert.equal(letters(picks(wlc, pool, 2)), "AB");
  });

  test("wlc sends new connections in proportion to the weights", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    const wlc = new LeastConnectionScheduler(true);
    const f = flow("10.0.0.1");
    for (let k = 0; k < 600; k++) pool.onConnect(wlc.pick(pool, f));
    assert.deepEqual([0, 1, 2].map((i) => pool.activeConns(i)), [100, 200, 300]);
  });

  test("wlc applies a live weight change on the next pick", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 1 }]);
    load(pool, 0, 2, 0);
    load(pool, 1, 3, 0);
    const wlc = new LeastConnectionScheduler(true);
    assert.equal(wlc.pick(pool, flow("10.0.0.1")), 0);
    pool.setWeight(1, 2); // 768 / 2 < 512 / 1
    assert.equal(wlc.pick(pool, flow("10.0.0.1")), 1);
  });

  test("wlc returns -1 when no server is eligible", () => {
    const pool = new ServerPool([{ weight: 0 }, { admin: "disabled" }]);
    assert.equal(new LeastConnectionScheduler(true).pick(pool, flow("10.0.0.1")), -1);
  });
});
