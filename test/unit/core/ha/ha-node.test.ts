import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHaNode, describeHaNode, haNodeOptionsFromConfig, ownStatus, stepHaNode } from "../../../../src/core/ha/ha-node.ts";
import type { HaAction, HaFlags, HaInput, HaNodeOptions, HaNodeState, PeerStatus } from "../../../../src/core/ha/ha-node-types.ts";
import { electionWinner, splitBrainKeeper } from "../../../../src/core/ha/ha-ranking.ts";
import { BASE, edit, load } from "../config/config-test-helpers.ts";

const OPTIONS: HaNodeOptions = {
  name: "a",
  priority: 200,
  peerName: "b",
  linkCount: 2,
  warntimeMs: 300,
  deadtimeMs: 500,
  initdeadMs: 1000,
  autoFailback: true,
  witnesses: false,
  fence: false,
  garpRepeatAfterMs: 2000,
  handoverTimeoutMs: 5000,
};

const FLAGS: HaFlags = { witnessOk: true, handover: false, wantActive: false, synced: false };

function peer(role: PeerStatus["role"], extra: Partial<Omit<PeerStatus, "flags">> & { flags?: Partial<HaFlags> } = {}): PeerStatus {
  return { node: "b", generation: 1, priority: 100, vips: 0, syncPosition: 0, ...extra, role, flags: { ...FLAGS, ...extra.flags } };
}

/** One machine fed by hand; `feed` returns the actions of one input. */
class Machine {
  state: HaNodeState;
  constructor(options: Partial<HaNodeOptions> = {}, nowMs = 0) {
    this.state = createHaNode({ ...OPTIONS, ...options }, nowMs);
  }
  feed(input: HaInput): readonly HaAction[] {
    const { state, actions } = stepHaNode(this.state, input);
    this.state = state;
    return actions;
  }
  hear(nowMs: number, status: PeerStatus, link = 0): readonly HaAction[] {
    return this.feed({ type: "peerHeartbeat", nowMs, link, msg: status });
  }
  tick(nowMs: number): readonly HaAction[] {
    return this.feed({ type: "tick", nowMs });
  }
  /** Drives "a" to active (at 20 ms) against a standby peer of priority 1 heard on every link at 0 ms. */
  static active(options: Partial<HaNodeOptions> = {}): Machine {
    const m = new Machine(options);
    m.hear(0, peer("standby", { priority: 1 }), 0);
    m.hear(0, peer("standby", { priority: 1 }), 1);
    m.feed({ type: "takeoverDone", nowMs: 20 });
    assert.equal(m.state.role, "active");
    return m;
  }
}

/** Event types, or `type:detail` for effects, of a list of actions. */
function kinds(actions: readonly HaAction[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "event":
        return `event:${a.event.type}`;
      case "claimVips":
      case "releaseVips":
        return `${a.type}:${a.reason}`;
      case "garp":
        return `garp:${a.burst}`;
      default:
        return a.type;
    }
  });
}

describe("creation and status", () => {
  test("a new node is starting, knows no peer, and reports witnessOk only without witnesses", () => {
    const plain = createHaNode(OPTIONS, 7);
    assert.deepEqual(ownStatus(plain), { node: "a", priority: 200, role: "starting", flags: { witnessOk: true, handover: false, wantActive: false, synced: false } });
    assert.equal(plain.peer.liveness, "unknown");
    assert.equal(ownStatus(createHaNode({ ...OPTIONS, witnesses: true }, 7)).flags.witnessOk, false);
  });

  test("options come from the config: timers, flags, priority and the peer's name", () => {
    const config = load(edit('deadtime = "500ms"', 'deadtime = "500ms"\nping_nodes = ["10.0.0.254"]\nauto_failback = false', BASE)).config!;
    assert.ok(config, "the test config loads");
    const options = haNodeOptionsFromConfig(config, config.node[1]!);
    assert.deepEqual(options, {
      name: "b",
      priority: 100,
      peerName: "a",
      linkCount: 1,
      warntimeMs: 300,
      deadtimeMs: 500,
      initdeadMs: 1000,
      autoFailback: false,
      witnesses: true,
      fence: false,
      garpRepeatAfterMs: 5000,
      handoverTimeoutMs: 5000,
    });
  });

  test("stepHaNode leaves its argument untouched", () => {
    const m = Machine.active();
    const before = JSON.stringify(m.state);
    const frozen = m.state;
    stepHaNode(frozen, { type: "tick", nowMs: 10_000 });
    stepHaNode(frozen, { type: "peerHeartbeat", nowMs: 30, link: 1, msg: peer("active") });
    assert.equal(JSON.stringify(frozen), before);
  });

  test("an idle tick produces no action", () => {
    const m = Machine.active();
    m.hear(100, peer("standby"), 0);
    m.hear(100, peer("standby"), 1);
    assert.deepEqual(m.tick(125), []);
  });
});

