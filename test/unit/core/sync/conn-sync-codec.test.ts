import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnFlag, ConnSpec, ConnTable, TcpState } from "../../../../src/core/nat/conn-table.ts";
import type { DispatchSpec } from "../../../../src/core/nat/dispatcher-spec.ts";
import {
  SYNC_ENTRY_BYTES, SYNC_FRAME_OVERHEAD_BYTES, SYNC_HEADER_BYTES, SYNC_MAX_BODY_BYTES, SYNC_MAX_DATAGRAM_BYTES, SYNC_MAX_ENTRIES,
  SyncBatch, SyncBatchFlag, SyncDecodeResult, SyncEntry, SyncOp, SyncResult, SyncServiceIndex,
  decodeSyncBatch, encodeSyncEntry, encodeSyncHeader, readSyncEntry, setSyncRemove, syncBodyBytes,
} from "../../../../src/core/sync/conn-sync-codec.ts";
import { ip } from "../packet/packet-builder.ts";

/** An upsert entry with every field set to something distinctive. */
function upsert(n: number, overrides: Partial<SyncEntry> = {}): SyncEntry {
  return Object.assign(new SyncEntry(), {
    op: SyncOp.Upsert, proto: 6, state: TcpState.ESTABLISHED, flags: ConnFlag.FULLNAT | ConnFlag.REPLIED,
    clientAddr: ip("192.0.2.1") + n, clientPort: 40000 + n, vipAddr: ip("10.0.0.10"), vipPort: 443,
    serverAddr: ip("10.1.0.11"), serverPort: 8443, localAddr: ip("10.1.0.100"), localPort: 20000 + n,
    serviceId: 1, serverIndex: 2, remainingMs: 900_000 + n, ageMs: 12_345 + n,
  }, overrides);
}

function fields(e: SyncEntry): Record<string, number> {
  const { op, proto, state, flags, clientAddr, clientPort, vipAddr, vipPort, serverAddr, serverPort, localAddr, localPort, serviceId, serverIndex, remainingMs, ageMs } = e;
  return { op, proto, state, flags, clientAddr, clientPort, vipAddr, vipPort, serverAddr, serverPort, localAddr, localPort, serviceId, serverIndex, remainingMs, ageMs };
}

/** A valid body of `count` upserts (and a remove in the middle when count > 2). */
function body(count: number, seq = 7): Uint8Array {
  const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
  for (let i = 0; i < count; i++) {
    const e = upsert(i);
    if (i === 1) setSyncRemove(e, 17, ip("198.51.100.9"), 5353, ip("10.0.0.10"), 53);
    encodeSyncEntry(out, i, e);
  }
  return out.subarray(0, encodeSyncHeader(out, { seq, generation: 0xdeadbeef, flags: 0, count }));
}

