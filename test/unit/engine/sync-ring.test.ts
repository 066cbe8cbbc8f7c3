import { describe, expect, test } from "bun:test";
import { ConnSpec, ConnTable, DEFAULT_TIMEOUTS, TcpState } from "../../../src/core/nat/conn-table.ts";
import type { DispatchSpec } from "../../../src/core/nat/dispatcher-spec.ts";
import type { Log } from "../../../src/core/ports.ts";
import { Dispatcher, Verdict } from "../../../src/core/nat/dispatcher.ts";
import { DropCounters } from "../../../src/core/packet/drop-reason.ts";
import { PacketView, decodeIpv4 } from "../../../src/core/packet/packet-view.ts";
import { formatIpv4 } from "../../../src/core/packet/ipv4-address.ts";
import {
  SYNC_MAX_BODY_BYTES, SYNC_MAX_ENTRIES, SyncBatch, SyncBatchFlag, SyncDecodeResult, SyncEntry, SyncOp, SyncResult, decodeSyncBatch,
} from "../../../src/core/sync/conn-sync-codec.ts";
import { DispatcherEngine, type DispatcherWorkerInit, type WorkerLike } from "../../../src/engine/dispatcher-engine.ts";
import { runPacketLoop, type LoopDevice } from "../../../src/engine/packet-loop.ts";
import { SyncApplyRing, SyncChangeRing, SyncChangeWriter, SyncEndpoint, SyncPump } from "../../../src/engine/sync-ring.ts";
import { goldenSpec } from "../core/nat/golden-spec.ts";
import { ip, tcp } from "../core/packet/packet-builder.ts";

const SYN = 0x02, ACK = 0x10, RST = 0x04;
const VIP = "10.0.0.10";
const T0 = 1_000_000;

/** A TCP entry for client port `port`. */
function conn(port: number): ConnSpec {
  return Object.assign(new ConnSpec(), { proto: 6, clientAddr: ip("192.0.2.1"), clientPort: port, vipAddr: ip(VIP), vipPort: 80, serverAddr: ip("10.1.0.11"), serverPort: 80 });
}

/** Takes everything published from `ring` as [id, op] pairs. */
function takeAll(ring: SyncChangeRing): [number, number][] {
  const out = new Uint32Array(5 * 64);
  const got: [number, number][] = [];
  for (let n = ring.take(64, out); n > 0; n = ring.take(64, out)) {
    for (let k = 0; k < n; k++) got.push([out[k * 5]!, out[k * 5 + 1]! & 0xff]);
  }
  return got;
}

/** One node: a dispatcher with its sync rings, pump and main-thread endpoint, all in this thread. */
function node(seed: number, options: { spec?: DispatchSpec; applySlots?: number; changeSlots?: number } = {}) {
  const spec = options.spec ?? goldenSpec();
  const d = new Dispatcher(spec, { seed });
  const changes = new SyncChangeRing(undefined, options.changeSlots);
  const apply = new SyncApplyRing(undefined, options.applySlots);
  const pump = new SyncPump(d, changes, new SyncChangeWriter(changes, d.table), apply);
  const clock = { nowMs: T0 };
  const endpoint = new SyncEndpoint({ table: d.table, spec, changes, apply, generation: seed, nowMs: () => clock.nowMs });
  return { d, changes, apply, pump, endpoint, clock };
}

const view = new PacketView();
/** Sends a client TCP segment to `d`; returns where it went ("drop" if dropped). */
function client(d: Dispatcher, port: number, flags: number, nowMs: number): string {
  const p = tcp({ src: "192.0.2.1", dst: VIP }, { srcPort: port, dstPort: 80, flags });
  if (d.process(p, 0, p.length, nowMs) === Verdict.Drop) return "drop";
  decodeIpv4(p, 0, p.length, view);
  return `${formatIpv4(view.dst)}:${view.dstPort}`;
}

/** SYN, SYN-ACK, ACK through `d`. */
function handshake(d: Dispatcher, port: number, nowMs: number): string {
  const to = client(d, port, SYN, nowMs);
  const [server, serverPort] = to.split(":");
  const synAck = tcp({ src: server!, dst: "192.0.2.1" }, { srcPort: Number(serverPort), dstPort: port, flags: SYN | ACK });
  expect(d.process(synAck, 0, synAck.length, nowMs)).toBe(Verdict.Forward);
  expect(client(d, port, ACK, nowMs)).toBe(to);
  return to;
}