describe("start-up", () => {
  test("a starting node hearing an active peer becomes standby and says so at once", () => {
    const m = new Machine();
    assert.deepEqual(kinds(m.hear(5, peer("active"))), ["event:peer-alive", "event:role-change", "sendHeartbeatNow"]);
    assert.equal(m.state.role, "standby");
    assert.equal(m.state.roleReason, 'peer "b" is active');
  });

  test("the election winner claims, keeps reporting starting, and becomes active on takeoverDone", () => {
    const m = new Machine();
    const reason = 'elected: "a" has the higher priority (200 > 100)';
    assert.deepEqual(kinds(m.hear(5, peer("starting"))), ["event:peer-alive", `claimVips:${reason}`]);
    assert.equal(ownStatus(m.state).role, "starting");
    assert.deepEqual(kinds(m.feed({ type: "takeoverDone", nowMs: 30 })), ["event:role-change", "garp:first", "sendHeartbeatNow"]);
    assert.equal(m.state.role, "active");
  });

  test("without a witness a lone node does not serve after initdead, and does once a witness answers", () => {
    const m = new Machine({ witnesses: true });
    assert.deepEqual(m.feed({ type: "witness", nowMs: 5, reachable: false }).map((a) => a.type), ["event", "sendHeartbeatNow"]);
    assert.deepEqual(m.tick(999), []);
    assert.deepEqual(kinds(m.tick(1000)), ["event:peer-dead", "event:takeover-refused", "event:role-change", "sendHeartbeatNow"]);
    assert.equal(m.state.role, "standby");
    assert.deepEqual(m.tick(1500), []);
    assert.deepEqual(kinds(m.feed({ type: "witness", nowMs: 1600, reachable: true })), ["event:witness-ok", "claimVips:no peer heard within initdead", "sendHeartbeatNow"]);
  });
});

describe("liveness", () => {
  test("a silent link is late after warntime, down after deadtime, and up on its next message, once each", () => {
    const m = Machine.active();
    const links = (actions: readonly HaAction[]) => actions.flatMap((a) => (a.type === "event" ? [`${a.event.type}:${a.event.fields.link}`] : []));
    const seen: string[] = [];
    for (let t = 100; t <= 900; t += 100) {
      seen.push(...links(m.hear(t, peer("standby"), 0)), ...links(m.tick(t)));
    }
    assert.deepEqual(seen, ["link-late:1", "link-down:1"]);
    assert.equal(m.state.peer.liveness, "alive");
    assert.deepEqual(links(m.hear(950, peer("standby"), 1)), ["link-up:1"]);
    assert.deepEqual(links(m.hear(960, peer("standby"), 1)), []);
  });

  test("the peer is dead only when every link has been silent for deadtime", () => {
    const m = Machine.active();
    m.hear(300, peer("standby"), 1);
    assert.equal(kinds(m.tick(799)).includes("event:peer-dead"), false);
    assert.deepEqual(kinds(m.tick(800)), ["event:link-down", "event:peer-dead"]);
    assert.equal(describeHaNode(m.state, 800).peer.liveness, "dead");
    assert.deepEqual(kinds(m.hear(900, peer("standby"), 1)), ["event:link-up", "event:peer-alive"]);
  });

  test("a newer generation is reported as a restart; the same one is not", () => {
    const m = Machine.active();
    assert.deepEqual(kinds(m.hear(50, peer("standby"))), []);
    assert.deepEqual(kinds(m.hear(60, peer("starting", { generation: 2 }))), ["event:peer-restarted"]);
    assert.deepEqual(kinds(m.hear(70, peer("standby", { generation: 2 }))), []);
  });

  test("heartbeats carrying this node's own name are ignored and reported once", () => {
    const m = new Machine();
    const self = peer("active", { node: "a" });
    assert.deepEqual(kinds(m.hear(5, self)), ["event:peer-same-name"]);
    assert.deepEqual(kinds(m.hear(6, self)), []);
    assert.equal(m.state.peer.liveness, "unknown");
    assert.equal(m.state.role, "starting");
  });

  test("heartbeats on a link that does not exist are ignored", () => {
    const m = new Machine();
    assert.deepEqual(m.hear(5, peer("active"), 2), []);
    assert.deepEqual(m.hear(5, peer("active"), -1), []);
    assert.equal(m.state.peer.liveness, "unknown");
  });

  test("time never goes backwards inside the machine", () => {
    const m = Machine.active();
    m.tick(2000);
    assert.equal(m.state.peer.liveness, "dead");
    m.tick(100);
    assert.equal(m.state.nowMs, 2000);
  });

  test("describe reports the role, the peer and each link's health and age", () => {
    const m = Machine.active();
    m.hear(400, peer("standby", { flags: { synced: true } }), 0);
    m.tick(450);
    const d = describeHaNode(m.state, 500);
    assert.equal(d.role, "active");
    assert.equal(d.roleSinceMs, 20);
    assert.equal(d.roleReason, 'elected: "a" has the higher priority (200 > 1)');
    assert.deepEqual(d.peer.links, [
      { link: 0, health: "up", lastHeardAgeMs: 100 },
      { link: 1, health: "late", lastHeardAgeMs: 500 },
    ]);
    assert.equal(d.peer.name, "b");
    assert.equal(d.peer.liveness, "alive");
    assert.equal(d.peer.lastHeardAgeMs, 100);
    assert.equal(d.peer.flags?.synced, true);
  });
});

