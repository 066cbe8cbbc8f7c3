import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Pair, TIMING, type SimNodeSpec } from "./ha-pair-harness.ts";

const { deadtimeMs, initdeadMs, tickMs, claimMs, fenceMs, garpRepeatAfterMs } = TIMING;

type Extras = Partial<Omit<SimNodeSpec, "name">>;

/** A pair started together and settled: "a" (priority 200) active, "b" (100) standby and synced. */
function settledPair(a: Extras = {}, b: Extras = {}): Pair {
  const pair = new Pair({ name: "a", priority: 200, ...a }, { name: "b", priority: 100, ...b });
  pair.start("a");
  pair.start("b");
  pair.run(200);
  pair.setSynced("b", true);
  pair.run(200);
  assert.equal(pair.roles(), "a:active b:standby");
  return pair;
}

describe("start-up", () => {
  test("two nodes starting together elect the higher priority, which claims and announces the VIPs", () => {
    const pair = new Pair({ name: "a", priority: 100 }, { name: "b", priority: 200 });
    pair.start("a");
    pair.start("b");
    pair.run(garpRepeatAfterMs + 100);
    assert.equal(pair.roles(), "a:standby b:active");
    const reason = 'elected: "b" has the higher priority (200 > 100)';
    assert.deepEqual(pair.node("b").effects(), [{ type: "claimVips", reason }, { type: "garp", burst: "first" }, { type: "garp", burst: "repeat" }]);
    assert.deepEqual(pair.node("a").effects(), []);
    assert.deepEqual(pair.node("a").events("role-change").map((e) => e.fields.to), ["standby"]);
  });

  test("equal priorities elect the node whose name sorts first", () => {
    const pair = new Pair({ name: "b", priority: 100 }, { name: "a", priority: 100 });
    pair.start("b");
    pair.start("a");
    pair.run(500);
    assert.equal(pair.roles(), "b:standby a:active");
    assert.equal(pair.node("a").state!.roleReason, 'elected: equal priority 100, "a" sorts first');
  });

  test("nodes with witnesses starting together do not both claim while their pings are pending", () => {
    const pair = new Pair({ name: "a", priority: 200, witnesses: true }, { name: "b", priority: 100, witnesses: true });
    pair.start("a");
    pair.start("b");
    pair.run(500);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.deepEqual(pair.node("b").effects(), []);
    assert.equal(pair.node("a").effects().filter((e) => e.type === "claimVips").length, 1);
  });

  test("a lone node waits initdead, not deadtime, then serves alone", () => {
    const pair = new Pair({ name: "a", priority: 100 }, { name: "b", priority: 200 });
    pair.start("a");
    pair.run(initdeadMs - 1);
    assert.equal(pair.node("a").role, "starting");
    assert.deepEqual(pair.node("a").events(), []);
    pair.run(claimMs + tickMs);
    assert.equal(pair.node("a").role, "active");
    assert.deepEqual(pair.node("a").effects(), [{ type: "claimVips", reason: "no peer heard within initdead" }, { type: "garp", burst: "first" }]);
    assert.equal(pair.node("a").events("peer-dead").length, 1);
  });

  test("a higher-priority node starting next to an active peer comes up standby", () => {
    const pair = new Pair({ name: "a", priority: 100 }, { name: "b", priority: 200, autoFailback: false });
    pair.start("a");
    pair.run(initdeadMs + 100);
    pair.start("b");
    pair.setSynced("b", true);
    pair.run(5000);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.equal(pair.node("b").state!.roleReason, 'peer "a" is active');
    assert.deepEqual(pair.node("b").effects(), []);
  });
});

