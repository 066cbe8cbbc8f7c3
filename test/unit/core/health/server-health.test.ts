import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { HealthEvent } from "../../../../src/core/health/server-health.ts";
import { FLAP, PASSIVE, flip, health, monitor, types } from "./health-fixtures.ts";

/** rise = fall = 1, so every probe that disagrees with the checked state changes it. */
const TWITCHY = monitor({ rise: 1, fall: 1 });

describe("ServerHealth probes", () => {
  test("an up server goes down on exactly the fall-th consecutive failure", () => {
    const h = health();
    assert.equal(h.up, true);
    assert.deepEqual(types(h.probeResult(1000, false, "timeout")), []);
    assert.deepEqual(types(h.probeResult(2000, false, "timeout")), []);
    assert.equal(h.up, true);
    assert.deepEqual(types(h.probeResult(3000, false, "timeout")), ["server_down"]);
    assert.equal(h.up, false);
    assert.equal(h.state, "down");
  });

  test("a success between failures starts the fall count again", () => {
    const h = health();
    h.probeResult(1000, false, "timeout");
    h.probeResult(2000, false, "timeout");
    h.probeResult(3000, true, "ok");
    assert.deepEqual(types(h.probeResult(4000, false, "timeout")), []);
    assert.deepEqual(types(h.probeResult(5000, false, "timeout")), []);
    assert.deepEqual(types(h.probeResult(6000, false, "timeout")), ["server_down"]);
  });

  test("a down server comes up on exactly the rise-th consecutive success", () => {
    const h = health({ monitor: monitor({ rise: 3, fall: 1 }) });
    h.probeResult(1000, false, "refused");
    assert.equal(h.up, false);
    assert.deepEqual(types(h.probeResult(2000, true, "ok")), []);
    assert.deepEqual(types(h.probeResult(3000, true, "ok")), []);
    assert.deepEqual(types(h.probeResult(4000, true, "ok")), ["server_up"]);
    assert.equal(h.up, true);
  });

  test("a failure between successes starts the rise count again", () => {
    const h = health({ monitor: monitor({ initial: "down", rise: 2 }) });
    h.probeResult(1000, true, "ok");
    h.probeResult(2000, false, "timeout");
    assert.deepEqual(types(h.probeResult(3000, true, "ok")), []);
    assert.deepEqual(types(h.probeResult(4000, true, "ok")), ["server_up"]);
  });

  test("a server that starts down stays out until it has passed rise probes", () => {
    const h = health({ monitor: monitor({ initial: "down", rise: 2 }) });
    assert.equal(h.up, false);
    assert.equal(h.snapshot().reason, 'initial state "down" before the first probes');
    assert.deepEqual(types(h.probeResult(1000, true, "ok")), []);
    assert.equal(h.up, false);
    assert.deepEqual(types(h.probeResult(2000, true, "ok")), ["server_up"]);
  });

  test("repeated failures of a down server and successes of an up server emit nothing", () => {
    const h = health({ monitor: monitor({ rise: 1, fall: 1 }) });
    const events: HealthEvent[] = [];
    for (let t = 1000; t <= 5000; t += 1000) events.push(...h.probeResult(t, true, "ok"));
    for (let t = 6000; t <= 10_000; t += 1000) events.push(...h.probeResult(t, false, "refused"));
    assert.deepEqual(types(events), ["server_down"]);
  });

  test("the down event names server, service and the last probe detail", () => {
    const h = health();
    h.probeResult(1000, false, "timeout");
    h.probeResult(2000, false, "timeout");
    const [event] = h.probeResult(3000, false, "connection refused");
    assert.deepEqual(event, {
      type: "server_down",
      severity: "warn",
      message: 'Server "10.1.0.11:80" of service "http" is down: 3 consecutive probe failures, the last "connection refused"',
      fields: {
        service: "http",
        server: "10.1.0.11:80",
        up: false,
        state: "down",
        reason: '3 consecutive probe failures, the last "connection refused"',
        cause: "probe",
        detail: "connection refused",
        consecutiveSuccesses: 0,
        consecutiveFailures: 3,
        passiveFailures: 0,
      },
    });
  });

  test("the up event says how many successes brought the server back", () => {
    const h = health({ monitor: monitor({ fall: 1 }) });
    h.probeResult(1000, false, "timeout");
    h.probeResult(2000, true, "HTTP 200");
    const [event] = h.probeResult(3000, true, "HTTP 200");
    assert.equal(event?.type, "server_up");
    assert.equal(event?.severity, "info");
    assert.equal(event?.message, 'Server "10.1.0.11:80" of service "http" is up: 2 consecutive probe successes');
    assert.equal(event?.fields.up, true);
  });

  test("the snapshot carries the last probe, the counters and the time", () => {
    const h = health();
    h.probeResult(1000, true, "HTTP 200", 12);
    h.probeResult(2000, false, "HTTP 503", 40);
    const s = h.snapshot();
    assert.deepEqual(s.lastProbe, { ok: false, detail: "HTTP 503", atMs: 2000, responseMs: 40 });
    assert.equal(s.consecutiveFailures, 1);
    assert.equal(s.consecutiveSuccesses, 0);
    assert.equal(s.monitored, true);
    assert.equal(s.nowMs, 2000);
    assert.equal(s.state, "up");
    assert.equal(s.up, true);
  });

  test("a probe result for a server without a monitor is refused loudly", () => {
    const h = health({ monitor: undefined });
    assert.throws(() => h.probeResult(1000, true, "ok"), /Cannot apply a probe result to server "10\.1\.0\.11:80" of service "http": it has no active monitor/);
  });

  test("a server without a monitor starts up and says why", () => {
    const h = health({ monitor: undefined });
    assert.equal(h.up, true);
    assert.equal(h.snapshot().reason, "no active monitor");
    assert.equal(h.snapshot().monitored, false);
  });

  test("a time earlier than one already seen counts as the latest one", () => {
    const h = health();
    h.probeResult(5000, false, "timeout");
    h.probeResult(1000, false, "timeout");
    assert.equal(h.snapshot().lastProbe?.atMs, 5000);
    assert.equal(h.snapshot().nowMs, 5000);
  });
});

