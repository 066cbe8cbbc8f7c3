import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SyncLagAlarm } from "../../../../src/core/sync/sync-lag-alarm.ts";

const GRACE = 10_000;

describe("sync lag alarm", () => {
  test("a new standby that never gets a table opens once, after the grace, and never repeats", () => {
    const a = new SyncLagAlarm(GRACE);
    assert.equal(a.role(true, 1000), undefined);
    assert.equal(a.tick(1000 + GRACE - 1), undefined);
    assert.deepEqual(a.tick(1000 + GRACE), { kind: "open", outOfSyncMs: GRACE, reason: "no full table received yet" });
    assert.equal(a.tick(1000 + 3 * GRACE), undefined);
  });

  test("a loss mended within the grace says nothing", () => {
    const a = new SyncLagAlarm(GRACE);
    a.role(true, 0);
    assert.equal(a.syncState(true, "", 500), undefined);
    assert.equal(a.syncState(false, "gap", 20_000), undefined);
    assert.equal(a.tick(20_000 + GRACE - 1), undefined);
    assert.equal(a.syncState(true, "", 20_000 + GRACE - 1), undefined);
    assert.equal(a.tick(20_000 + 5 * GRACE), undefined);
  });

  test("a long loss opens with its reason and is resolved, with the whole duration, when synced again", () => {
    const a = new SyncLagAlarm(GRACE);
    a.role(true, 0);
    a.syncState(true, "", 100);
    a.syncState(false, "new-sender", 5000);
    assert.deepEqual(a.tick(5000 + GRACE + 20), { kind: "open", outOfSyncMs: GRACE + 20, reason: "new-sender" });
    assert.deepEqual(a.syncState(true, "", 40_000), { kind: "resolved", outOfSyncMs: 35_000, reason: "the table is synced again" });
    // Resolved is a transition too: a second "synced" says nothing.
    assert.equal(a.syncState(true, "", 41_000), undefined);
  });

  test("becoming active resolves an open alarm, and an active node is never watched", () => {
    const a = new SyncLagAlarm(GRACE);
    a.role(true, 0);
    assert.equal(a.tick(GRACE)?.kind, "open");
    assert.deepEqual(a.role(false, GRACE + 1000), { kind: "resolved", outOfSyncMs: GRACE + 1000, reason: "this node is no longer standby" });
    a.syncState(false, "gap", 2 * GRACE);
    assert.equal(a.tick(10 * GRACE), undefined);
  });

  test("a standby again starts a fresh grace, whatever its table was before", () => {
    const a = new SyncLagAlarm(GRACE);
    a.role(true, 0);
    a.syncState(true, "", 100);
    a.role(false, 1000);
    a.role(true, 50_000);
    assert.equal(a.tick(50_000 + GRACE - 1), undefined);
    assert.deepEqual(a.tick(50_000 + GRACE), { kind: "open", outOfSyncMs: GRACE, reason: "no full table received yet" });
  });
});
