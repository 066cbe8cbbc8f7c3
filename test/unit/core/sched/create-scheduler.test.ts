import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createScheduler } from "../../../../src/core/sched/create-scheduler.ts";
import { SCHEDULER_KINDS } from "../../../../src/core/sched/scheduler.ts";
import { ServerPool } from "../../../../src/core/sched/server-pool.ts";
import { flow } from "./fixtures.ts";

describe("createScheduler", () => {
  test("every kind builds a scheduler that reports its kind", () => {
    for (const kind of SCHEDULER_KINDS) assert.equal(createScheduler(kind).kind, kind);
  });

  test("every kind returns -1 when no server is eligible", () => {
    const pool = new ServerPool([{ up: false }, { admin: "drain" }, { admin: "disabled" }, { weight: 0 }]);
    for (const kind of SCHEDULER_KINDS) {
      assert.equal(createScheduler(kind).pick(pool, flow("10.0.0.1")), -1, kind);
    }
  });

  test("every kind picks only eligible servers", () => {
    const pool = new ServerPool([
      { up: false },
      { weight: 2 },
      { admin: "drain" },
      { weight: 1 },
      { admin: "disabled" },
    ]);
    for (const kind of SCHEDULER_KINDS) {
      const scheduler = createScheduler(kind);
      for (let i = 0; i < 200; i++) {
        const picked = scheduler.pick(pool, flow(0x0a000000 + i, i));
        assert.ok(picked === 1 || picked === 3, `${kind} picked ${picked}`);
      }
    }
  });

  test("sh options reach the Maglev table", () => {
    assert.throws(() => createScheduler("sh", { shTableSize: 100 }), /Maglev table size "100"/);
  });

  test("an unknown kind is rejected with a clear message", () => {
    assert.throws(() => createScheduler("random" as never), /Scheduler "random" is unknown/);
  });
});