describe("ServerHealth passive health", () => {
  test("failures reaching the threshold within the window take an up server down at once", () => {
    const h = health();
    assert.deepEqual(types(h.passiveFailure(0, "refused")), []);
    assert.deepEqual(types(h.passiveFailure(1000, "timeout")), []);
    const events = h.passiveFailure(2000, "reset");
    assert.deepEqual(types(events), ["server_down"]);
    assert.equal(events[0]?.message, 'Server "10.1.0.11:80" of service "http" is down: 3 passive failures within 10s, the last "reset"');
    assert.equal(events[0]?.fields.cause, "passive");
    assert.equal(events[0]?.fields.kind, "reset");
    assert.equal(h.snapshot().cause, "passive");
  });

  test("a failure exactly a window old no longer counts", () => {
    const h = health();
    h.passiveFailure(0, "refused");
    h.passiveFailure(5000, "refused");
    assert.deepEqual(types(h.passiveFailure(10_000, "refused")), []);
    assert.equal(h.snapshot().passiveFailures, 2);
    assert.deepEqual(types(h.passiveFailure(12_000, "refused")), ["server_down"]);
  });

  test("a failure just under a window old still counts", () => {
    const h = health();
    h.passiveFailure(0, "refused");
    h.passiveFailure(5000, "refused");
    assert.deepEqual(types(h.passiveFailure(9999, "refused")), ["server_down"]);
  });

  test("failures are ignored when passive health is disabled", () => {
    const h = health({ passive: { ...PASSIVE, enabled: false } });
    for (let t = 0; t < 10; t++) assert.deepEqual(h.passiveFailure(t, "reset"), []);
    assert.equal(h.up, true);
    assert.equal(h.snapshot().passiveFailures, 0);
  });

  test("a passive-down server with a monitor comes back only through rise probe successes", () => {
    const h = health();
    for (const t of [0, 1000, 2000]) h.passiveFailure(t, "refused");
    assert.equal(h.nextDeadlineMs, undefined);
    assert.deepEqual(h.tick(1_000_000), []);
    assert.equal(h.up, false);
    assert.deepEqual(types(h.probeResult(1_001_000, true, "ok")), []);
    const events = h.probeResult(1_002_000, true, "ok");
    assert.deepEqual(types(events), ["server_up"]);
    assert.equal(events[0]?.fields.reason, "2 consecutive probe successes");
  });

  test("probe successes before a passive down do not count towards rise", () => {
    const h = health();
    for (const t of [0, 1000, 2000]) h.probeResult(t, true, "ok");
    for (const t of [3000, 3100, 3200]) h.passiveFailure(t, "reset");
    assert.equal(h.snapshot().consecutiveSuccesses, 0);
    assert.deepEqual(types(h.probeResult(4000, true, "ok")), []);
    assert.deepEqual(types(h.probeResult(5000, true, "ok")), ["server_up"]);
  });

  test("failures seen while a server was down do not count once it is up again", () => {
    const h = health();
    for (const t of [0, 1000, 2000]) h.passiveFailure(t, "refused");
    h.passiveFailure(3000, "reset");
    h.passiveFailure(3500, "reset");
    h.probeResult(4000, true, "ok");
    assert.deepEqual(types(h.probeResult(5000, true, "ok")), ["server_up"]);
    assert.deepEqual(types(h.passiveFailure(6000, "reset")), []);
    assert.equal(h.up, true);
    assert.equal(h.snapshot().passiveFailures, 1);
  });

  test("a threshold of one passive failure takes a server down on the first, in the singular", () => {
    const h = health({ passive: { ...PASSIVE, failures: 1 } });
    const [event] = h.passiveFailure(500, "timeout");
    assert.equal(event?.message, 'Server "10.1.0.11:80" of service "http" is down: 1 passive failure within 10s, the last "timeout"');
  });

  test("a passive-down server without a monitor comes back once its window passes without failures", () => {
    const h = health({ monitor: undefined });
    for (const t of [0, 1000, 2000]) h.passiveFailure(t, "refused");
    assert.equal(h.up, false);
    assert.equal(h.nextDeadlineMs, 12_000);
    assert.deepEqual(h.tick(11_999), []);
    const events = h.tick(12_000);
    assert.deepEqual(types(events), ["server_up"]);
    assert.equal(events[0]?.message, 'Server "10.1.0.11:80" of service "http" is up: no passive failures for 10s');
    assert.equal(h.snapshot().cause, "passive-quiet");
    assert.equal(h.nextDeadlineMs, undefined);
  });

  test("a failure while passive-down pushes the return of a server without a monitor back", () => {
    const h = health({ monitor: undefined });
    for (const t of [0, 1000, 2000]) h.passiveFailure(t, "refused");
    h.passiveFailure(5000, "timeout");
    assert.equal(h.nextDeadlineMs, 15_000);
    assert.deepEqual(h.tick(12_000), []);
    assert.deepEqual(types(h.tick(15_000)), ["server_up"]);
  });

  test("a server without a monitor that keeps failing is held down as flapping", () => {
    const h = health({ monitor: undefined });
    const events: HealthEvent[] = [];
    for (const t of [0, 1000, 2000]) events.push(...h.passiveFailure(t, "refused"));
    events.push(...h.tick(12_000));
    for (const t of [13_000, 14_000, 15_000]) events.push(...h.passiveFailure(t, "refused"));
    events.push(...h.tick(25_000));
    assert.deepEqual(types(events), ["server_down", "server_up", "server_down", "server_flapping"]);
    assert.equal(h.up, false);
    assert.equal(h.state, "up");
    assert.equal(h.nextDeadlineMs, 55_000);
  });
});