describe("effects and duplicates", () => {
  test("duplicate heartbeats, witness reports and completions change nothing", () => {
    const m = Machine.active({ witnesses: true });
    m.feed({ type: "witness", nowMs: 30, reachable: true });
    assert.deepEqual(m.feed({ type: "witness", nowMs: 31, reachable: true }), []);
    assert.deepEqual(m.feed({ type: "takeoverDone", nowMs: 32 }), []);
    assert.deepEqual(m.feed({ type: "releaseDone", nowMs: 33 }), []);
    assert.deepEqual(m.feed({ type: "fenceResult", nowMs: 34, ok: true, detail: "" }), []);
    m.hear(40, peer("standby"));
    assert.deepEqual(m.hear(40, peer("standby")), []);
    assert.deepEqual(m.feed({ type: "syncStatus", nowMs: 41, synced: false }), []);
  });

  test("the repeat ARP burst comes repeat_after ms after takeover, once, and never when it is 0", () => {
    const m = Machine.active();
    const garps = (actions: readonly HaAction[]) => kinds(actions).filter((k) => k.startsWith("garp"));
    const seen: string[] = [];
    for (let t = 100; t <= 3000; t += 100) {
      const actions = [...m.hear(t, peer("standby"), 0), ...m.hear(t, peer("standby"), 1), ...m.tick(t)];
      seen.push(...garps(actions).map((g) => `${t}:${g}`));
    }
    assert.deepEqual(seen, ["2100:garp:repeat"]);
    const none = Machine.active({ garpRepeatAfterMs: 0 });
    assert.deepEqual(garps(none.tick(2500)), []);
  });

  test("a node handing over loses a split brain even with the higher priority", () => {
    const m = Machine.active();
    m.feed({ type: "command", nowMs: 30, command: "standby" });
    assert.equal(ownStatus(m.state).flags.handover, true);
    assert.deepEqual(kinds(m.hear(40, peer("active", { flags: { synced: true } }))), ["releaseVips:handover"]);
    assert.deepEqual(kinds(m.feed({ type: "releaseDone", nowMs: 50 })), ["event:role-change", "event:handover-finished", "sendHeartbeatNow"]);
    assert.deepEqual(ownStatus(m.state).flags, { witnessOk: true, handover: false, wantActive: false, synced: false });
  });

  test("the split-brain loser releases quietly and the keeper repairs ARP caches, each once", () => {
    const keeper = Machine.active();
    assert.deepEqual(kinds(keeper.hear(40, peer("active"))), ["event:split-brain", "garp:repeat"]);
    assert.deepEqual(kinds(keeper.hear(50, peer("active"))), []);
    const loser = Machine.active({ priority: 50 });
    const actions = loser.hear(40, peer("active"));
    assert.deepEqual(actions.at(-1), { type: "releaseVips", reason: 'split brain: "b" has the higher priority (100 > 50)', announce: false });
    assert.deepEqual(loser.hear(50, peer("active")), []);
  });

  test("a standby asked to take over claims only when it reaches a witness and is synced", () => {
    const m = new Machine({ priority: 50, witnesses: true });
    m.feed({ type: "witness", nowMs: 1, reachable: true });
    m.hear(5, peer("active"));
    const handing = peer("active", { flags: { handover: true } });
    assert.deepEqual(kinds(m.hear(10, handing)), ["event:takeover-refused"]);
    assert.deepEqual(kinds(m.hear(20, handing)), []);
    assert.deepEqual(kinds(m.feed({ type: "syncStatus", nowMs: 30, synced: true })), ["claimVips:handover", "sendHeartbeatNow"]);
  });
});

