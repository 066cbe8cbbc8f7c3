import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RoundRobinScheduler } from "../../../../src/core/sched/round-robin-scheduler.ts";
import { ServerPool } from "../../../../src/core/sched/server-pool.ts";
import { letters, picks } from "./fixtures.ts";

describe("rr", () => {
  test("rr takes the servers in turn, ignoring weights", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 5 }, { weight: 9 }]);
    assert.equal(letters(picks(new RoundRobinScheduler(), pool, 7)), "ABCABCA");
  });

  test("rr skips drained, disabled and down servers without favouring their neighbours", () => {
    const pool = new ServerPool([{}, { admin: "drain" }, {}, { admin: "disabled" }, { up: false }, {}, { weight: 0 }]);
    // A naive skip (move to the next slot after the ineligible one) would not change this, but a
    // random or fixed restart point would send C or F twice in a row.
    assert.equal(letters(picks(new RoundRobinScheduler(), pool, 9)), "ACFACFACF");
  });

  test("rr adapts on the next pick when a server goes down and comes back", () => {
    const pool = new ServerPool([{}, {}, {}]);
    const rr = new RoundRobinScheduler();
    const before = picks(rr, pool, 2); // A, B
    pool.setUp(2, false);
    const during = picks(rr, pool, 3); // C is skipped
    pool.setUp(2, true);
    const after = picks(rr, pool, 3);
    assert.equal(letters([...before, ...during, ...after]), "AB" + "ABA" + "BCA");
  });

  test("rr returns -1 when no server is eligible", () => {
    const rr = new RoundRobinScheduler();
    assert.deepEqual(picks(rr, new ServerPool(), 2), [-1, -1]);
    const pool = new ServerPool([{ up: false }, { admin: "drain" }]);
    assert.deepEqual(picks(rr, pool, 2), [-1, -1]);
    pool.setUp(0, true);
    assert.deepEqual(picks(rr, pool, 2), [0, 0]);
  });
});
