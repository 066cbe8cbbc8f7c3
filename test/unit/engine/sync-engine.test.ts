import { afterEach, describe, expect, test } from "bun:test";
import { alertsForHaEvent } from "../../../src/core/alert/alert-mapping.ts";
import { utf8Encode } from "../../../src/core/crypto/utf8.ts";
import { formatIssue } from "../../../src/core/config/issues.ts";
import { loadConfigText } from "../../../src/core/config/load-config.ts";
import type { TandemConfig } from "../../../src/core/config/resolve-config.ts";
import type { HaEvent } from "../../../src/core/ha/ha-node-types.ts";
import { createHeartbeatAuth, FrameType, peekFrameType, type HeartbeatAuth } from "../../../src/core/ha/heartbeat-message.ts";
import { Dispatcher, Verdict } from "../../../src/core/nat/dispatcher.ts";
import type { DispatchSpec } from "../../../src/core/nat/dispatcher-spec.ts";
import { encodeSyncHeader, SYNC_MAX_BODY_BYTES } from "../../../src/core/sync/conn-sync-codec.ts";
import { encodeSyncStatus, MAX_SYNC_FRAME_BYTES, SYNC_BODY_OFFSET, sealSyncFrame, SyncStatusFlag } from "../../../src/core/sync/sync-frame.ts";
import { SyncEngine, type SyncDataPlane } from "../../../src/engine/sync-engine.ts";
import { SyncApplyRing, SyncChangeRing, SyncChangeWriter, SyncEndpoint, SyncPump } from "../../../src/engine/sync-ring.ts";
import { FakeClock } from "../../../src/platform/fake/fake-clock.ts";
import { FakeHaNetwork, type FakeDatagram, type FakeHaNet } from "../../../src/platform/fake/fake-ha-net.ts";
import { memoryLog } from "../../../src/platform/fake/memory-log.ts";
import { BASE } from "../core/config/config-test-helpers.ts";
import { goldenSpec } from "../core/nat/golden-spec.ts";
import { tcp } from "../core/packet/packet-builder.ts";

const KEY = utf8Encode("0123456789abcdef0123456789abcdef");
const SYN = 0x02;
const VIP = "10.0.0.10";
/** Epoch-like origin of the data planes' clocks (the fake clock starts at 0). */
const T0 = 1_000_000;
const SYNC_PORT = 8694;
const ADDRESS = { a: "10.1.0.1", b: "10.1.0.2" } as const;
const GENERATION = { a: 1_750_000_000_001, b: 1_750_000_000_002 } as const;

/** The shared config of the pair: BASE (nodes a and b, sync on "private", port 8694, 20 ms batches). */
function pairConfig(): TandemConfig {
  const loaded = loadConfigText(BASE, "t.toml");
  expect(loaded.issues.map(formatIssue)).toEqual([]);
  return loaded.config!;
}

/** A packet Worker's table with its sync rings and the main thread's endpoint, offered as a SyncDataPlane. */
function dataPlane(seed: number, clock: FakeClock, options: { spec?: DispatchSpec; applySlots?: number; changeSlots?: number; budget?: number } = {}) {
  const spec = options.spec ?? goldenSpec();
  const d = new Dispatcher(spec, { seed });
  const changes = new SyncChangeRing(undefined, options.changeSlots);
  const apply = new SyncApplyRing(undefined, options.applySlots);
  const pump = new SyncPump(d, changes, new SyncChangeWriter(changes, d.table), apply, options.budget);
  const nowMs = () => T0 + clock.monotonicMs();
  const endpoint = new SyncEndpoint({ table: d.table, spec, changes, apply, generation: seed, nowMs });
  const plane: SyncDataPlane = {
    setSyncCapture: (on) => endpoint.setCapture(on),
    get syncNeedsFullResync() {
      return endpoint.needsFullResync;
    },
    drainSyncChanges: (out, maxEntries, created) => endpoint.drainChanges(out, maxEntries, created),
    fullSyncCursor: () => endpoint.fullSyncCursor(),
    encodeFullSync: (cursor, out, maxEntries) => endpoint.encodeFullSync(cursor, out, maxEntries),
    applySyncBody: (bytes, length) => endpoint.applyBody(bytes, length),
    get syncQueuedPosition() {
      return endpoint.queuedPosition;
    },
    syncAppliedThrough: (position) => endpoint.appliedThrough(position),
    syncClockMs: nowMs,
    syncSnapshot: () => endpoint.snapshot(),
  };
  return { d, pump, endpoint, plane, nowMs };
}

