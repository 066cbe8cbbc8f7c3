import assert from "node:assert/strict";
import { test } from "node:test";
import { FakeClock } from "../../../src/platform/fake/fake-clock.ts";

test("the fake clock fires timers in time order as it advances", () => {
  const clock = new FakeClock();
  const fired: string[] = [];
  clock.after(300, () => fired.push("c"));
  clock.after(100, () => {
    fired.push("a");
    clock.after(50, () => fired.push("a+50"));
  });
  const cancel = clock.after(200, () => fired.push("cancelled"));
  cancel();
  clock.advance(160);
  assert.deepEqual(fired, ["a", "a+50"]);
  assert.equal(clock.monotonicMs(), 160);
  clock.advance(1000);
  assert.deepEqual(fired, ["a", "a+50", "c"]);
  assert.equal(clock.pending, 0);
});

test("the memory log keeps lines stamped with the fake clock's time", async () => {
  const { memoryLog } = await import("../../../src/platform/fake/memory-log.ts");
  const clock = new FakeClock(Date.UTC(2026, 10, 21));
  const { log, lines } = memoryLog(clock);
  clock.advance(1500);
  log.info("hello", { n: 1 });
  assert.deepEqual(lines, ["2026-11-21T00:00:01.500Z info  hello n=1"]);
});
