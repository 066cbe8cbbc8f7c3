import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { AlertRouter, type AlertDelivery } from "../../../../src/core/alert/alert-router.ts";
import { BASE, load } from "../config/config-test-helpers.ts";
import { alertEvent, execAlert, logAlert, webhookAlert } from "./alert-test-helpers.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

/** The deliveries as "alert:kind:subject#repeat" strings, easy to compare. */
function brief(deliveries: readonly AlertDelivery[]): string[] {
  return deliveries.map((d) => `${d.alert}:${d.payload.kind}:${d.payload.subject}#${d.payload.repeat}`);
}

describe("AlertRouter routing", () => {
  test("an event goes to exactly the alerts whose on list names its kind, in config order", () => {
    const router = new AlertRouter([webhookAlert(["server_down"]), logAlert(["failover"]), execAlert(["server_down", "server_up"])], "www");
    assert.deepEqual(brief(router.route(alertEvent("server_down", "s"), 0)), ["0:server_down:s#0", "2:server_down:s#0"]);
    assert.deepEqual(brief(router.route(alertEvent("server_up", "s"), 0)), ["2:server_up:s#0"]);
    assert.deepEqual(brief(router.route(alertEvent("failover", "b"), 0)), ["1:failover:b#0"]);
    assert.deepEqual(router.route(alertEvent("config_changed", "7"), 0), []);
  });

  test("the payload names the cluster given to the router", () => {
    const [delivery] = new AlertRouter([logAlert(["failover"])], "edge").route(alertEvent("failover", "b"), 0);
    assert.equal(delivery?.payload.cluster, "edge");
  });

  test("an alert decoded from TOML routes like a literal one", () => {
    const text = `${BASE}
[[alert]]
kind = "webhook"
on = ["server_down", "server_up"]
url = "http://192.0.2.10:9000/hook"
alert_every = "5m"
`;
    const result = load(text);
    assert.equal(result.config?.alert.length, 1, JSON.stringify(result.issues));
    const router = new AlertRouter(result.config!.alert, result.config!.cluster.name);
    assert.deepEqual(brief(router.route(alertEvent("server_down", "s"), 0)), ["0:server_down:s#0"]);
    assert.deepEqual(brief(router.tick(5 * MINUTE)), ["0:server_down:s#1"]);
  });
});

