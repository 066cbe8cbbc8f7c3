import assert from "node:assert/strict";
import { test } from "node:test";
import { createLog, formatLogLine } from "../../../../src/core/log/create-log.ts";

const clock = { wallMs: () => Date.UTC(2026, 10, 21, 10, 0, 0) };

test("a log line is logfmt with quoting where needed", () => {
  assert.equal(formatLogLine(clock.wallMs(), "info", "Starting", { node: "seven", note: "two words", n: 3, gone: undefined }), '2026-11-21T10:00:00.000Z info  Starting node=seven note="two words" n=3');
});

test("lines below the level are dropped and with() adds fields", () => {
  const out: string[] = [];
  const log = createLog((l) => out.push(l), "info", clock).with({ node: "a" });
  log.debug("hidden");
  log.warn("shown", { x: 1 });
  assert.deepEqual(out, ["2026-11-21T10:00:00.000Z warn  shown node=a x=1"]);
});

test("a throwing sink never throws out of the logger", () => {
  const log = createLog(() => {
    throw new Error("stderr closed");
  }, "debug", clock);
  assert.doesNotThrow(() => log.error("still fine"));
});