type Name = "a" | "b";

/** Per-node data-plane settings of a `Pair`. */
interface PairOptions {
  readonly spec?: DispatchSpec;
  readonly applySlots?: Partial<Record<Name, number>>;
  readonly changeSlots?: Partial<Record<Name, number>>;
  readonly budget?: Partial<Record<Name, number>>;
}

/** One node: its data plane, its SyncEngine, and what the engine reported. */
interface Node {
  readonly name: Name;
  readonly engine: SyncEngine;
  readonly d: Dispatcher;
  readonly pump: SyncPump;
  readonly nowMs: () => number;
  readonly events: HaEvent[];
  readonly synced: boolean[];
  /** Whether `run` pumps this node's worker side every step. */
  autoPump: boolean;
}

/** Two SyncEngines on a fake network and a fake clock. */
class Pair {
  readonly clock = new FakeClock();
  readonly network = new FakeHaNetwork();
  readonly config = pairConfig();
  /** Every datagram put on the wire, oldest first. */
  readonly wire: FakeDatagram[] = [];
  /** Decides each datagram's fate after it is recorded; false loses it. */
  filter: (datagram: FakeDatagram) => boolean = () => true;
  readonly nets: Partial<Record<Name, FakeHaNet>> = {};
  a!: Node;
  b!: Node;

  static async start(options: PairOptions = {}): Promise<Pair> {
    const pair = new Pair();
    pair.network.datagramFilter = (datagram) => {
      pair.wire.push(datagram);
      return pair.filter(datagram);
    };
    for (const name of ["a", "b"] as const) {
      pair.nets[name] = pair.network.addNode(name, [{ device: "eth1", address: `${ADDRESS[name]}/24`, segment: "private" }]);
    }
    const plane = (n: Name) => ({ spec: options.spec, applySlots: options.applySlots?.[n], changeSlots: options.changeSlots?.[n], budget: options.budget?.[n] });
    pair.a = await pair.node("a", 1, GENERATION.a, plane("a"));
    pair.b = await pair.node("b", 2, GENERATION.b, plane("b"));
    return pair;
  }

  /** Starts node `name`'s engine with a fresh data plane (as a restarted process would), on its fake HaNet. */
  async node(name: Name, seed: number, generation: number, options: Parameters<typeof dataPlane>[2] = {}): Promise<Node> {
    const net = this.nets[name]!;
    const plane = dataPlane(seed, this.clock, options);
    const events: HaEvent[] = [];
    const synced: boolean[] = [];
    const engine = await SyncEngine.start({
      config: this.config, nodeName: name, authKey: KEY, generation, net, clock: this.clock, log: memoryLog(this.clock).log,
      dataPlane: plane.plane, onSynced: (s) => synced.push(s), onEvent: (e) => events.push(e),
    });
    return { name, engine, d: plane.d, pump: plane.pump, nowMs: plane.nowMs, events, synced, autoPump: true };
  }

  /** Advances time by `ms` in steps of `stepMs`, pumping the worker sides and delivering every datagram after each step. */
  async run(ms: number, stepMs = 1): Promise<void> {
    for (let t = 0; t < ms; t += stepMs) {
      this.clock.advance(stepMs);
      for (const n of [this.a, this.b]) if (n.autoPump) n.pump.pump(n.nowMs());
      await this.network.settle();
    }
  }