describe("failover", () => {
  test("killing the active node makes the standby active within deadtime plus a tick", () => {
    const pair = settledPair();
    const killedMs = pair.nowMs;
    pair.kill("a");
    pair.run(deadtimeMs - tickMs);
    assert.equal(pair.node("b").role, "standby");
    pair.run(2 * tickMs + claimMs);
    assert.equal(pair.node("b").role, "active");
    assert.deepEqual(pair.node("b").effects(killedMs), [{ type: "claimVips", reason: "peer dead" }, { type: "garp", burst: "first" }]);
    assert.deepEqual(
      pair.node("b").events(undefined, killedMs).map((e) => e.type),
      ["link-late", "link-late", "link-down", "link-down", "peer-dead", "role-change"],
    );
    pair.run(garpRepeatAfterMs + tickMs);
    assert.deepEqual(pair.node("b").effects(killedMs).at(-1), { type: "garp", burst: "repeat" });
  });

  test("cutting one of two links reports it late, down and up again, without a failover", () => {
    const pair = settledPair();
    const cutMs = pair.nowMs;
    pair.setCut(1, true);
    pair.run(3 * deadtimeMs);
    assert.equal(pair.roles(), "a:active b:standby");
    for (const node of pair.nodes) {
      assert.deepEqual(node.events(undefined, cutMs).map((e) => `${e.type}:${e.fields.link}`), ["link-late:1", "link-down:1"]);
      assert.deepEqual(node.effects(cutMs), []);
    }
    const healMs = pair.nowMs;
    pair.setCut(1, false);
    pair.run(200);
    for (const node of pair.nodes) assert.deepEqual(node.events(undefined, healMs).map((e) => `${e.type}:${e.fields.link}`), ["link-up:1"]);
  });

  test("cutting every link with witnesses on both sides makes both active; healing keeps the preferred one", () => {
    const pair = settledPair({ witnesses: true }, { witnesses: true });
    pair.setAllCut(true);
    pair.run(deadtimeMs + 2 * tickMs + claimMs);
    assert.equal(pair.roles(), "a:active b:active");
    const healMs = pair.nowMs;
    pair.setAllCut(false);
    pair.run(200);
    assert.equal(pair.roles(), "a:active b:standby");
    const why = '"a" has the higher priority (200 > 100)';
    assert.deepEqual(pair.node("b").effects(healMs), [{ type: "releaseVips", reason: `split brain: ${why}`, announce: false }]);
    assert.deepEqual(pair.node("a").effects(healMs), [{ type: "garp", burst: "repeat" }]);
    for (const node of pair.nodes) assert.equal(node.events("split-brain", healMs).length, 1);
    assert.equal(pair.node("a").events("split-brain")[0]!.message, `Both nodes active: keeping the VIPs, ${why}`);
  });

  test("an isolated standby without a witness never takes over and says so once", () => {
    const pair = settledPair({ witnesses: true }, { witnesses: true });
    pair.setWitness("b", false);
    pair.setAllCut(true);
    pair.run(10 * deadtimeMs);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.deepEqual(pair.node("b").effects(), []);
    const refused = pair.node("b").events("takeover-refused");
    assert.equal(refused.length, 1);
    assert.equal(refused[0]!.fields.reason, "no witness reachable");
    // The witness returns while the peer still seems dead: now it serves.
    pair.setWitness("b", true);
    pair.run(tickMs + claimMs);
    assert.equal(pair.roles(), "a:active b:active");
  });

  test("a failed fence refuses the takeover and retries after another deadtime", () => {
    const pair = settledPair({}, { fenceOk: false });
    const killedMs = pair.nowMs;
    pair.kill("a");
    pair.run(deadtimeMs + tickMs + fenceMs);
    assert.equal(pair.node("b").role, "standby");
    assert.deepEqual(pair.node("b").effects(killedMs), [{ type: "runFence", peer: "a" }]);
    assert.equal(pair.node("b").events("takeover-refused", killedMs)[0]!.fields.reason, "fence failed");
    pair.run(deadtimeMs + tickMs);
    assert.deepEqual(pair.node("b").effects(killedMs), [{ type: "runFence", peer: "a" }, { type: "runFence", peer: "a" }]);
    assert.equal(pair.node("b").role, "standby");
  });

  test("a successful fence comes before the claim", () => {
    const pair = settledPair({}, { fenceOk: true });
    const killedMs = pair.nowMs;
    pair.kill("a");
    pair.run(deadtimeMs + tickMs + fenceMs + claimMs + tickMs);
    assert.equal(pair.node("b").role, "active");
    assert.deepEqual(pair.node("b").effects(killedMs), [{ type: "runFence", peer: "a" }, { type: "claimVips", reason: "peer dead" }, { type: "garp", burst: "first" }]);
  });

  test("a takeover from a dead peer does not wait for sync", () => {
    const pair = settledPair();
    pair.setSynced("b", false);
    pair.kill("a");
    pair.run(deadtimeMs + 2 * tickMs + claimMs);
    assert.equal(pair.node("b").role, "active");
  });

  test("a restarted peer is reported and comes back standby", () => {
    const pair = settledPair({}, { autoFailback: false });
    pair.kill("b");
    pair.run(100);
    pair.start("b");
    pair.run(300);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.equal(pair.node("a").events("peer-restarted").length, 1);
    assert.equal(pair.node("a").events("peer-dead").length, 0);
  });
});