describe("sync change ring", () => {
  test("changes become visible only when published, and repeats of one entry in a batch merge", () => {
    const table = ConnTable.create(16, { seed: [1, 2] });
    const ring = new SyncChangeRing(undefined, 8);
    const writer = new SyncChangeWriter(ring, table);
    const a = table.insert(conn(1), 0), b = table.insert(conn(2), 0);
    writer.upserted(a);
    writer.upserted(a);
    writer.upserted(b);
    writer.upserted(b);
    writer.removed(b);
    expect(takeAll(ring)).toEqual([]);
    writer.publish();
    expect(takeAll(ring)).toEqual([[a, SyncOp.Upsert], [b, SyncOp.Remove]]);
    // After publishing, a change of the same entry is queued again (the main thread may have read it).
    writer.upserted(a);
    writer.publish();
    writer.upserted(a);
    writer.publish();
    expect(takeAll(ring)).toEqual([[a, SyncOp.Upsert], [a, SyncOp.Upsert]]);
    expect(ring.appended).toBe(4);
  });

  test("a full ring drops the change and raises needs-full-resync instead of blocking", () => {
    const table = ConnTable.create(16, { seed: [1, 2] });
    const ring = new SyncChangeRing(undefined, 4);
    const writer = new SyncChangeWriter(ring, table);
    const ids = Array.from({ length: 6 }, (_, i) => table.insert(conn(i + 1), 0));
    for (const id of ids) writer.upserted(id);
    writer.publish();
    expect(ring.overflows).toBe(2);
    expect(ring.needsFullResync).toBe(true);
    expect(takeAll(ring).map(([id]) => id)).toEqual(ids.slice(0, 4));
    ring.clearNeedsFullResync();
    expect(ring.needsFullResync).toBe(false);
    writer.upserted(ids[5]!);
    writer.publish();
    expect(takeAll(ring)).toEqual([[ids[5]!, SyncOp.Upsert]]);
  });

  test("positions wrap past 2^32 without losing or repeating a change", () => {
    const table = ConnTable.create(64, { seed: [1, 2] });
    const ring = new SyncChangeRing(undefined, 8);
    // Start both positions just below 2^32, as after a long uptime.
    const header = new Int32Array(ring.buffer, 0, 2);
    header[0] = -3;
    header[1] = -3;
    const writer = new SyncChangeWriter(ring, table);
    const seen: number[] = [];
    for (let i = 0; i < 40; i++) {
      writer.upserted(table.insert(conn(100 + i), 0));
      if (i % 3 === 2) {
        writer.publish();
        seen.push(...takeAll(ring).map(([id]) => id));
      }
    }
    writer.publish();
    seen.push(...takeAll(ring).map(([id]) => id));
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i));
    expect(ring.pending).toBe(0);
    expect(ring.overflows).toBe(0);
  });
});

describe("sync apply ring", () => {
  test("entries cross intact, all or none, and the worker's results are counted", () => {
    const ring = new SyncApplyRing(undefined, 4);
    const entries = Array.from({ length: 3 }, (_, i) =>
      Object.assign(new SyncEntry(), {
        op: SyncOp.Upsert, proto: 6, state: 3, flags: 3, clientAddr: 0xc0000201 + i, clientPort: 65535 - i, vipAddr: 0x0a00000a, vipPort: 443,
        serverAddr: 0xfffffffe, serverPort: 8443, localAddr: 0x0a010064, localPort: 20000 + i, serviceId: 65535, serverIndex: 7, remainingMs: 0xffffffff, ageMs: 123,
      }));
    expect(ring.push(entries, 3)).toBe(true);
    expect(ring.push(entries, 2)).toBe(false);
    expect(ring.free).toBe(1);
    const got: SyncEntry[] = [];
    expect(ring.drain(10, (e) => {
      got.push(Object.assign(new SyncEntry(), e));
      return got.length === 2 ? SyncResult.UnknownServer : SyncResult.Applied;
    })).toBe(3);
    expect(got).toEqual(entries);
    expect([ring.results(SyncResult.Applied), ring.results(SyncResult.UnknownServer)]).toEqual([2, 1]);
    expect(ring.push(entries, 3)).toBe(true);
  });
});