  /** Runs until `done()` holds, at most `limitMs`; returns the ms it took. */
  async until(done: () => boolean, limitMs = 10_000): Promise<number> {
    for (let t = 0; t < limitMs; t++) {
      if (done()) return t;
      await this.run(1);
    }
    throw new Error(`Condition not met within ${limitMs} ms`);
  }

  /** Opens `count` TCP connections on `node`'s dispatcher (SYNs from distinct clients) and pumps its worker. */
  connect(node: Node, count: number, first = 0): void {
    for (let i = first; i < first + count; i++) {
      const p = tcp({ src: `198.18.${i >> 8}.${i & 0xff}`, dst: VIP }, { srcPort: 10_000 + (i % 50_000), dstPort: 80, flags: SYN });
      expect(node.d.process(p, 0, p.length, node.nowMs())).toBe(Verdict.Forward);
    }
    node.pump.pump(node.nowMs());
  }

  /** Injects `bytes` on the sync segment as if `from` sent them to `to`. */
  inject(from: Name, to: Name, bytes: Uint8Array): void {
    this.network.inject("private", { address: ADDRESS[from], port: SYNC_PORT }, { address: ADDRESS[to], port: SYNC_PORT }, bytes);
  }

  /** Sync frames of `type` that `from` put on the wire so far. */
  frames(from: Name, type: number): FakeDatagram[] {
    return this.wire.filter((d) => d.fromNode === from && peekFrameType(d.bytes, d.bytes.length) === type);
  }

  stop(): void {
    this.a?.engine.stop();
    this.b?.engine.stop();
  }
}

/** A status frame sealed by hand: `auth`'s key and cluster, any node index and generation. */
function forgedStatus(auth: HeartbeatAuth, nodeIndex: number, generation: number, seq = 1_000_000, flags: number = SyncStatusFlag.NeedFull): Uint8Array {
  const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
  const bodyLength = encodeSyncStatus({ seq, ackedSeq: -1, ackedGeneration: 0, position: 5, requestId: 0x4242, flags }, out);
  return out.slice(0, sealSyncFrame(auth, FrameType.SyncStatus, out, nodeIndex, generation, bodyLength));
}

/** A batch frame sealed by hand, with an empty body. */
function forgedBatch(auth: HeartbeatAuth, nodeIndex: number, generation: number, seq: number, flags = 0): Uint8Array {
  const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
  const bodyLength = encodeSyncHeader(out.subarray(SYNC_BODY_OFFSET, SYNC_BODY_OFFSET + SYNC_MAX_BODY_BYTES), { seq, generation: 99, flags, count: 0 });
  return out.slice(0, sealSyncFrame(auth, FrameType.SyncBatch, out, nodeIndex, generation, bodyLength));
}

let pair: Pair | undefined;
afterEach(() => {
  pair?.stop();
  pair = undefined;
});

/** A pair where A is active and B has completed its first walk. */
async function syncedPair(options?: Parameters<typeof Pair.start>[0]): Promise<Pair> {
  pair = await Pair.start(options);
  const p = pair;
  p.a.engine.setRole("active");
  p.b.engine.setRole("standby");
  await p.until(() => p.b.engine.snapshot().synced);
  return p;
}