describe("AlertRouter alert_every", () => {
  test("server_down repeats every alert_every until server_up closes it", () => {
    const router = new AlertRouter([webhookAlert(["server_down", "server_up"], MINUTE)], "www");
    router.route(alertEvent("server_down", "s"), 0);
    assert.equal(router.nextDueMs(), MINUTE);
    assert.deepEqual(router.tick(MINUTE - 1), []);
    assert.deepEqual(brief(router.tick(MINUTE)), ["0:server_down:s#1"]);
    assert.deepEqual(brief(router.tick(2 * MINUTE)), ["0:server_down:s#2"]);
    assert.deepEqual(brief(router.route(alertEvent("server_up", "s"), 2 * MINUTE + 5)), ["0:server_up:s#0"]);
    assert.equal(router.nextDueMs(), undefined);
    assert.deepEqual(router.tick(10 * MINUTE), []);
  });

  test("a repeat carries the original event's time and fields", () => {
    const router = new AlertRouter([webhookAlert(["server_down"], MINUTE)], "www");
    const [first] = router.route(alertEvent("server_down", "s", { reason: "timeout" }), 0);
    const [repeat] = router.tick(MINUTE);
    assert.deepEqual({ ...repeat!.payload, repeat: 0 }, first!.payload);
  });

  test("the closing event stops repeats even for an alert not subscribed to it", () => {
    const router = new AlertRouter([webhookAlert(["server_down"], MINUTE)], "www");
    router.route(alertEvent("server_down", "s"), 0);
    assert.deepEqual(router.route(alertEvent("server_up", "s"), 10), []);
    assert.deepEqual(router.tick(MINUTE), []);
  });

  test("a closing event for another subject leaves the condition open", () => {
    const router = new AlertRouter([webhookAlert(["server_down"], MINUTE)], "www");
    router.route(alertEvent("server_down", "s1"), 0);
    router.route(alertEvent("server_up", "s2"), 10);
    assert.deepEqual(brief(router.tick(MINUTE)), ["0:server_down:s1#1"]);
  });

  test("with alert_every 0 an opening event is sent once", () => {
    const router = new AlertRouter([webhookAlert(["server_down"])], "www");
    router.route(alertEvent("server_down", "s"), 0);
    assert.equal(router.nextDueMs(), undefined);
    assert.deepEqual(router.tick(DAY), []);
  });

  test("one-shot kinds never repeat", () => {
    const router = new AlertRouter([webhookAlert(["failover", "takeover", "release", "config_changed"], MINUTE)], "www");
    for (const kind of ["failover", "takeover", "release", "config_changed"] as const) assert.equal(router.route(alertEvent(kind, "a"), 0).length, 1);
    assert.equal(router.nextDueMs(), undefined);
    assert.deepEqual(router.tick(10 * MINUTE), []);
  });

  test("sync_lag repeats until a resolved sync_lag arrives, which is sent too", () => {
    const router = new AlertRouter([webhookAlert(["sync_lag"], MINUTE)], "www");
    router.route(alertEvent("sync_lag", "b"), 0);
    assert.deepEqual(brief(router.tick(MINUTE)), ["0:sync_lag:b#1"]);
    assert.deepEqual(brief(router.route(alertEvent("sync_lag", "b", { resolved: true }), MINUTE + 1)), ["0:sync_lag:b#0"]);
    assert.deepEqual(router.tick(3 * MINUTE), []);
  });

  test("a late tick sends one repeat and counts the next interval from then", () => {
    const router = new AlertRouter([webhookAlert(["link_down"], MINUTE)], "www");
    router.route(alertEvent("link_down", "udp:private"), 0);
    assert.deepEqual(brief(router.tick(5 * MINUTE)), ["0:link_down:udp:private#1"]);
    assert.equal(router.nextDueMs(), 6 * MINUTE);
  });

  test("the same opening event again restarts the interval instead of opening a second condition", () => {
    const router = new AlertRouter([webhookAlert(["peer_dead"], MINUTE)], "www");
    router.route(alertEvent("peer_dead", "b"), 0);
    router.route(alertEvent("peer_dead", "b"), 30_000);
    assert.equal(router.openConditions(0).length, 1);
    assert.deepEqual(router.tick(MINUTE), []);
    assert.deepEqual(brief(router.tick(90_000)), ["0:peer_dead:b#1"]);
  });

  test("each alert repeats at its own interval", () => {
    const router = new AlertRouter([webhookAlert(["server_down"], MINUTE), logAlert(["server_down"], 2 * MINUTE)], "www");
    router.route(alertEvent("server_down", "s"), 0);
    assert.deepEqual(brief(router.tick(MINUTE)), ["0:server_down:s#1"]);
    assert.deepEqual(brief(router.tick(2 * MINUTE)), ["0:server_down:s#2", "1:server_down:s#1"]);
  });

  test("past the cap the oldest condition stops repeating", () => {
    const router = new AlertRouter([webhookAlert(["server_down"], MINUTE)], "www", 2);
    for (const s of ["s1", "s2", "s3"]) router.route(alertEvent("server_down", s), 0);
    assert.deepEqual(router.openConditions(0).map((c) => c.subject), ["s2", "s3"]);
  });

  test("a reload keeps the open conditions of an unchanged alert, even when it moved", () => {
    const kept = webhookAlert(["server_down"], MINUTE);
    const router = new AlertRouter([logAlert(["server_down"], MINUTE), kept], "www");
    router.route(alertEvent("server_down", "s"), 0);
    router.reconfigure([{ ...kept }, logAlert(["server_down"], 2 * MINUTE)], "www");
    assert.deepEqual(router.openConditions(0).map((c) => c.key), ["server_down:s"]);
    assert.deepEqual(router.openConditions(1), []);
    assert.deepEqual(brief(router.tick(MINUTE)), ["0:server_down:s#1"]);
  });
});
