import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DROP_REASON_SLOTS, DropCounters, DropReason, dropReasonNames } from "../../../../src/core/packet/drop-reason.ts";

describe("drop reasons", () => {
  test("every code from 1 has the snake_case name of its key, and nothing else does", () => {
    const entries = Object.entries(DropReason);
    assert.equal(entries.length, DROP_REASON_SLOTS - 1);
    for (const [key, code] of entries) {
      const snake = key.replace(/[A-Z]/g, (c, i: number) => (i === 0 ? "" : "_") + c.toLowerCase());
      assert.equal(dropReasonNames[code], snake);
    }
    assert.deepEqual([...new Set(Object.values(DropReason))].sort((a, b) => a - b), Array.from({ length: DROP_REASON_SLOTS - 1 }, (_, i) => i + 1));
  });

  test("counters count per reason, ignore unknown codes and snapshot by name", () => {
    const drops = new DropCounters();
    drops.count(DropReason.Truncated);
    drops.count(DropReason.Truncated);
    drops.count(DropReason.NoServer);
    drops.count(0);
    drops.count(-3);
    drops.count(DROP_REASON_SLOTS);
    drops.count(Number.NaN);
    assert.equal(drops.get(DropReason.Truncated), 2);
    assert.equal(drops.get(999), 0);
    assert.equal(drops.total(), 3);
    const snap = drops.snapshot();
    assert.equal(snap["truncated"], 2);
    assert.equal(snap["no_server"], 1);
    assert.equal(snap["bad_ihl"], 0);
    assert.equal(Object.keys(snap).length, DROP_REASON_SLOTS - 1);
    drops.reset();
    assert.equal(drops.total(), 0);
  });

  test("counters over a shared buffer are visible through a second instance", () => {
    const shared = new SharedArrayBuffer(DropCounters.byteLength);
    const writer = new DropCounters(shared);
    const reader = new DropCounters(shared);
    writer.count(DropReason.TableFull);
    assert.equal(reader.get(DropReason.TableFull), 1);
  });
});