/** Deterministic xorshift32 for the fuzz cases. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>>= 0);
  };
}

describe("conn sync codec", () => {
  test("a full batch plus the transport's frame fits one 1400-byte datagram, and one more entry would not", () => {
    assert.equal(SYNC_MAX_BODY_BYTES, syncBodyBytes(SYNC_MAX_ENTRIES));
    assert.ok(SYNC_MAX_BODY_BYTES + SYNC_FRAME_OVERHEAD_BYTES <= SYNC_MAX_DATAGRAM_BYTES);
    assert.ok(syncBodyBytes(SYNC_MAX_ENTRIES + 1) + SYNC_FRAME_OVERHEAD_BYTES > SYNC_MAX_DATAGRAM_BYTES);
    assert.equal(SYNC_MAX_ENTRIES, 33);
  });

  test("upserts and removes round-trip with the header, up to the largest sequence number", () => {
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    const sent = Array.from({ length: SYNC_MAX_ENTRIES }, (_, i) => upsert(i, i % 3 === 0 ? { proto: 17, state: 0, flags: 0, localAddr: 0, localPort: 0 } : {}));
    setSyncRemove(sent[5]!, 6, ip("203.0.113.7"), 65535, ip("10.0.0.10"), 80);
    sent.forEach((e, i) => encodeSyncEntry(out, i, e));
    const seq = Number.MAX_SAFE_INTEGER;
    const bytes = encodeSyncHeader(out, { seq, generation: 0xfedcba98, flags: SyncBatchFlag.Full | SyncBatchFlag.FullEnd, count: sent.length });
    assert.equal(bytes, SYNC_MAX_BODY_BYTES);
    const batch = new SyncBatch();
    assert.equal(decodeSyncBatch(out, bytes, batch), SyncDecodeResult.Ok);
    assert.deepEqual({ seq: batch.seq, generation: batch.generation, flags: batch.flags, count: batch.count }, { seq, generation: 0xfedcba98, flags: 3, count: 33 });
    for (let i = 0; i < sent.length; i++) assert.deepEqual(fields(batch.entries[i]!), fields(sent[i]!), `entry ${i}`);
  });

  test("a remove carries only its key, and times outside u32 are clamped", () => {
    const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
    const remove = upsert(1, { op: SyncOp.Remove });
    encodeSyncEntry(out, 0, remove);
    encodeSyncEntry(out, 1, upsert(2, { remainingMs: -5, ageMs: 2 ** 40 }));
    const batch = new SyncBatch();
    assert.equal(decodeSyncBatch(out, encodeSyncHeader(out, { seq: 0, generation: 0, flags: 0, count: 2 }), batch), SyncDecodeResult.Ok);
    const r = batch.entries[0]!;
    assert.deepEqual([r.op, r.proto, r.clientAddr, r.clientPort, r.vipAddr, r.vipPort], [SyncOp.Remove, 6, remove.clientAddr, remove.clientPort, remove.vipAddr, 443]);
    assert.deepEqual([r.state, r.flags, r.serverAddr, r.serverPort, r.localAddr, r.localPort, r.serviceId, r.serverIndex, r.remainingMs, r.ageMs], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([batch.entries[1]!.remainingMs, batch.entries[1]!.ageMs], [0, 0xffffffff]);
  });

  test("encoding beyond the batch limit or the buffer is a RangeError", () => {
    assert.throws(() => encodeSyncEntry(new Uint8Array(SYNC_MAX_BODY_BYTES + 100), SYNC_MAX_ENTRIES, upsert(0)), RangeError);
    assert.throws(() => encodeSyncEntry(new Uint8Array(SYNC_HEADER_BYTES + SYNC_ENTRY_BYTES - 1), 0, upsert(0)), RangeError);
    assert.throws(() => encodeSyncHeader(new Uint8Array(SYNC_MAX_BODY_BYTES), { seq: 2 ** 53, generation: 0, flags: 0, count: 0 }), RangeError);
    assert.throws(() => encodeSyncHeader(new Uint8Array(SYNC_MAX_BODY_BYTES), { seq: 0, generation: 0, flags: 0, count: SYNC_MAX_ENTRIES + 1 }), RangeError);
    assert.throws(() => encodeSyncHeader(new Uint8Array(SYNC_HEADER_BYTES), { seq: 0, generation: 0, flags: 0, count: 1 }), RangeError);
  });

  test("malformed bodies are refused with their reason", () => {
    const batch = new SyncBatch();
    const good = body(3);
    const cases: [string, Uint8Array, number, number][] = [
      ["empty", good, 0, SyncDecodeResult.Truncated],
      ["short header", good, SYNC_HEADER_BYTES - 1, SyncDecodeResult.Truncated],
      ["missing last entry byte", good, good.length - 1, SyncDecodeResult.Truncated],
      ["length beyond the buffer", good, good.length + 1, SyncDecodeResult.Truncated],
      ["fractional length", good, 20.5, SyncDecodeResult.Truncated],
      ["NaN length", good, NaN, SyncDecodeResult.Truncated],
      ["trailing byte", Uint8Array.from([...good, 0]), good.length + 1, SyncDecodeResult.BadLength],
    ];
    const patched = (at: number, value: number): Uint8Array => {
      const b = good.slice();
      b[at] = value;
      return b;
    };
    cases.push(["version 2", patched(0, 2), good.length, SyncDecodeResult.BadVersion]);
    cases.push(["unknown header flag", patched(1, 0x80), good.length, SyncDecodeResult.BadHeader]);
    cases.push(["sequence beyond 2^53", patched(9, 0x20), good.length, SyncDecodeResult.BadHeader]);
    cases.push(["count above the limit", patched(3, SYNC_MAX_ENTRIES + 1), good.length, SyncDecodeResult.BadLength]);
    cases.push(["op 0", patched(SYNC_HEADER_BYTES, 0), good.length, SyncDecodeResult.BadEntry]);
    cases.push(["protocol 0", patched(SYNC_HEADER_BYTES + 1, 0), good.length, SyncDecodeResult.BadEntry]);
    cases.push(["state 9", patched(SYNC_HEADER_BYTES + 2, 9), good.length, SyncDecodeResult.BadEntry]);
    cases.push(["unknown entry flag", patched(SYNC_HEADER_BYTES + 3, 0x40), good.length, SyncDecodeResult.BadEntry]);
    for (const [name, bytes, length, want] of cases) {
      batch.count = 99;
      assert.equal(decodeSyncBatch(bytes, length, batch), want, name);
      assert.equal(batch.count, 0, `${name}: no entries on failure`);
    }
  });

  test("fuzz: every prefix, random bytes and bit flips decode without throwing", () => {
    const batch = new SyncBatch();
    const known = new Set<number>(Object.values(SyncDecodeResult));
    const check = (bytes: Uint8Array, length: number): number => {
      const r = decodeSyncBatch(bytes, length, batch);
      assert.ok(known.has(r), `unknown result ${r}`);
      if (r === SyncDecodeResult.Ok) assert.ok(batch.count <= SYNC_MAX_ENTRIES && length === syncBodyBytes(batch.count));
      else assert.equal(batch.count, 0);
      return r;
    };
    const good = body(SYNC_MAX_ENTRIES);
    for (let n = 0; n < good.length; n++) assert.equal(check(good, n), SyncDecodeResult.Truncated, `prefix of ${n} bytes`);
    const next = rng(0x5eed);
    let ok = 0;
    for (let round = 0; round < 5000; round++) {
      const length = next() % (SYNC_MAX_BODY_BYTES + 64);
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = next();
      // Half the cases get a plausible header so the entry checks are reached too.
      if (round % 2 === 0 && length >= SYNC_HEADER_BYTES) {
        bytes[0] = 1;
        bytes[1] &= 3;
        bytes[2] = 0;
        bytes[3] = Math.floor((length - SYNC_HEADER_BYTES) / SYNC_ENTRY_BYTES);
        bytes[8] = 0;
      }
      check(bytes, length);
    }
    for (let round = 0; round < 5000; round++) {
      const bytes = good.slice();
      const flips = 1 + (next() % 4);
      for (let f = 0; f < flips; f++) {
        const bit = next() % (bytes.length * 8);
        bytes[bit >>> 3] ^= 1 << (bit & 7);
      }
      if (check(bytes, bytes.length) === SyncDecodeResult.Ok) ok++;
    }
    // Flips in addresses, ports and times leave a valid body: the fuzz reached the entry decoder.
    assert.ok(ok > 1000, `only ${ok} flipped bodies decoded`);
  });
});

describe("sync service index", () => {
  const spec: DispatchSpec = {
    maxConnections: 16, localPortMin: 20000, localPortMax: 20999, timeouts: ConnTable.create(1).timeouts(),
    services: [
      {
        name: "web", proto: 6, vip: ip("10.0.0.10"), port: 80, fullnat: false, localAddrs: [], scheduler: "rr", persistenceMs: 0, persistencePrefix: 32,
        servers: [{ name: "a", addr: ip("10.1.0.11"), port: 80, weight: 1, admin: "active", up: true }],
      },
      {
        name: "app", proto: 6, vip: ip("10.0.0.10"), port: 443, fullnat: true, localAddrs: [ip("10.1.0.100")], scheduler: "rr", persistenceMs: 0, persistencePrefix: 32,
        servers: [
          { name: "a", addr: ip("10.1.0.11"), port: 8443, weight: 1, admin: "active", up: true },
          { name: "b", addr: ip("10.1.0.12"), port: 8443, weight: 1, admin: "active", up: true },
        ],
      },
    ],
  };
  const index = new SyncServiceIndex(spec);

  test("an entry is matched by protocol, VIP and port, and its server by address and port", () => {
    const e = upsert(0, { serviceId: 7, serverIndex: 9, serverAddr: ip("10.1.0.12") });
    assert.equal(index.resolve(e), SyncResult.Applied);
    assert.deepEqual([e.serviceId, e.serverIndex], [1, 1]);
  });

  test("unknown services, unknown servers and mismatched forwarding are refused", () => {
    assert.equal(index.resolve(upsert(0, { vipPort: 444 })), SyncResult.UnknownService);
    assert.equal(index.resolve(upsert(0, { proto: 17 })), SyncResult.UnknownService);
    assert.equal(index.resolve(upsert(0, { serverPort: 80 })), SyncResult.UnknownServer);
    assert.equal(index.resolve(upsert(0, { flags: 0 })), SyncResult.Mismatch);
    assert.equal(index.resolve(upsert(0, { localAddr: ip("10.1.0.101") })), SyncResult.Mismatch);
    assert.equal(index.resolve(upsert(0, { vipPort: 80, serverPort: 80 })), SyncResult.Mismatch);
  });
});

describe("reading a table entry for sync", () => {
  test("the lifetime sent covers the sender's remaining time plus its refresh interval", () => {
    const t = ConnTable.create(8, { seed: [1, 2] });
    const spec = Object.assign(new ConnSpec(), { proto: 6, clientAddr: ip("192.0.2.1"), clientPort: 1234, vipAddr: ip("10.0.0.10"), vipPort: 80, serverAddr: ip("10.1.0.11"), serverPort: 80, serviceId: 0, serverIndex: 0 });
    const id = t.insert(spec, 1_000);
    t.update(id, 0, 0x02, 60, 1_000);
    t.update(id, 1, 0x12, 60, 1_500);
    t.update(id, 0, 0x10, 60, 2_000);
    const e = new SyncEntry();
    assert.equal(readSyncEntry(t, id, 5_000, e), true);
    assert.equal(e.state, TcpState.ESTABLISHED);
    assert.equal(e.flags, ConnFlag.REPLIED);
    assert.equal(e.ageMs, 4_000);
    assert.equal(t.syncRefreshMs(6, TcpState.ESTABLISHED), 120 * 1024);
    assert.equal(e.remainingMs, 2_000 + 15 * 60_000 - 5_000 + 120 * 1024 + 1024);
    assert.deepEqual([e.serverAddr, e.clientPort, e.vipPort], [ip("10.1.0.11"), 1234, 80]);
    t.remove(id);
    assert.equal(readSyncEntry(t, id, 5_000, e), false);
  });
});
