import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { alertPayload } from "../../../../src/core/alert/alert-event.ts";
import { alertEvent } from "./alert-test-helpers.ts";

describe("alertPayload", () => {
  test("the payload carries the format version, the event, the cluster and the repeat count", () => {
    const payload = alertPayload(alertEvent("link_down", "udp:private", { link: "private" }), "www", 0);
    assert.deepEqual(JSON.parse(JSON.stringify(payload)), {
      tandem: 1,
      kind: "link_down",
      subject: "udp:private",
      severity: "error",
      message: 'Event "link_down" about "udp:private"',
      time: "2026-01-01T00:00:00.000Z",
      node: "a",
      cluster: "www",
      fields: { link: "private" },
      repeat: 0,
    });
  });

  test("a time outside the Date range still gives a payload", () => {
    const payload = alertPayload({ ...alertEvent("failover"), timeMs: Number.MAX_VALUE }, "www", 0);
    assert.equal(payload.time, "1970-01-01T00:00:00.000Z");
  });
});
