import assert from "node:assert/strict";
import { test } from "node:test";
import { formatDurationMs, parseDurationMs } from "../../../../src/core/config/duration.ts";

test("durations parse with every unit and in combination", () => {
  const table: [string, number | undefined][] = [
    ["500ms", 500], ["2s", 2000], ["1.5s", 1500], ["1m30s", 90_000], ["1h", 3_600_000], ["7d", 604_800_000], ["0s", 0],
    ["2", undefined], ["", undefined], ["-1s", undefined], ["2 s", undefined], ["1sec", undefined], ["s", undefined], ["1.s", undefined],
  ];
  for (const [text, ms] of table) assert.equal(parseDurationMs(text), ms, text);
});

test("durations format with the largest exact unit", () => {
  assert.deepEqual([0, 250, 1000, 1500, 90_000, 120_000, 3_600_000, 86_400_000].map(formatDurationMs), ["0s", "250ms", "1s", "1500ms", "90s", "2m", "1h", "1d"]);
});