describe("sync between two nodes through the rings", () => {
  test("the active's changes reach the standby's table, which then forwards the flow to the same server", () => {
    const a = node(1), b = node(2);
    a.changes.setCapture(true);
    a.pump.pump(T0);
    handshake(a.d, 1000, T0);
    const second = handshake(a.d, 1001, T0);
    expect(second).toBe("10.1.0.12:8080");
    a.pump.pump(T0);
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    const created = new Float64Array(33);
    const sent = a.endpoint.drainChanges(out, undefined, created);
    // Both connections are new: each is reported fresh once, with its creation time.
    expect(sent).toEqual({ bytes: 16 + 2 * 40, entries: 2, seq: 0, more: false, fresh: 2 });
    expect([...created.subarray(0, 2)].every((t) => t > 0 && t <= T0)).toBe(true);
    expect(a.endpoint.drainChanges(out).bytes).toBe(0);
    expect(b.endpoint.applyBody(out, sent.bytes)).toMatchObject({ status: "ok", applied: 2, dropped: 0, seq: 0, generation: 1 });
    b.pump.pump(T0 + 5);
    expect(b.d.table.count).toBe(2);
    expect(client(b.d, 1001, ACK, T0 + 6)).toBe("10.1.0.12:8080");
    expect(b.endpoint.snapshot()).toMatchObject({ receivedBatches: 1, queued: 2, applied: 2, dropped: {} });
    expect(a.endpoint.snapshot()).toMatchObject({ capture: true, sentBatches: 1, sentEntries: 2, captured: 2, needsFullResync: false });
  });

  test("a change queued for an entry whose id was recycled sends the removal and the new connection, not the stale one", () => {
    const a = node(1);
    a.changes.setCapture(true);
    a.pump.pump(T0);
    client(a.d, 1000, SYN, T0);
    a.pump.pump(T0);
    // The connection is reset and reaped, and its id goes to a new one before the main thread drains.
    client(a.d, 1000, RST, T0 + 1);
    a.d.expire(T0 + 20_000, 100);
    client(a.d, 2000, SYN, T0 + 20_000);
    a.pump.pump(T0 + 20_000);
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    const sent = a.endpoint.drainChanges(out);
    const batch = new SyncBatch();
    expect(decodeSyncBatch(out, sent.bytes, batch)).toBe(SyncDecodeResult.Ok);
    const ops = batch.entries.slice(0, batch.count).map((e) => [e.op, e.clientPort]);
    expect(ops).toEqual([[SyncOp.Remove, 1000], [SyncOp.Upsert, 2000]]);
    expect(a.endpoint.snapshot().skippedStale).toBe(1);
  });

  test("entries for unknown services are dropped on receipt and counted by reason", () => {
    const a = node(1), b = node(2, { spec: { ...goldenSpec(), services: [goldenSpec().services[1]!] } });
    a.changes.setCapture(true);
    a.pump.pump(T0);
    handshake(a.d, 1000, T0);
    a.pump.pump(T0);
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    const sent = a.endpoint.drainChanges(out);
    expect(b.endpoint.applyBody(out, sent.bytes)).toMatchObject({ status: "ok", applied: 0, dropped: 1, reasons: { unknown_service: 1 } });
    expect(b.endpoint.applyBody(out.subarray(0, 10), 10)).toMatchObject({ status: "malformed", error: "truncated" });
    expect(b.endpoint.snapshot()).toMatchObject({ dropped: { unknown_service: 1 }, malformed: { truncated: 1 } });
  });

  test("a paced full resync of 10,000 entries arrives intact through a small apply ring that is sometimes busy", () => {
    const spec = { ...goldenSpec(), maxConnections: 16384 };
    const a = node(1, { spec }), b = node(2, { spec, applySlots: 256 });
    for (let i = 0; i < 10_000; i++) {
      const p = tcp({ src: `198.18.${i >> 8}.${i & 0xff}`, dst: VIP }, { srcPort: 10000, dstPort: 80, flags: SYN });
      expect(a.d.process(p, 0, p.length, T0)).toBe(Verdict.Forward);
    }
    const cursor = a.endpoint.fullSyncCursor();
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    let batches = 0, busy = 0, last = 0;
    for (let sent = a.endpoint.encodeFullSync(cursor, out); sent.bytes > 0; sent = a.endpoint.encodeFullSync(cursor, out)) {
      batches++;
      let r = b.endpoint.applyBody(out, sent.bytes);
      while (r.status === "busy") {
        busy++;
        b.pump.pump(T0 + 1);
        r = b.endpoint.applyBody(out, sent.bytes);
      }
      expect(r.status).toBe("ok");
      last = r.flags;
    }
    b.pump.pump(T0 + 1);
    expect(cursor.done).toBe(true);
    expect(last).toBe(SyncBatchFlag.Full | SyncBatchFlag.FullEnd);
    expect(batches).toBe(Math.ceil(10_000 / SYNC_MAX_ENTRIES));
    expect(busy).toBeGreaterThan(0);
    expect(b.d.table.count).toBe(10_000);
    expect(b.d.table.audit()).toBe("");
    for (let id = a.d.table.nextLive(0); id >= 0; id = a.d.table.nextLive(id + 1)) {
      const t = a.d.table, idb = b.d.table.lookupOutside(6, t.clientAddr(id), t.clientPort(id), t.vipAddr(id), 80);
      expect([b.d.table.serverAddr(idb), b.d.table.state(idb)]).toEqual([t.serverAddr(id), TcpState.SYN_RECV]);
    }
    expect(b.endpoint.snapshot()).toMatchObject({ applied: 10_000, seqGaps: 0, busy });
  });

  test("an overflowed change ring asks for a full resync, and starting one clears the request", () => {
    const a = node(1, { changeSlots: 4 });
    a.changes.setCapture(true);
    a.pump.pump(T0);
    for (let i = 0; i < 10; i++) client(a.d, 1000 + i, SYN, T0);
    a.pump.pump(T0);
    expect(a.endpoint.needsFullResync).toBe(true);
    expect(a.endpoint.snapshot().overflows).toBeGreaterThan(0);
    const cursor = a.endpoint.fullSyncCursor();
    expect(a.endpoint.needsFullResync).toBe(false);
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    expect(a.endpoint.encodeFullSync(cursor, out)).toMatchObject({ entries: 10, more: false });
    expect(a.endpoint.encodeFullSync(cursor, out).bytes).toBe(0);
  });

  test("capture is off until the main thread turns it on", () => {
    const a = node(1);
    a.pump.pump(T0);
    handshake(a.d, 1000, T0);
    a.pump.pump(T0);
    expect(a.changes.pending).toBe(0);
    a.changes.setCapture(true);
    a.pump.pump(T0);
    client(a.d, 1001, SYN, T0);
    a.pump.pump(T0);
    expect(a.changes.pending).toBe(1);
  });

  test("the packet loop pumps sync between batches", () => {
    const a = node(1);
    a.changes.setCapture(true);
    const inbox = [tcp({ src: "192.0.2.1", dst: VIP }, { srcPort: 1000, dstPort: 80, flags: SYN })];
    let waits = 0;
    const device: LoopDevice = {
      vnetHdr: false,
      // The packet arrives in the second round, after the first pump turned capture on.
      waitReadable: () => waits++ > 0 && inbox.length > 0,
      read: (buf) => {
        const p = inbox.shift();
        if (!p) return 0;
        buf.set(p);
        return p.length;
      },
      write: (_buf, length) => length,
    };
    let calls = 0;
    // Round one turns capture on, round two forwards the SYN and publishes its change.
    runPacketLoop(device, a.d, () => T0, () => calls++ > 1, { sync: a.pump });
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    expect(a.endpoint.drainChanges(out).entries).toBe(1);
  });
});

