import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ConnFlag, DEFAULT_TIMEOUTS, TcpState } from "../../../../src/core/nat/conn-table.ts";
import { StatField } from "../../../../src/core/nat/dispatch-stats.ts";
import { Dispatcher, Verdict } from "../../../../src/core/nat/dispatcher.ts";
import type { DispatchService, DispatchSpec } from "../../../../src/core/nat/dispatcher-spec.ts";
import { SyncEntry, SyncResult } from "../../../../src/core/sync/conn-sync-codec.ts";
import { formatIpv4 } from "../../../../src/core/packet/ipv4-address.ts";
import { PacketView, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import { ip, pattern, tcp, udp } from "../packet/packet-builder.ts";

const VIP = "10.0.0.10";
const CLIENT = "192.0.2.1";
const SYN = 0x02, ACK = 0x10, PSH = 0x08, RST = 0x04;

function service(overrides: Partial<DispatchService> = {}): DispatchService {
  return {
    name: "web", proto: 6, vip: ip(VIP), port: 80, fullnat: false, localAddrs: [], scheduler: "rr", persistenceMs: 0, persistencePrefix: 32,
    servers: [0, 1, 2].map((i) => ({ name: `s${i + 1}`, addr: ip(`10.1.0.${11 + i}`), port: 80, weight: 1, admin: "active" as const, up: true })),
    ...overrides,
  };
}

function spec(services: DispatchService[]): DispatchSpec {
  return { services, maxConnections: 64, localPortMin: 30000, localPortMax: 30099, timeouts: { ...DEFAULT_TIMEOUTS, tcpEstablishedMs: 60_000, udpMs: 5_000 } };
}

const out = new PacketView();

/** A client packet at `nowMs` (with `bytes` of payload); returns the server it went to, or "drop". */
function fromClient(d: Dispatcher, port: number, flags: number, nowMs: number, bytes = 0): string {
  const pkt = tcp({ src: CLIENT, dst: VIP }, { srcPort: port, dstPort: 80, flags, payload: pattern(bytes) });
  if (d.process(pkt, 0, pkt.length, nowMs) === Verdict.Drop) return "drop";
  decodeIpv4(pkt, 0, pkt.length, out);
  return formatIpv4(out.dst);
}

/** A server packet at `nowMs` on the client's connection (nat: addressed to the client). */
function fromServer(d: Dispatcher, server: string, port: number, flags: number, nowMs: number, bytes = 0): number {
  const pkt = tcp({ src: server, dst: CLIENT }, { srcPort: 80, dstPort: port, flags, payload: pattern(bytes) });
  return d.process(pkt, 0, pkt.length, nowMs);
}

/** Opens a connection with a handshake ending at 2 ms; returns its server. */
function connect(d: Dispatcher, port: number): string {
  const server = fromClient(d, port, SYN, 0);
  fromServer(d, server, port, SYN | ACK, 1);
  fromClient(d, port, ACK, 2);
  return server;
}

/** [sum of ms, count] of server `i` of service 0, and of the service. */
function measured(d: Dispatcher, i: number): { server: [number, number]; service: [number, number] } {
  const v = d.stats.values;
  return {
    server: [v[d.stats.serverSlot(0, i, StatField.ResponseTimeSumMs)]!, v[d.stats.serverSlot(0, i, StatField.ResponseTimes)]!],
    service: [v[d.stats.serviceSlot(0, StatField.ResponseTimeSumMs)]!, v[d.stats.serviceSlot(0, StatField.ResponseTimes)]!],
  };
}

describe("response time from live traffic", () => {
  test("a request answered 25 ms later counts one response time of 25 ms for its server", () => {
    const d = new Dispatcher(spec([service()]));
    const server = connect(d, 1000);
    assert.equal(server, "10.1.0.11");
    fromClient(d, 1000, PSH | ACK, 10, 100);
    // The server's bare ACK of the request is not a response.
    assert.equal(fromServer(d, server, 1000, ACK, 15), Verdict.Forward);
    assert.deepEqual(measured(d, 0).server, [0, 0]);
    fromServer(d, server, 1000, PSH | ACK, 35, 500);
    assert.deepEqual(measured(d, 0), { server: [25, 1], service: [25, 1] });
    assert.deepEqual(measured(d, 1).server, [0, 0]);
  });

  test("each turn of a keep-alive connection counts once, from its first request segment to the first response segment", () => {
    const d = new Dispatcher(spec([service()]));
    const server = connect(d, 1000);
    fromClient(d, 1000, ACK, 10, 1460);
    fromClient(d, 1000, PSH | ACK, 12, 200);
    fromServer(d, server, 1000, ACK, 30, 1460);
    fromServer(d, server, 1000, PSH | ACK, 31, 1460);
    fromClient(d, 1000, ACK, 32);
    fromClient(d, 1000, PSH | ACK, 50, 100);
    fromServer(d, server, 1000, PSH | ACK, 53, 100);
    assert.deepEqual(measured(d, 0).server, [20 + 3, 2]);
  });

  test("data the server sends unasked (a banner) counts nothing; the next request does", () => {
    const d = new Dispatcher(spec([service()]));
    const server = connect(d, 1000);
    fromServer(d, server, 1000, PSH | ACK, 5, 40);
    assert.deepEqual(measured(d, 0).server, [0, 0]);
    fromClient(d, 1000, PSH | ACK, 8, 10);
    fromServer(d, server, 1000, PSH | ACK, 9.5, 40);
    assert.deepEqual(measured(d, 0).server, [1.5, 1]);
  });

  test("a request the server resets instead of answering counts nothing", () => {
    const d = new Dispatcher(spec([service()]));
    const server = connect(d, 1000);
    fromClient(d, 1000, PSH | ACK, 10, 100);
    fromServer(d, server, 1000, RST | ACK, 20);
    assert.deepEqual(measured(d, 0).server, [0, 0]);
  });

  test("a UDP query and its answer count one response time", () => {
    const d = new Dispatcher(spec([service({ proto: 17, port: 53, servers: [{ name: "dns", addr: ip("10.1.0.21"), port: 53, weight: 1, admin: "active", up: true }] })]));
    const query = udp({ src: CLIENT, dst: VIP }, { srcPort: 5353, dstPort: 53, payload: pattern(30) });
    assert.equal(d.process(query, 0, query.length, 100), Verdict.Forward);
    const answer = udp({ src: "10.1.0.21", dst: CLIENT }, { srcPort: 53, dstPort: 5353, payload: pattern(60) });
    assert.equal(d.process(answer, 0, answer.length, 104), Verdict.Forward);
    assert.deepEqual(measured(d, 0).server, [4, 1]);
  });

  test("fullnat connections are measured like nat ones", () => {
    const d = new Dispatcher(spec([service({ fullnat: true, localAddrs: [ip("10.1.0.200")] })]));
    fromClient(d, 1000, SYN, 0);
    const entry = d.table.lookupOutside(6, ip(CLIENT), 1000, ip(VIP), 80);
    const server = formatIpv4(d.table.serverAddr(entry)), local = formatIpv4(d.table.localAddr(entry)), localPort = d.table.localPort(entry);
    const reply = (flags: number, nowMs: number, bytes = 0) => {
      const pkt = tcp({ src: server, dst: local }, { srcPort: 80, dstPort: localPort, flags, payload: pattern(bytes) });
      return d.process(pkt, 0, pkt.length, nowMs);
    };
    reply(SYN | ACK, 1);
    fromClient(d, 1000, ACK, 2);
    fromClient(d, 1000, PSH | ACK, 10, 80);
    assert.equal(reply(PSH | ACK, 17, 300), Verdict.Forward);
    assert.deepEqual(measured(d, 0).server, [7, 1]);
  });

  test("a request left pending when its entry is removed does not leak into the next connection in that slot", () => {
    const d = new Dispatcher(spec([service({ servers: [service().servers[0]!] })]));
    const server = connect(d, 1000);
    fromClient(d, 1000, PSH | ACK, 10, 100);
    const id = d.table.lookupOutside(6, ip(CLIENT), 1000, ip(VIP), 80);
    assert.ok((d.table.flags(id) & ConnFlag.REQUEST_PENDING) !== 0);
    d.table.remove(id);
    connect(d, 2000);
    assert.equal(d.table.lookupOutside(6, ip(CLIENT), 2000, ip(VIP), 80), id, "the slot is reused");
    fromServer(d, server, 2000, PSH | ACK, 500_000, 40);
    assert.deepEqual(measured(d, 0).server, [0, 0]);
  });

  test("a connection taken over by state sync starts with no request pending", () => {
    const d = new Dispatcher(spec([service()]));
    const e = new SyncEntry();
    Object.assign(e, {
      proto: 6, clientAddr: ip(CLIENT), clientPort: 1000, vipAddr: ip(VIP), vipPort: 80, serverAddr: ip("10.1.0.12"), serverPort: 80,
      serviceId: 0, serverIndex: 1, flags: ConnFlag.REPLIED | ConnFlag.REQUEST_PENDING, state: TcpState.ESTABLISHED, remainingMs: 60_000, ageMs: 0,
    });
    assert.equal(d.applySynced(e, 0), SyncResult.Applied);
    fromServer(d, "10.1.0.12", 1000, PSH | ACK, 100, 40);
    assert.deepEqual(measured(d, 1).server, [0, 0]);
  });
});

describe("adaptive weights in the dispatcher", () => {
  test("setAdaptiveWeight steers the adaptive scheduler 3:1 and an administrator's weight resets it", () => {
    const d = new Dispatcher(spec([service({ scheduler: "adaptive", servers: service().servers.slice(0, 2) })]));
    d.setAdaptiveWeight(0, 0, 3);
    d.setAdaptiveWeight(0, 1, 1);
    const picks = Array.from({ length: 8 }, (_, i) => fromClient(d, 3000 + i, SYN, 0));
    assert.deepEqual([picks.filter((p) => p === "10.1.0.11").length, picks.filter((p) => p === "10.1.0.12").length], [6, 2]);
    d.setWeight(0, 0, 1);
    const after = Array.from({ length: 8 }, (_, i) => fromClient(d, 4000 + i, SYN, 0));
    assert.deepEqual([after.filter((p) => p === "10.1.0.11").length, after.filter((p) => p === "10.1.0.12").length], [4, 4]);
  });

  test("setAdaptiveWeight ignores unknown indices and invalid weights instead of throwing", () => {
    const d = new Dispatcher(spec([service({ scheduler: "adaptive" })]));
    for (const [s, i, w] of [[1, 0, 5], [0, 3, 5], [0, -1, 5], [0, 0, -1], [0, 0, 70_000], [0, 0, 1.5]] as const) {
      assert.doesNotThrow(() => d.setAdaptiveWeight(s, i, w));
    }
    const picks = Array.from({ length: 6 }, (_, i) => fromClient(d, 5000 + i, SYN, 0));
    assert.equal(new Set(picks).size, 3, String(picks));
  });
});