describe("ServerHealth flap damping", () => {
  test("max_changes within the window hold a server down for the first hold time", () => {
    const h = health({ monitor: TWITCHY });
    const { events, lastMs } = flip(h, 1000, 4);
    assert.equal(lastMs, 4000);
    assert.deepEqual(types(events), ["server_down", "server_up", "server_down", "server_flapping"]);
    const flapping = events[3]!;
    assert.equal(flapping.message, 'Server "10.1.0.11:80" of service "http" is flapping: 4 state changes within 1m; held down for 30s (hold level 1)');
    assert.equal(flapping.fields.holdMs, 30_000);
    assert.equal(flapping.fields.up, false);
    assert.equal(h.state, "up");
    assert.equal(h.up, false);
    const s = h.snapshot();
    assert.equal(s.flapping, true);
    assert.equal(s.heldUntilMs, 34_000);
    assert.equal(s.holdLevel, 1);
    assert.equal(s.changesInWindow, 0);
    assert.equal(s.nextHoldMs, 60_000);
  });

  test("an episode completed by a change to down reports server_down, then server_flapping", () => {
    const h = health({ monitor: TWITCHY, flap: { ...FLAP, max_changes: 3 } });
    const { events } = flip(h, 1000, 3);
    assert.deepEqual(types(events), ["server_down", "server_up", "server_down", "server_flapping"]);
  });

  test("changes older than the flap window do not count", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 3);
    assert.equal(h.snapshot().changesInWindow, 3);
    assert.deepEqual(types(h.probeResult(61_000, true, "ok")), ["server_up"]);
    assert.equal(h.snapshot().changesInWindow, 3);
    assert.equal(h.up, true);
  });

  test("a change just inside the flap window still counts", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 3);
    assert.deepEqual(types(h.probeResult(60_999, true, "ok")), ["server_flapping"]);
  });

  test("a held server stays down while its probes pass and comes up when the hold ends", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    for (let t = 5000; t < 34_000; t += 1000) assert.deepEqual(h.probeResult(t, true, "ok"), []);
    assert.equal(h.nextDeadlineMs, 34_000);
    assert.deepEqual(h.tick(33_999), []);
    const events = h.tick(34_000);
    assert.deepEqual(types(events), ["server_hold_released", "server_up"]);
    assert.equal(events[0]?.message, 'Server "10.1.0.11:80" of service "http" is no longer held down after 30s; its checks say it is up');
    assert.equal(events[1]?.message, 'Server "10.1.0.11:80" of service "http" is up: its flap hold-down of 30s ended');
    assert.equal(h.up, true);
    assert.equal(h.snapshot().flapping, false);
  });

  test("a held server that goes down underneath raises no second server_down", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    assert.deepEqual(h.probeResult(10_000, false, "timeout"), []);
    assert.equal(h.state, "down");
    const released = h.tick(34_000);
    assert.deepEqual(types(released), ["server_hold_released"]);
    assert.match(released[0]!.message, /after 30s; it stays down: 1 consecutive probe failure, the last "timeout"$/);
    assert.equal(h.up, false);
    assert.deepEqual(types(h.probeResult(35_000, true, "ok")), ["server_up"]);
  });

  test("a hold that ends between two inputs is applied at its own time", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    const events = h.probeResult(100_000, false, "timeout");
    assert.deepEqual(types(events), ["server_hold_released", "server_up", "server_down"]);
    assert.equal(events[0]?.fields.heldMs, 30_000);
  });

  test("each further episode doubles the hold, capped at hold_max", () => {
    const h = health({ monitor: TWITCHY });
    const holds: unknown[] = [];
    let t = 1000;
    for (let episode = 0; episode < 4; episode++) {
      const { events, lastMs } = flip(h, t, 4);
      const flapping = events.find((e) => e.type === "server_flapping");
      assert.ok(flapping, `episode ${episode} flapped`);
      holds.push(flapping.fields.holdMs);
      assert.equal(h.snapshot().heldUntilMs, lastMs + (flapping.fields.holdMs as number));
      assert.equal(h.snapshot().holdLevel, episode + 1);
      t = h.nextDeadlineMs!;
      assert.deepEqual(types(h.tick(t)), ["server_hold_released", "server_up"]);
      t += 1000;
    }
    assert.deepEqual(holds, [30_000, 60_000, 100_000, 100_000]);
  });

  test("flapping again while held extends the hold at the next level", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    const { events } = flip(h, 5000, 4);
    assert.deepEqual(types(events), ["server_flapping"]);
    assert.equal(events[0]?.fields.extended, true);
    assert.equal(events[0]?.fields.holdMs, 60_000);
    assert.equal(events[0]?.message, 'Server "10.1.0.11:80" of service "http" is still flapping: 4 state changes within 1m; hold-down extended by 1m (hold level 2)');
    assert.equal(h.snapshot().heldUntilMs, 68_000);
    const released = h.tick(68_000);
    assert.deepEqual(types(released), ["server_hold_released", "server_up"]);
    assert.equal(released[0]?.fields.heldMs, 64_000);
  });

  test("the hold falls back to the first hold time after max(hold_max, window) without flapping", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    h.tick(34_000);
    // hold_max (100 s) is the longer: the level decays at 34 s + 100 s.
    h.tick(133_999);
    assert.equal(h.snapshot().holdLevel, 1);
    h.tick(134_000);
    assert.equal(h.snapshot().holdLevel, 0);
    assert.equal(h.snapshot().nextHoldMs, 30_000);
    const { events } = flip(h, 135_000, 4);
    assert.equal(events.find((e) => e.type === "server_flapping")?.fields.holdMs, 30_000);
  });

  test("an episode just before the quiet period ends still gets the doubled hold", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    h.tick(34_000);
    const { events, lastMs } = flip(h, 130_999, 4);
    assert.equal(lastMs, 133_999);
    assert.equal(events.find((e) => e.type === "server_flapping")?.fields.holdMs, 60_000);
  });

  test("an episode completed exactly when the quiet period ends starts again at the first hold", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    h.tick(34_000);
    const { events, lastMs } = flip(h, 131_000, 4);
    assert.equal(lastMs, 134_000);
    assert.equal(events.find((e) => e.type === "server_flapping")?.fields.holdMs, 30_000);
  });

  test("the quiet period is the flap window when that is longer than hold_max", () => {
    const h = health({ monitor: TWITCHY, flap: { window: 300_000, max_changes: 4, hold: 30_000, hold_max: 100_000 } });
    flip(h, 1000, 4);
    h.tick(34_000);
    h.tick(333_999);
    assert.equal(h.snapshot().holdLevel, 1);
    h.tick(334_000);
    assert.equal(h.snapshot().holdLevel, 0);
  });

  test("changes that made an episode are consumed by it", () => {
    const h = health({ monitor: TWITCHY });
    flip(h, 1000, 4);
    h.tick(34_000);
    // Three new changes within the window of the old four: not yet a new episode.
    const { events } = flip(h, 35_000, 3);
    assert.deepEqual(types(events), ["server_down", "server_up", "server_down"]);
    assert.equal(h.snapshot().flapping, false);
  });
});
