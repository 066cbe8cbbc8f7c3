import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnFlag, DEFAULT_TIMEOUTS, TcpState } from "../../../../src/core/nat/conn-table.ts";
import type { DispatchService, DispatchSpec } from "../../../../src/core/nat/dispatcher-spec.ts";
import { Dispatcher, Verdict, type ConnChangeSink } from "../../../../src/core/nat/dispatcher.ts";
import { formatIpv4 } from "../../../../src/core/packet/ipv4-address.ts";
import { PacketView, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import {
  SYNC_MAX_BODY_BYTES, SYNC_MAX_ENTRIES, SyncBatch, SyncBatchFlag, SyncDecodeResult, SyncEntry, SyncOp, SyncResult,
  decodeSyncBatch, encodeSyncEntry, encodeSyncHeader, readSyncEntry, setSyncRemove,
} from "../../../../src/core/sync/conn-sync-codec.ts";
import { ip, tcp, udp } from "../packet/packet-builder.ts";

const VIP = "10.0.0.10";
const LIP = "10.1.0.100";
const SYN = 0x02, ACK = 0x10, FIN = 0x01, RST = 0x04, PSH = 0x08;
const T0 = 1_000_000;

function server(n: number, port: number) {
  return { name: `s${n}`, addr: ip(`10.1.0.${10 + n}`), port, weight: 1, admin: "active" as const, up: true };
}

/** nat web (rr over three servers), fullnat app (lc, `appServers` servers), fullnat UDP dns. */
function pairSpec(options: { portMin?: number; portMax?: number; appServers?: number; maxConnections?: number } = {}): DispatchSpec {
  const base = { localAddrs: [] as number[], scheduler: "rr" as const, persistenceMs: 0, persistencePrefix: 32, fullnat: false };
  const services: DispatchService[] = [
    { ...base, name: "web", proto: 6, vip: ip(VIP), port: 80, servers: [server(1, 80), server(2, 80), server(3, 80)] },
    { ...base, name: "app", proto: 6, vip: ip(VIP), port: 443, fullnat: true, localAddrs: [ip(LIP)], scheduler: "lc", servers: Array.from({ length: options.appServers ?? 2 }, (_, i) => server(i + 1, 8443)) },
    { ...base, name: "dns", proto: 17, vip: ip(VIP), port: 53, fullnat: true, localAddrs: [ip(LIP)], servers: [server(1, 53)] },
  ];
  return { services, maxConnections: options.maxConnections ?? 4096, localPortMin: options.portMin ?? 20000, localPortMax: options.portMax ?? 29999, timeouts: { ...DEFAULT_TIMEOUTS } };
}

/** A's capture, as the packet worker's ring does it: upserts by id (read at sync time), removes with the key read at once. */
class Recorder implements ConnChangeSink {
  readonly queue: (number | SyncEntry)[] = [];
  constructor(private readonly d: Dispatcher) {}
  upserted(id: number): void {
    this.queue.push(id);
  }
  removed(id: number): void {
    const t = this.d.table, e = new SyncEntry();
    setSyncRemove(e, t.proto(id), t.clientAddr(id), t.clientPort(id), t.vipAddr(id), t.vipPort(id));
    this.queue.push(e);
  }
}

/** Both nodes of a pair: A active with capture on, B a standby (different hash and port seeds). */
function pair(spec = pairSpec()): { a: Dispatcher; b: Dispatcher; rec: Recorder } {
  const a = new Dispatcher(spec, { seed: 1 });
  const b = new Dispatcher(spec, { seed: 2 });
  const rec = new Recorder(a);
  a.setSyncSink(rec);
  return { a, b, rec };
}

/**
 * Ships A's queued changes to B through the wire format, one batch per SYNC_MAX_ENTRIES, as the
 * engine does: an entry queued several times goes once, read as it is now. Returns B's results by name.
 */
function syncChanges(a: Dispatcher, rec: Recorder, b: Dispatcher, nowMs: number): Record<string, number> {
  const entries: SyncEntry[] = [];
  const queued = new Set<number>();
  for (const item of rec.queue.splice(0)) {
    if (typeof item !== "number") {
      entries.push(item);
      continue;
    }
    if (queued.has(item)) continue;
    queued.add(item);
    const e = new SyncEntry();
    if (readSyncEntry(a.table, item, nowMs, e)) entries.push(e);
  }
  return ship(entries, b, nowMs, 0);
}

/** Walks A's whole table as a full resync; returns B's results and the number of batches. */
function fullSync(a: Dispatcher, b: Dispatcher, nowMs: number): { results: Record<string, number>; batches: number } {
  const entries: SyncEntry[] = [];
  for (let id = a.table.nextLive(0); id >= 0; id = a.table.nextLive(id + 1)) {
    const e = new SyncEntry();
    assert.ok(readSyncEntry(a.table, id, nowMs, e));
    entries.push(e);
  }
  const results = ship(entries, b, nowMs, SyncBatchFlag.Full);
  return { results, batches: Math.ceil(entries.length / SYNC_MAX_ENTRIES) };
}

let seq = 0;
function ship(entries: SyncEntry[], b: Dispatcher, nowMs: number, flags: number): Record<string, number> {
  const results: Record<string, number> = {};
  const out = new Uint8Array(SYNC_MAX_BODY_BYTES);
  const batch = new SyncBatch();
  for (let at = 0; at < entries.length; at += SYNC_MAX_ENTRIES) {
    const chunk = entries.slice(at, at + SYNC_MAX_ENTRIES);
    chunk.forEach((e, i) => encodeSyncEntry(out, i, e));
    const last = at + SYNC_MAX_ENTRIES >= entries.length;
    const bytes = encodeSyncHeader(out, { seq: seq++, generation: 1, flags: flags && (flags | (last ? SyncBatchFlag.FullEnd : 0)), count: chunk.length });
    assert.equal(decodeSyncBatch(out, bytes, batch), SyncDecodeResult.Ok);
    for (let i = 0; i < batch.count; i++) {
      const name = ["applied", "absent", "unknown_service", "unknown_server", "mismatch", "table_full", "conflict"][b.applySynced(batch.entries[i]!, nowMs)]!;
      results[name] = (results[name] ?? 0) + 1;
    }
  }
  return results;
}

const view = new PacketView();
interface Sent {
  verdict: Verdict;
  src: string;
  srcPort: number;
  dst: string;
  dstPort: number;
}

/** Processes one packet on `d` and describes what came out. */
function send(d: Dispatcher, packet: Uint8Array, nowMs: number): Sent {
  const verdict = d.process(packet, 0, packet.length, nowMs);
  decodeIpv4(packet, 0, packet.length, view);
  return { verdict, src: formatIpv4(view.src), srcPort: view.srcPort, dst: formatIpv4(view.dst), dstPort: view.dstPort };
}

/** A client's TCP segment to the VIP. */
function fromClient(client: string, port: number, vipPort: number, flags: number): Uint8Array {
  return tcp({ src: client, dst: VIP }, { srcPort: port, dstPort: vipPort, flags });
}

/** The server's TCP segment answering what `toServer` was (a forwarded client packet). */
function fromServer(toServer: Sent, flags: number): Uint8Array {
  return tcp({ src: toServer.dst, dst: toServer.src }, { srcPort: toServer.dstPort, dstPort: toServer.srcPort, flags });
}

/** Runs SYN, SYN-ACK, ACK through `d`; returns the forwarded SYN (server side of the flow). */
function handshake(d: Dispatcher, client: string, port: number, vipPort: number, nowMs: number): Sent {
  const syn = send(d, fromClient(client, port, vipPort, SYN), nowMs);
  assert.equal(syn.verdict, Verdict.Forward, "SYN forwarded");
  assert.equal(send(d, fromServer(syn, SYN | ACK), nowMs + 1).verdict, Verdict.Forward, "SYN-ACK forwarded");
  assert.equal(send(d, fromClient(client, port, vipPort, ACK), nowMs + 2).verdict, Verdict.Forward, "ACK forwarded");
  return syn;
}

function entryOn(d: Dispatcher, client: string, port: number, vipPort: number, proto = 6): number {
  return d.table.lookupOutside(proto, ip(client), port, ip(VIP), vipPort);
}

describe("connection-state sync between two dispatchers", () => {
  test("a synced nat connection continues on the standby to the same server, and replies go back to the client", () => {
    const { a, b, rec } = pair();
    handshake(a, "192.0.2.1", 1000, 80, T0);
    const second = handshake(a, "192.0.2.1", 1001, 80, T0);
    assert.equal(second.dst, "10.1.0.12", "A's rr sent the second flow to s2");
    assert.deepEqual(syncChanges(a, rec, b, T0 + 3), { applied: 2 });
    const id = entryOn(b, "192.0.2.1", 1001, 80);
    assert.equal(b.table.state(id), TcpState.ESTABLISHED);
    assert.ok(b.table.flags(id) & ConnFlag.SYNCED);
    assert.deepEqual(b.connections(0, 1), { active: 1, inactive: 0 });
    // B's own rr would pick s1 for a new flow; the synced flow still goes to s2.
    const data = send(b, fromClient("192.0.2.1", 1001, 80, ACK | PSH), T0 + 10);
    assert.deepEqual(data, { verdict: Verdict.Forward, src: "192.0.2.1", srcPort: 1001, dst: "10.1.0.12", dstPort: 80 });
    const reply = send(b, fromServer(data, ACK | PSH), T0 + 11);
    assert.deepEqual(reply, { verdict: Verdict.Forward, src: VIP, srcPort: 80, dst: "192.0.2.1", dstPort: 1001 });
    assert.equal(send(b, fromClient("192.0.2.9", 5000, 80, SYN), T0 + 12).dst, "10.1.0.11");
  });

  test("a synced fullnat connection keeps its server and local address:port on the standby", () => {
    const { a, b, rec } = pair();
    const syn = handshake(a, "192.0.2.7", 40000, 443, T0);
    assert.equal(syn.src, LIP);
    syncChanges(a, rec, b, T0 + 3);
    const data = send(b, fromClient("192.0.2.7", 40000, 443, ACK | PSH), T0 + 10);
    assert.deepEqual(data, { verdict: Verdict.Forward, src: LIP, srcPort: syn.srcPort, dst: syn.dst, dstPort: 8443 });
    const reply = send(b, fromServer(data, ACK | PSH), T0 + 11);
    assert.deepEqual(reply, { verdict: Verdict.Forward, src: VIP, srcPort: 443, dst: "192.0.2.7", dstPort: 40000 });
  });

  test("a UDP flow is synced again at its first reply, which makes it non-embryonic", () => {
    const { a, b, rec } = pair();
    const q = send(a, udp({ src: "192.0.2.3", dst: VIP }, { srcPort: 5353, dstPort: 53 }), T0);
    syncChanges(a, rec, b, T0);
    assert.equal(b.table.isEmbryonic(entryOn(b, "192.0.2.3", 5353, 53, 17)), true);
    send(a, udp({ src: q.dst, dst: q.src }, { srcPort: q.dstPort, dstPort: q.srcPort }), T0 + 1);
    assert.deepEqual(syncChanges(a, rec, b, T0 + 2), { applied: 1 });
    const id = entryOn(b, "192.0.2.3", 5353, 53, 17);
    assert.ok(b.table.flags(id) & ConnFlag.REPLIED);
    assert.equal(b.table.isEmbryonic(id), false);
    const again = send(b, udp({ src: "192.0.2.3", dst: VIP }, { srcPort: 5353, dstPort: 53 }), T0 + 3);
    assert.deepEqual([again.src, again.srcPort, again.dst], [LIP, q.srcPort, q.dst]);
  });

  test("closing on the active follows on the standby: FIN states sync, and the removal after expiry deletes it", () => {
    const { a, b, rec } = pair();
    const syn = handshake(a, "192.0.2.1", 1000, 443, T0);
    syncChanges(a, rec, b, T0 + 3);
    send(a, fromClient("192.0.2.1", 1000, 443, FIN | ACK), T0 + 10);
    send(a, fromServer(syn, FIN | ACK), T0 + 11);
    send(a, fromClient("192.0.2.1", 1000, 443, ACK), T0 + 12);
    syncChanges(a, rec, b, T0 + 13);
    const id = entryOn(b, "192.0.2.1", 1000, 443);
    assert.equal(b.table.state(id), TcpState.TIME_WAIT);
    assert.deepEqual(b.connections(1, 0), { active: 0, inactive: 1 });
    // A reaps TIME_WAIT after 2 minutes; B's copy would live a little longer but is removed by sync.
    a.expire(T0 + 13 + DEFAULT_TIMEOUTS.tcpTimeWaitMs + 2_000, 1000);
    assert.equal(a.table.count, 0);
    assert.deepEqual(syncChanges(a, rec, b, T0 + 200_000), { applied: 1 });
    assert.equal(b.table.count, 0);
    assert.deepEqual(b.connections(1, 0), { active: 0, inactive: 0 });
  });

  test("a reset on the active closes the standby's copy and its removal frees the server's count there", () => {
    const { a, b, rec } = pair();
    handshake(a, "192.0.2.1", 1000, 80, T0);
    syncChanges(a, rec, b, T0 + 3);
    assert.deepEqual(b.connections(0, 0), { active: 1, inactive: 0 });
    send(a, fromClient("192.0.2.1", 1000, 80, RST), T0 + 4);
    syncChanges(a, rec, b, T0 + 5);
    assert.equal(b.table.state(entryOn(b, "192.0.2.1", 1000, 80)), TcpState.CLOSE);
    assert.deepEqual(b.connections(0, 0), { active: 0, inactive: 1 });
    a.expire(T0 + 30_000, 1000);
    syncChanges(a, rec, b, T0 + 30_000);
    assert.equal(entryOn(b, "192.0.2.1", 1000, 80), -1);
    assert.deepEqual(b.connections(0, 0), { active: 0, inactive: 0 });
  });

  test("applying the same upsert twice changes nothing the second time", () => {
    const { a, b, rec } = pair();
    handshake(a, "192.0.2.1", 1000, 80, T0);
    rec.queue.length = 0;
    fullSync(a, b, T0 + 3);
    fullSync(a, b, T0 + 4);
    assert.equal(b.table.count, 1);
    assert.deepEqual(b.connections(0, 0), { active: 1, inactive: 0 });
    assert.equal(b.table.audit(), "");
  });

  test("the standby's own view is replaced when the active sends another server for the same client key", () => {
    const { a, b, rec } = pair();
    // B once served this client key itself (to s1); the active's entry says s2.
    send(b, fromClient("192.0.2.1", 1001, 80, SYN), T0);
    handshake(a, "192.0.2.1", 1000, 80, T0);
    handshake(a, "192.0.2.1", 1001, 80, T0);
    syncChanges(a, rec, b, T0 + 3);
    assert.equal(b.table.serverAddr(entryOn(b, "192.0.2.1", 1001, 80)), ip("10.1.0.12"));
    assert.deepEqual([b.connections(0, 0), b.connections(0, 1)], [{ active: 1, inactive: 0 }, { active: 1, inactive: 0 }]);
    assert.equal(b.table.audit(), "");
  });

  test("entries for services or servers the standby does not have are refused with a reason", () => {
    const { a, rec } = pair();
    handshake(a, "192.0.2.1", 1000, 80, T0);
    handshake(a, "192.0.2.1", 1000, 443, T0);
    const spec = pairSpec();
    const other = new Dispatcher({ ...spec, services: [{ ...spec.services[0]!, servers: [server(5, 80)] }] }, { seed: 3 });
    assert.deepEqual(syncChanges(a, rec, other, T0 + 3), { unknown_server: 1, unknown_service: 1 });
    assert.equal(other.table.count, 0);
  });

  test("changes applied on the standby are not captured back, even with capture on there", () => {
    const { a, b, rec } = pair();
    const echo = new Recorder(b);
    b.setSyncSink(echo);
    handshake(a, "192.0.2.1", 1000, 443, T0);
    syncChanges(a, rec, b, T0 + 3);
    assert.equal(b.table.count, 1);
    assert.deepEqual(echo.queue, []);
  });

  test("a long-lived connection is re-sent often enough that the standby's copy never expires before the active's", () => {
    const { a, b, rec } = pair();
    handshake(a, "192.0.2.1", 1000, 80, T0);
    syncChanges(a, rec, b, T0 + 3);
    let resent = 0;
    // One packet a minute for an hour: a 15-minute established timeout would lapse on B without refreshes.
    for (let m = 1; m <= 60; m++) {
      const now = T0 + m * 60_000;
      send(a, fromClient("192.0.2.1", 1000, 80, ACK | PSH), now);
      if (rec.queue.length > 0) resent++;
      syncChanges(a, rec, b, now);
      const ida = entryOn(a, "192.0.2.1", 1000, 80), idb = entryOn(b, "192.0.2.1", 1000, 80);
      assert.ok(b.table.expiresMs(idb) >= a.table.expiresMs(ida), `minute ${m}: B expires at ${b.table.expiresMs(idb)}, A at ${a.table.expiresMs(ida)}`);
    }
    // At the first packet after the 122.88 s refresh interval of an established entry: every third minute, not every packet.
    assert.equal(resent, 20);
    b.expire(T0 + 61 * 60_000, 1000);
    assert.equal(b.table.count, 1, "B still holds the live connection");
  });

  test("a packet soon after the last sync does not re-send, and capture off reports nothing", () => {
    const { a, rec } = pair();
    handshake(a, "192.0.2.1", 1000, 80, T0);
    rec.queue.length = 0;
    send(a, fromClient("192.0.2.1", 1000, 80, ACK | PSH), T0 + 30_000);
    assert.deepEqual(rec.queue, []);
    a.setSyncSink(null);
    send(a, fromClient("192.0.2.1", 1000, 80, ACK | PSH), T0 + 1_000_000);
    handshake(a, "192.0.2.2", 1000, 80, T0 + 1_000_001);
    assert.deepEqual(rec.queue, []);
  });

  test("a full resync of 10,000 entries arrives intact", () => {
    const spec = pairSpec({ maxConnections: 16384, portMin: 1024, portMax: 65535 });
    const { a, b, rec } = pair(spec);
    a.setSyncSink(null);
    for (let i = 0; i < 10_000; i++) {
      const client = `198.18.${i >> 8}.${i & 0xff}`, port = 10000;
      const vipPort = i % 3 === 0 ? 443 : 80;
      // Mixed states: established, half-open (SYN only), closing.
      if (i % 5 === 0) assert.equal(send(a, fromClient(client, port, vipPort, SYN), T0).verdict, Verdict.Forward);
      else handshake(a, client, port, vipPort, T0);
      if (i % 7 === 0) send(a, fromClient(client, port, vipPort, FIN | ACK), T0 + 5);
    }
    assert.equal(a.table.count, 10_000);
    void rec;
    const { results, batches } = fullSync(a, b, T0 + 10);
    assert.deepEqual(results, { applied: 10_000 });
    assert.equal(batches, Math.ceil(10_000 / SYNC_MAX_ENTRIES));
    assert.equal(b.table.count, 10_000);
    assert.equal(b.table.audit(), "");
    let checked = 0;
    for (let id = a.table.nextLive(0); id >= 0; id = a.table.nextLive(id + 1)) {
      const t = a.table, idb = b.table.lookupOutside(t.proto(id), t.clientAddr(id), t.clientPort(id), t.vipAddr(id), t.vipPort(id));
      assert.ok(idb >= 0);
      const got = [b.table.state(idb), b.table.serverAddr(idb), b.table.serverPort(idb), b.table.localAddr(idb), b.table.localPort(idb), b.table.flags(idb) & ConnFlag.FULLNAT];
      assert.deepEqual(got, [t.state(id), t.serverAddr(id), t.serverPort(id), t.localAddr(id), t.localPort(id), t.flags(id) & ConnFlag.FULLNAT]);
      checked++;
    }
    assert.equal(checked, 10_000);
    for (const [s, n] of [[0, 3], [1, 2]] as const) {
      for (let i = 0; i < n; i++) assert.deepEqual(b.connections(s, i), a.connections(s, i), `service ${s} server ${i}`);
    }
  });

  test("the standby never gives a new flow a local port that a synced connection holds, and gets those ports back when they close", () => {
    // One fullnat server and 100 local ports: A takes 60 of them, B may hand out only the other 40.
    const spec = pairSpec({ portMin: 40000, portMax: 40099, appServers: 1 });
    const { a, b, rec } = pair(spec);
    const synced = new Set<number>();
    for (let i = 0; i < 60; i++) synced.add(handshake(a, "192.0.2.1", 1000 + i, 443, T0).srcPort);
    assert.deepEqual(syncChanges(a, rec, b, T0 + 3), { applied: 60 });
    const fresh = new Set<number>();
    for (let i = 0; i < 40; i++) {
      const syn = send(b, fromClient("198.51.100.1", 2000 + i, 443, SYN), T0 + 10);
      assert.equal(syn.verdict, Verdict.Forward, `new flow ${i}`);
      assert.ok(!synced.has(syn.srcPort), `port ${syn.srcPort} belongs to a synced connection`);
      fresh.add(syn.srcPort);
    }
    assert.equal(fresh.size, 40);
    assert.equal(send(b, fromClient("198.51.100.1", 3000, 443, SYN), T0 + 11).verdict, Verdict.Drop);
    assert.equal(b.drops.snapshot().no_local_port, 1);
    assert.equal(b.table.audit(), "");
    // The synced connections close on A: their ports serve B's new flows again.
    for (let i = 0; i < 60; i++) send(a, fromClient("192.0.2.1", 1000 + i, 443, RST), T0 + 20);
    a.expire(T0 + 60_000, 10_000);
    syncChanges(a, rec, b, T0 + 60_000);
    const reused = new Set<number>();
    for (let i = 0; i < 60; i++) {
      const syn = send(b, fromClient("198.51.100.2", 4000 + i, 443, SYN), T0 + 60_001);
      assert.equal(syn.verdict, Verdict.Forward, `flow ${i} after the synced ones closed`);
      reused.add(syn.srcPort);
    }
    assert.deepEqual([...reused].sort(), [...synced].sort());
  });

  test("a remove for a connection the standby no longer has is reported as absent", () => {
    const { b } = pair();
    const e = new SyncEntry();
    setSyncRemove(e, 6, ip("192.0.2.1"), 1000, ip(VIP), 80);
    assert.equal(b.applySynced(e, T0), SyncResult.Absent);
    assert.equal(e.op, SyncOp.Remove);
  });
});