describe("requests and timeouts", () => {
  test("a takeover request the active peer never honours is abandoned after the handover timeout", () => {
    const m = new Machine({ priority: 50, linkCount: 1 });
    m.hear(0, peer("active"));
    assert.deepEqual(kinds(m.feed({ type: "command", nowMs: 10, command: "takeover" })), ["event:handover-started", "sendHeartbeatNow"]);
    assert.equal(ownStatus(m.state).flags.wantActive, true);
    for (let t = 100; t < 5010; t += 100) assert.deepEqual(kinds([...m.hear(t, peer("active")), ...m.tick(t)]), [], `at ${t} ms`);
    assert.deepEqual(kinds(m.tick(5010)), ["event:handover-abandoned", "sendHeartbeatNow"]);
    assert.equal(ownStatus(m.state).flags.wantActive, false);
  });

  test("the active node honours a peer's request once: after it is abandoned, only a new request counts", () => {
    const m = Machine.active({ linkCount: 1, garpRepeatAfterMs: 0 });
    const asking = peer("standby", { flags: { wantActive: true } });
    assert.deepEqual(kinds(m.hear(30, asking)), ["event:handover-started", "event:handover-waiting", "sendHeartbeatNow"]);
    for (let t = 100; t < 5030; t += 100) assert.deepEqual(kinds(m.hear(t, asking)), [], `at ${t} ms`);
    assert.deepEqual(kinds(m.tick(5030)), ["event:handover-abandoned", "sendHeartbeatNow"]);
    assert.deepEqual(kinds(m.hear(5100, asking)), []);
    m.hear(5200, peer("standby"));
    assert.deepEqual(kinds(m.hear(5300, asking)), ["event:handover-started", "event:handover-waiting", "sendHeartbeatNow"]);
  });

  test("a handover started for lack of witnesses is cancelled when a witness answers again", () => {
    const m = Machine.active({ witnesses: true });
    m.feed({ type: "witness", nowMs: 21, reachable: true });
    m.hear(25, peer("standby"));
    assert.deepEqual(kinds(m.feed({ type: "witness", nowMs: 30, reachable: false })), ["event:witness-lost", "event:handover-started", "sendHeartbeatNow"]);
    assert.equal(m.state.handoverCause, "witness");
    assert.deepEqual(kinds(m.feed({ type: "witness", nowMs: 40, reachable: true })), ["event:witness-ok", "event:handover-cancelled", "sendHeartbeatNow"]);
    assert.equal(ownStatus(m.state).flags.handover, false);
  });

  test("the peer's death voids a handover in progress", () => {
    const m = Machine.active();
    m.feed({ type: "command", nowMs: 30, command: "standby" });
    assert.deepEqual(kinds(m.tick(500)), ["event:link-down", "event:link-down", "event:peer-dead", "event:handover-abandoned", "sendHeartbeatNow"]);
    assert.equal(m.state.role, "active");
    assert.equal(ownStatus(m.state).flags.handover, false);
  });
});

describe("ranking rules", () => {
  const node = (name: string, priority: number, extra: { witnessOk?: boolean; handover?: boolean } = {}) => ({ name, priority, witnessOk: true, handover: false, ...extra });

  test("both nodes compute the same split-brain keeper from the same facts", () => {
    const cases = [
      [node("a", 200), node("b", 100), "a"],
      [node("a", 100), node("b", 100), "a"],
      [node("b", 100), node("a", 100), "a"],
      [node("a", 200, { handover: true }), node("b", 100), "b"],
      [node("a", 200, { handover: true }), node("b", 100, { handover: true }), "a"],
      [node("a", 100, { witnessOk: false }), node("b", 50), "a"],
    ] as const;
    for (const [x, y, keeper] of cases) {
      assert.equal(splitBrainKeeper(x, y).selfWins ? x.name : y.name, keeper, `${x.name} vs ${y.name}`);
      assert.equal(splitBrainKeeper(y, x).selfWins ? y.name : x.name, keeper, `${y.name} vs ${x.name}`);
    }
  });

  test("an election counts witnesses only when asked to", () => {
    const a = node("a", 200, { witnessOk: false });
    const b = node("b", 100);
    assert.deepEqual(electionWinner(a, b, true), { selfWins: false, why: 'only "b" reaches a witness' });
    assert.deepEqual(electionWinner(a, b, false), { selfWins: true, why: '"a" has the higher priority (200 > 100)' });
    assert.equal(electionWinner(node("é", 1), node("z", 1), false).selfWins, false);
  });
});
