import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { alertCondition, CONDITION_CLOSERS, opensCondition } from "../../../../src/core/alert/alert-condition.ts";
import type { AlertKind } from "../../../../src/core/alert/alert-event.ts";
import { ALERT_EVENTS } from "../../../../src/core/config/schema.ts";
import { alertEvent } from "./alert-test-helpers.ts";

describe("alertCondition", () => {
  const pairs: [opener: AlertKind, closer: AlertKind][] = [
    ["server_down", "server_up"],
    ["server_flapping", "server_up"],
    ["link_down", "link_up"],
    ["peer_dead", "peer_alive"],
  ];
  for (const [opener, closer] of pairs) {
    test(`${closer} closes the condition ${opener} opened for the same subject`, () => {
      const opened = alertCondition(alertEvent(opener, "x"));
      assert.equal(opened.opens, `${opener}:x`);
      assert.ok(alertCondition(alertEvent(closer, "x")).closes.includes(opened.opens!));
      assert.ok(!alertCondition(alertEvent(closer, "y")).closes.includes(opened.opens!));
    });
  }

  test("server_up closes both the down and the flapping condition of its server", () => {
    assert.deepEqual(alertCondition(alertEvent("server_up", "s")).closes, ["server_down:s", "server_flapping:s"]);
  });

  for (const kind of ["split_brain", "sync_lag", "content_mismatch"] as const) {
    test(`${kind} opens a condition that ${kind} with resolved = true closes`, () => {
      assert.deepEqual(alertCondition(alertEvent(kind, "www")), { opens: `${kind}:www`, closes: [] });
      assert.deepEqual(alertCondition(alertEvent(kind, "www", { resolved: true })), { opens: undefined, closes: [`${kind}:www`] });
    });
  }

  test("a resolved field that is not the boolean true does not close the condition", () => {
    assert.equal(alertCondition(alertEvent("sync_lag", "www", { resolved: "true" })).opens, "sync_lag:www");
  });

  for (const kind of ["failover", "takeover", "release", "config_changed"] as const) {
    test(`${kind} is one-shot: it opens and closes nothing`, () => {
      assert.equal(opensCondition(kind), false);
      assert.deepEqual(alertCondition(alertEvent(kind)), { opens: undefined, closes: [] });
    });
  }

  test("every opener and closer in the table is an alert event kind", () => {
    for (const [opener, closers] of Object.entries(CONDITION_CLOSERS)) {
      assert.ok((ALERT_EVENTS as readonly string[]).includes(opener), opener);
      for (const closer of closers) assert.ok(ALERT_EVENTS.includes(closer), closer);
    }
  });
});