describe("dispatcher engine sync", () => {
  test("the engine hands the worker its sync rings and exposes drain, resync, apply and counters", async () => {
    let worker!: { d: Dispatcher; pump: SyncPump };
    const fake: WorkerLike = {
      onmessage: null,
      onerror: null,
      terminate() {},
      postMessage(message) {
        const init = message as DispatcherWorkerInit;
        // What dispatcher-worker.ts builds, in this thread, driven by hand below.
        const d = new Dispatcher(init.spec, { table: ConnTable.attach(init.tableBuffer), drops: new DropCounters(init.dropsBuffer), statsBuffer: init.statsBuffer, seed: init.seed });
        const changes = new SyncChangeRing(init.syncChangesBuffer);
        worker = { d, pump: new SyncPump(d, changes, new SyncChangeWriter(changes, d.table), new SyncApplyRing(init.syncApplyBuffer)) };
        queueMicrotask(() => fake.onmessage?.({ data: { type: "ready", tun: "tun-test" } }));
      },
    };
    const log: Log = { debug() {}, info() {}, warn() {}, error() {}, with: () => log };
    const engine = await DispatcherEngine.start({ spec: { ...goldenSpec(), timeouts: { ...DEFAULT_TIMEOUTS } }, tun: { name: "t", mtu: 1500, vnetHdr: false, offload: false }, spawnWorker: () => fake, log, seed: 42, sync: { capture: true } });
    const now = performance.timeOrigin + performance.now();
    worker.pump.pump(now);
    handshake(worker.d, 1000, now);
    worker.pump.pump(now);
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    const sent = engine.drainSyncChanges(out);
    expect(sent.entries).toBe(1);
    const batch = new SyncBatch();
    expect(decodeSyncBatch(out, sent.bytes, batch)).toBe(SyncDecodeResult.Ok);
    // Sent with the remaining lifetime (15 minutes plus the refresh slack), relative to now.
    expect(batch.entries[0]!.remainingMs).toBeGreaterThan(15 * 60_000);
    expect(batch.entries[0]!.remainingMs).toBeLessThanOrEqual(15 * 60_000 + 121 * 1024);
    expect(engine.applySyncBody(out, sent.bytes)).toMatchObject({ status: "ok", applied: 1 });
    worker.pump.pump(now + 1);
    const cursor = engine.fullSyncCursor();
    expect(engine.encodeFullSync(cursor, out)).toMatchObject({ entries: 1, more: false });
    engine.setSyncCapture(false);
    expect(engine.snapshot().sync).toMatchObject({ capture: false, sentBatches: 2, sentEntries: 2, receivedBatches: 1, applied: 1, needsFullResync: false });
    expect(engine.syncNeedsFullResync).toBe(false);
  });
});