describe("sync engine pair", () => {
  test("a standby asks for a walk, the active sends its table, and the standby reports synced", async () => {
    pair = await Pair.start();
    const p = pair;
    p.connect(p.a, 40);
    p.a.engine.setRole("active");
    p.b.engine.setRole("standby");
    expect(p.b.engine.snapshot()).toMatchObject({ mode: "receive", synced: false });
    const ms = await p.until(() => p.b.engine.snapshot().synced);
    // The first status goes out at B's first tick (20 ms); the walk at A's next.
    expect(ms).toBeLessThan(100);
    expect(p.b.synced.at(-1)).toBe(true);
    const synced = p.b.events.filter((e) => e.type === "sync-synced");
    expect(synced).toHaveLength(1);
    expect(synced[0]!.fields).toMatchObject({ peer: "a", entries: 40 });
    expect(p.a.events.filter((e) => e.type === "sync-resync-sent")).toHaveLength(1);
    // Synced is reported when the walk's last batch is queued for B's worker; its next round applies it.
    await p.run(2);
    expect(p.b.d.table.count).toBe(40);
    expect(p.a.engine.snapshot()).toMatchObject({ mode: "send", synced: false, fullResyncs: { sent: 1, inProgress: false } });
    expect(p.b.engine.snapshot()).toMatchObject({ mode: "receive", synced: true, gaps: 0, fullResyncs: { received: 1 }, received: { batches: 2, entries: 40 } });
    // Quiet afterwards: no further walks while nothing is lost.
    await p.run(3_000, 5);
    expect(p.a.engine.snapshot().fullResyncs.sent).toBe(1);
    expect(p.b.synced).toEqual([true]);
  });

  test("connections opened on the active reach the standby's table, and lag is sampled once the standby's worker applied them", async () => {
    const p = await syncedPair();
    p.b.autoPump = false;
    const before = p.a.engine.snapshot().lag.samples;
    p.connect(p.a, 5, 100);
    // A's next tick sends the batch; B receives it but its worker has not run.
    await p.run(60);
    expect(p.b.engine.snapshot().received.entries).toBe(5);
    expect(p.b.d.table.count).toBe(0);
    expect(p.a.engine.snapshot().lag).toMatchObject({ samples: before, unacked: 5 });
    const waited = p.clock.monotonicMs();
    p.b.pump.pump(p.b.nowMs());
    expect(p.b.d.table.count).toBe(5);
    p.b.autoPump = true;
    await p.run(10);
    const lag = p.a.engine.snapshot().lag;
    expect(lag).toMatchObject({ samples: before + 5, unacked: 0, neverAcked: 0 });
    // Created before the 60 ms wait, acknowledged after it.
    expect(lag.maxMs!).toBeGreaterThanOrEqual(60);
    expect(lag.maxMs!).toBeLessThanOrEqual(p.clock.monotonicMs() - waited + 60);
    expect(p.b.engine.snapshot().synced).toBe(true);
  });

  test("a lost batch makes the standby lose sync with reason gap, and the active's new walk syncs it again", async () => {
    const p = await syncedPair();
    p.connect(p.a, 3, 200);
    let lost = 0;
    p.filter = (d) => {
      if (lost === 0 && d.fromNode === "a" && peekFrameType(d.bytes, d.bytes.length) === FrameType.SyncBatch) {
        lost++;
        return false;
      }
      return true;
    };
    await p.run(40);
    expect(lost).toBe(1);
    // A second batch reveals the gap.
    p.connect(p.a, 2, 300);
    await p.until(() => p.b.synced.at(-1) === false);
    const lostEvent = p.b.events.find((e) => e.type === "sync-lost");
    expect(lostEvent?.fields.reason).toBe("gap");
    expect(p.b.engine.snapshot().gaps).toBe(1);
    await p.until(() => p.b.engine.snapshot().synced);
    expect(p.a.engine.snapshot().fullResyncs.sent).toBe(2);
    expect(p.b.synced).toEqual([true, false, true]);
    await p.run(2);
    expect(p.b.d.table.count).toBe(5);
  });

  test("a lost last batch is noticed from the active's reported position, without a later batch", async () => {
    const p = await syncedPair();
    p.connect(p.a, 3, 200);
    p.filter = (d) => !(d.fromNode === "a" && peekFrameType(d.bytes, d.bytes.length) === FrameType.SyncBatch);
    await p.run(40);
    p.filter = () => true;
    // A's status goes out every 200 ms with its position.
    const ms = await p.until(() => p.b.synced.at(-1) === false, 1_000);
    expect(ms).toBeLessThanOrEqual(250);
    expect(p.b.events.find((e) => e.type === "sync-lost")?.fields.reason).toBe("gap");
    await p.until(() => p.b.engine.snapshot().synced);
    await p.run(2);
    expect(p.b.d.table.count).toBe(3);
  });

  test("forged, foreign, replayed and misaddressed frames are dropped, counted by reason, and leave synced alone", async () => {
    const p = await syncedPair();
    const aWalks = p.a.engine.snapshot().fullResyncs.sent;
    const otherKey = createHeartbeatAuth(utf8Encode("fedcba9876543210fedcba9876543210"), "www");
    const otherCluster = createHeartbeatAuth(KEY, "elsewhere");
    const ours = createHeartbeatAuth(KEY, "www");
    // B's index in the config is 1 and A's is 0; index 5 names no node.
    p.inject("a", "b", forgedBatch(otherKey, 0, GENERATION.a, 1_000_000, 0));
    p.inject("a", "b", forgedStatus(otherKey, 0, GENERATION.a));
    p.inject("a", "b", forgedStatus(otherCluster, 0, GENERATION.a));
    p.inject("a", "b", forgedStatus(ours, 5, GENERATION.a));
    p.inject("a", "b", forgedStatus(ours, 1, GENERATION.b));
    // A's own frames, captured on the wire and sent again.
    const batch = p.frames("a", FrameType.SyncBatch).at(-1)!;
    const status = p.frames("a", FrameType.SyncStatus).at(-1)!;
    p.inject("a", "b", batch.bytes);
    p.inject("a", "b", status.bytes);
    // Forged NeedFull requests towards the active must not make it walk either.
    p.inject("b", "a", forgedStatus(otherKey, 1, GENERATION.b));
    p.inject("b", "a", forgedStatus(ours, 5, GENERATION.b));
    p.inject("b", "a", p.frames("b", FrameType.SyncStatus).find((d) => d.bytes.length > 0)!.bytes);
    await p.run(300);
    expect(p.b.engine.snapshot().drops).toEqual({ "bad-mac": 2, "foreign-cluster": 1, "unknown-node": 1, self: 1, replay: 2 });
    expect(p.a.engine.snapshot().drops).toEqual({ "bad-mac": 1, "unknown-node": 1, replay: 1 });
    expect(p.b.engine.snapshot().synced).toBe(true);
    expect(p.b.synced).toEqual([true]);
    expect(p.b.events.filter((e) => e.type === "sync-lost")).toEqual([]);
    expect(p.a.engine.snapshot().fullResyncs.sent).toBe(aWalks);
    // The drops raise one forged-burst event at once, not one per frame.
    const bursts = p.b.events.filter((e) => e.type === "forged-burst");
    expect(bursts).toHaveLength(1);
    expect(bursts[0]!.fields).toMatchObject({ frames: 1, phase: "started" });
  });

  test("a standby out of sync past sync.alert_after raises sync-lag once, as the sync_lag alert, and the next walk resolves it", async () => {
    pair = await Pair.start();
    const p = pair;
    expect(p.config.sync.alert_after).toBe(10_000);
    p.a.engine.setRole("active");
    p.b.engine.setRole("standby");
    // Nothing of A's reaches B: its table never gets a walk.
    p.filter = (d) => d.fromNode !== "a";
    const lag = () => p.b.events.filter((e) => e.type === "sync-lag");
    await p.run(9_900, 20);
    expect(lag()).toEqual([]);
    await p.run(200, 20);
    expect(lag()).toHaveLength(1);
    expect(lag()[0]!.fields).toMatchObject({ peer: "a", resolved: false, reason: "no full table received yet" });
    expect(alertsForHaEvent(lag()[0]!, "b", 0)).toMatchObject([{ kind: "sync_lag", subject: "a", fields: { resolved: false } }]);
    await p.run(5_000, 20);
    expect(lag()).toHaveLength(1);
    p.filter = () => true;
    await p.until(() => p.b.engine.snapshot().synced);
    expect(lag()).toHaveLength(2);
    expect(lag()[1]!.fields).toMatchObject({ peer: "a", resolved: true });
    expect(Number(lag()[1]!.fields.out_of_sync_ms)).toBeGreaterThanOrEqual(15_000);
    // The active side is never watched.
    expect(p.a.events.filter((e) => e.type === "sync-lag")).toEqual([]);
  });

  test("a frame from an older generation of the peer is dropped as old-generation", async () => {
    const p = await syncedPair();
    const ours = createHeartbeatAuth(KEY, "www");
    p.inject("a", "b", forgedStatus(ours, 0, GENERATION.a - 1, 1, SyncStatusFlag.Sending));
    await p.run(10);
    expect(p.b.engine.snapshot().drops).toEqual({ "old-generation": 1 });
    expect(p.b.engine.snapshot().synced).toBe(true);
  });

  test("swapping roles resyncs the other way, and the new active's connections reach the new standby", async () => {
    const p = await syncedPair();
    p.connect(p.a, 10, 400);
    await p.run(60);
    expect(p.b.d.table.count).toBe(10);
    p.a.engine.setRole("standby");
    p.b.engine.setRole("active");
    expect(p.a.engine.snapshot().mode).toBe("receive");
    expect(p.b.engine.snapshot()).toMatchObject({ mode: "send", synced: false });
    await p.until(() => p.a.engine.snapshot().synced);
    expect(p.a.synced.at(-1)).toBe(true);
    expect(p.a.events.filter((e) => e.type === "sync-synced").at(-1)!.fields).toMatchObject({ peer: "b", entries: 10 });
    expect(p.b.engine.snapshot().fullResyncs.sent).toBe(1);
    p.connect(p.b, 4, 500);
    await p.run(60);
    expect(p.b.d.table.count).toBe(14);
    expect(p.a.d.table.count).toBe(14);
    expect(p.a.engine.snapshot()).toMatchObject({ synced: true, gaps: 0 });
    expect(p.b.engine.snapshot().lag.samples).toBe(4);
  });

  test("an active whose change ring overflowed walks on its own once; the standby is unsynced until that walk ends, and asks for no other", async () => {
    const p = await syncedPair({ changeSlots: { a: 4 } });
    const requests = p.b.engine.snapshot().requests;
    // More changes in one worker round than A's 4-slot ring holds, and a walk of two batches.
    p.connect(p.a, 40, 600);
    expect(p.a.engine.snapshot().table.needsFullResync).toBe(true);
    await p.run(1_000, 2);
    expect(p.a.engine.snapshot().fullResyncs.sent).toBe(2);
    expect(p.b.synced).toEqual([true, false, true]);
    expect(p.b.events.filter((e) => e.type === "sync-lost").map((e) => e.fields.reason)).toEqual(["walk-restarted"]);
    expect(p.b.engine.snapshot()).toMatchObject({ synced: true, gaps: 0, requests });
    expect(p.b.d.table.count).toBe(40);
    await p.run(3_000, 10);
    expect(p.a.engine.snapshot().fullResyncs.sent).toBe(2);
  });

  test("a restarted active (a newer generation) is a new sender: the standby resyncs from it and gets its new connections", async () => {
    const p = await syncedPair();
    p.connect(p.a, 3, 700);
    await p.run(60);
    p.a.engine.stop();
    // The restarted process has a new generation and a new, empty table.
    p.a = await p.node("a", 11, GENERATION.a + 1000);
    p.a.engine.setRole("active");
    await p.run(20);
    p.connect(p.a, 2, 800);
    const lostReasons = () => p.b.events.filter((e) => e.type === "sync-lost").map((e) => e.fields.reason);
    await p.until(() => lostReasons().includes("new-sender"));
    await p.until(() => p.b.engine.snapshot().synced);
    await p.run(60);
    expect(p.b.engine.snapshot()).toMatchObject({ synced: true, drops: {} });
    // The old connections stay until they expire (a walk only upserts); the new ones arrived.
    expect(p.b.d.table.count).toBe(5);
  });

  // Regression (fixed): the standby learns of a restarted active only from a
  // batch. The new process's status frames (newer generation, Sending, position -1 until it sends
  // a batch) are ignored by SyncEngine.onStatus (position < 0) and SyncReceiver.onSenderPosition
  // (another generation), and the standby's status asks for nothing, so an idle restarted active
  // never walks and the standby keeps reporting Synced about a sender that is gone.
  test("a restarted active is noticed from its status frames before it sends any batch, and walks its table to the standby", async () => {
    const p = await syncedPair();
    p.connect(p.a, 3, 700);
    await p.run(60);
    p.a.engine.stop();
    p.a = await p.node("a", 11, GENERATION.a + 1000);
    p.a.engine.setRole("active");
    await p.run(1_000, 5);
    expect(p.b.events.filter((e) => e.type === "sync-lost").map((e) => e.fields.reason)).toContain("new-sender");
    expect(p.a.engine.snapshot().fullResyncs.sent).toBe(1);
    expect(p.b.engine.snapshot().synced).toBe(true);
  });

  test("stop cancels the engine's timers and closes its socket", async () => {
    const p = await syncedPair();
    p.connect(p.a, 3, 900);
    await p.run(21);
    p.a.engine.stop();
    p.b.engine.stop();
    expect(p.clock.pending).toBe(0);
    const lost = p.network.stats.lost;
    p.inject("a", "b", p.frames("a", FrameType.SyncStatus).at(-1)!.bytes);
    await p.run(10);
    expect(p.network.stats.lost).toBe(lost + 1);
  });

  // Regression (fixed): once SyncEngine's backlog is full (MAX_BACKLOG bodies),
  // every further batch calls SyncReceiver.onLostLocally, which raises a new request id and sends
  // a status at once: one request (and one walk restart on the active) per datagram received,
  // about a thousand a second here, instead of one per overflow.
  test("a standby whose backlog overflows asks for a new walk once per overflow, not once per datagram", async () => {
    const p = await Pair.start({ spec: { ...goldenSpec(), maxConnections: 65_536 }, applySlots: { b: 64 }, budget: { b: 8 } });
    pair = p;
    // 40,000 entries are 1,213 batches, more than the 1,024 bodies B's backlog holds.
    p.connect(p.a, 40_000);
    p.a.engine.setRole("active");
    p.b.engine.setRole("standby");
    await p.run(2_000, 2);
    expect(p.b.engine.snapshot().requests).toBeLessThanOrEqual(20);
  });

  // Regression (fixed): a batch that waits in SyncEngine's backlog (the Worker's
  // apply ring was full) has not reached SyncReceiver.onBatch yet, so the active's status, whose
  // position counts it as sent, makes onSenderPosition see it as lost: a spurious "gap", a new
  // request, and the active restarts its walk. A walk longer than the status interval (200 ms)
  // then restarts at every status and never completes.
  test("a walk that outpaces the standby's apply ring in bursts still completes without spurious gaps", async () => {
    // B's worker keeps up on average (7 batches per 2 ms poll against A's 32 per 20 ms tick), but
    // each tick's burst overflows its 256-slot ring, so bodies wait in the engine's backlog.
    const p = await Pair.start({ spec: { ...goldenSpec(), maxConnections: 16_384 }, applySlots: { b: 256 } });
    pair = p;
    p.connect(p.a, 15_000);
    p.a.engine.setRole("active");
    p.b.engine.setRole("standby");
    // 15,000 entries are 455 batches, 15 ticks: A's status at 200 ms falls inside the walk.
    await p.run(2_000, 2);
    const b = p.b.engine.snapshot();
    expect({ gaps: b.gaps, synced: b.synced, walksSent: p.a.engine.snapshot().fullResyncs.sent }).toEqual({ gaps: 0, synced: true, walksSent: 1 });
    expect(p.b.d.table.count).toBe(15_000);
  });
});
