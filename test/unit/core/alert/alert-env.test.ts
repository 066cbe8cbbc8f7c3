import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { alertEnv, alertFieldVariable } from "../../../../src/core/alert/alert-env.ts";
import { alertPayload } from "../../../../src/core/alert/alert-event.ts";
import { alertEvent } from "./alert-test-helpers.ts";

describe("alertEnv", () => {
  test("field names become upper-case TANDEM_FIELD_ variables, camelCase split", () => {
    assert.equal(alertFieldVariable("address"), "TANDEM_FIELD_ADDRESS");
    assert.equal(alertFieldVariable("peerName"), "TANDEM_FIELD_PEER_NAME");
    assert.equal(alertFieldVariable("peer-name"), "TANDEM_FIELD_PEER_NAME");
    assert.equal(alertFieldVariable("rtt.p99Ms"), "TANDEM_FIELD_RTT_P99_MS");
  });

  test("every payload key is in the environment, the detail as the whole JSON payload", () => {
    const payload = alertPayload(alertEvent("server_down", "http/10.201.0.11:80", { port: 80, passive: false, reason: "timeout" }), "www", 2);
    assert.deepEqual(alertEnv(payload), {
      TANDEM_EVENT: "server_down",
      TANDEM_SUBJECT: "http/10.201.0.11:80",
      TANDEM_SEVERITY: "error",
      TANDEM_MESSAGE: 'Event "server_down" about "http/10.201.0.11:80"',
      TANDEM_NODE: "a",
      TANDEM_CLUSTER: "www",
      TANDEM_TIME: "2026-01-01T00:00:00.000Z",
      TANDEM_REPEAT: "2",
      TANDEM_DETAIL: JSON.stringify(payload),
      TANDEM_FIELD_PORT: "80",
      TANDEM_FIELD_PASSIVE: "false",
      TANDEM_FIELD_REASON: "timeout",
    });
  });

  test("a field cannot override a fixed variable", () => {
    const env = alertEnv(alertPayload(alertEvent("failover", "a", { event: "forged" }), "www", 0));
    assert.equal(env.TANDEM_EVENT, "failover");
    assert.equal(env.TANDEM_FIELD_EVENT, "forged");
  });
});