describe("planned switchover", () => {
  test("command standby moves the VIPs to the synced standby, and command takeover brings them back", () => {
    const pair = settledPair();
    const cmdMs = pair.nowMs;
    pair.command("a", "standby");
    pair.run(200);
    assert.equal(pair.roles(), "a:standby b:active");
    assert.deepEqual(pair.node("b").effects(cmdMs), [{ type: "claimVips", reason: "handover" }, { type: "garp", burst: "first" }]);
    assert.deepEqual(pair.node("a").effects(cmdMs), [{ type: "releaseVips", reason: "handover", announce: false }]);
    assert.deepEqual(pair.node("a").events(undefined, cmdMs).map((e) => e.type), ["handover-started", "role-change", "handover-finished"]);
    assert.equal(pair.node("b").events("split-brain").length, 0);
    assert.equal(pair.node("a").state!.handover, false);
    // a stays standby even though it has the higher priority: the operator's switchover sticks.
    pair.setSynced("a", true);
    pair.run(20 * deadtimeMs);
    assert.equal(pair.roles(), "a:standby b:active");
    const backMs = pair.nowMs;
    pair.command("a", "takeover");
    pair.run(200);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.deepEqual(pair.node("a").effects(backMs), [{ type: "claimVips", reason: "handover" }, { type: "garp", burst: "first" }]);
    assert.deepEqual(pair.node("b").effects(backMs), [{ type: "releaseVips", reason: "handover", announce: false }]);
  });

  test("a handover waits for an unsynced standby, reports it once, and completes once it is synced", () => {
    const pair = settledPair();
    pair.setSynced("b", false);
    pair.run(10);
    pair.command("a", "standby");
    pair.run(3 * deadtimeMs);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.equal(pair.node("a").events("handover-waiting").length, 1);
    assert.equal(pair.node("b").events("takeover-refused").length, 1);
    assert.equal(pair.node("b").events("takeover-refused")[0]!.fields.reason, "connection table not synced");
    pair.setSynced("b", true);
    pair.run(200);
    assert.equal(pair.roles(), "a:standby b:active");
  });

  test("a handover nobody takes is abandoned after ten deadtimes", () => {
    const pair = settledPair();
    pair.setSynced("b", false);
    pair.command("a", "standby");
    pair.run(10 * deadtimeMs + tickMs);
    assert.equal(pair.node("a").state!.handover, false);
    assert.equal(pair.node("a").events("handover-abandoned").length, 1);
    pair.setSynced("b", true);
    pair.run(20 * deadtimeMs);
    assert.equal(pair.roles(), "a:active b:standby");
  });

  test("commands that do not apply change nothing and say why", () => {
    const pair = settledPair();
    const cmdMs = pair.nowMs;
    pair.command("b", "standby");
    pair.command("a", "takeover");
    pair.run(200);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.deepEqual([...pair.node("a").effects(cmdMs), ...pair.node("b").effects(cmdMs)], []);
    assert.equal(pair.node("b").events("command-ignored")[0]!.message, 'Command "standby" ignored: this node is standby, not active');
    assert.equal(pair.node("a").events("command-ignored")[0]!.message, 'Command "takeover" ignored: this node is active already');
  });

  test("a lone active node refuses to stand by: nobody could take over", () => {
    const pair = settledPair();
    pair.kill("b");
    pair.run(deadtimeMs + tickMs);
    pair.command("a", "standby");
    pair.run(10 * deadtimeMs);
    assert.equal(pair.node("a").role, "active");
    assert.equal(pair.node("a").state!.handover, false);
    assert.equal(pair.node("a").events("command-ignored")[0]!.fields.reason, "no live peer to hand over to");
  });
});

describe("auto_failback", () => {
  test("a returning higher-priority node takes the VIPs back only once synced", () => {
    const pair = settledPair();
    pair.kill("a");
    pair.run(deadtimeMs + 2 * tickMs + claimMs);
    assert.equal(pair.node("b").role, "active");
    pair.start("a");
    pair.run(20 * deadtimeMs);
    assert.equal(pair.roles(), "a:standby b:active");
    const syncMs = pair.nowMs;
    pair.setSynced("a", true);
    pair.run(200);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.equal(pair.node("a").events("handover-started", syncMs)[0]!.fields.reason, "auto_failback: priority 200 > 100 and synced");
    assert.deepEqual(pair.node("b").effects(syncMs), [{ type: "releaseVips", reason: "handover", announce: false }]);
  });

  test("without auto_failback a returning higher-priority node stays standby", () => {
    const pair = settledPair({ autoFailback: false });
    pair.kill("a");
    pair.run(deadtimeMs + 2 * tickMs + claimMs);
    pair.start("a");
    pair.setSynced("a", true);
    pair.run(20 * deadtimeMs);
    assert.equal(pair.roles(), "a:standby b:active");
    assert.equal(pair.node("a").state!.wantActive, false);
  });
});

describe("witness loss on the active node", () => {
  test("the active node hands over to a peer that still reaches a witness", () => {
    const pair = settledPair({ witnesses: true }, { witnesses: true });
    const lostMs = pair.nowMs;
    pair.setWitness("a", false);
    pair.run(200);
    assert.equal(pair.roles(), "a:standby b:active");
    assert.equal(pair.node("a").events("handover-started", lostMs)[0]!.fields.cause, "witness");
    // Healthy again and synced, the preferred node takes the VIPs back (auto_failback).
    pair.setWitness("a", true);
    pair.setSynced("a", true);
    pair.run(200);
    assert.equal(pair.roles(), "a:active b:standby");
  });

  test("a handover away from a node without witnesses does not wait for sync", () => {
    const pair = settledPair({ witnesses: true }, { witnesses: true });
    pair.setSynced("b", false);
    pair.setWitness("a", false);
    pair.run(200);
    assert.equal(pair.roles(), "a:standby b:active");
  });

  test("the active node stays when its peer lacks witnesses too", () => {
    const pair = settledPair({ witnesses: true }, { witnesses: true });
    pair.setWitness("b", false);
    pair.setWitness("a", false);
    pair.run(20 * deadtimeMs);
    assert.equal(pair.roles(), "a:active b:standby");
    assert.equal(pair.node("a").state!.handover, false);
  });
});
