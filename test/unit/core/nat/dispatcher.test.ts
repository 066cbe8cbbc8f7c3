import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Dispatcher, Verdict } from "../../../../src/core/nat/dispatcher.ts";
import type { DispatchService, DispatchSpec } from "../../../../src/core/nat/dispatcher-spec.ts";
import { DEFAULT_TIMEOUTS } from "../../../../src/core/nat/conn-table.ts";
import { StatField } from "../../../../src/core/nat/dispatch-stats.ts";
import { PacketView, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import { formatIpv4 } from "../../../../src/core/packet/ipv4-address.ts";
import { ip, tcp, udp } from "../packet/packet-builder.ts";

const VIP = "10.0.0.10";
const SYN = 0x02, ACK = 0x10, FIN = 0x01;

function service(overrides: Partial<DispatchService> = {}, weights = [1, 1, 1]): DispatchService {
  return {
    name: "web", proto: 6, vip: ip(VIP), port: 80, fullnat: false, localAddrs: [], scheduler: "rr", persistenceMs: 0, persistencePrefix: 32,
    servers: weights.map((weight, i) => ({ name: `s${i + 1}`, addr: ip(`10.1.0.${11 + i}`), port: 80, weight, admin: "active" as const, up: true })),
    ...overrides,
  };
}

function spec(services: DispatchService[], maxConnections = 4096): DispatchSpec {
  return { services, maxConnections, localPortMin: 30000, localPortMax: 30099, timeouts: { ...DEFAULT_TIMEOUTS, tcpEstablishedMs: 60_000, udpMs: 5_000 } };
}

const out = new PacketView();
/** Sends one client packet and returns the destination it was forwarded to (or "drop"). */
function send(d: Dispatcher, client: string, port: number, flags = SYN, nowMs = 0, proto: "tcp" | "udp" = "tcp"): string {
  const buf = proto === "tcp" ? tcp({ src: client, dst: VIP }, { srcPort: port, dstPort: 80, flags }) : udp({ src: client, dst: VIP }, { srcPort: port, dstPort: 80 });
  if (d.process(buf, 0, buf.length, nowMs) === Verdict.Drop) return "drop";
  decodeIpv4(buf, 0, buf.length, out);
  return formatIpv4(out.dst);
}

describe("dispatcher scheduling", () => {
  test("30 new connections go round robin over 3 servers in order", () => {
    const d = new Dispatcher(spec([service()]));
    const picks = Array.from({ length: 30 }, (_, i) => send(d, "192.0.2.1", 10000 + i));
    assert.deepEqual(picks, Array.from({ length: 30 }, (_, i) => `10.1.0.${11 + (i % 3)}`));
  });

  test("wrr 1:2:3 spreads 600 connections exactly 100/200/300", () => {
    const d = new Dispatcher(spec([service({ scheduler: "wrr" }, [1, 2, 3])]));
    const counts = new Map<string, number>();
    for (let i = 0; i < 600; i++) {
      const to = send(d, `192.0.2.${1 + (i % 200)}`, 10000 + i);
      counts.set(to, (counts.get(to) ?? 0) + 1);
    }
    assert.deepEqual([...counts.entries()].sort(), [["10.1.0.11", 100], ["10.1.0.12", 200], ["10.1.0.13", 300]]);
  });

  test("a drained server gets no new connections but keeps its existing one", () => {
    const d = new Dispatcher(spec([service()]));
    assert.equal(send(d, "192.0.2.1", 1000), "10.1.0.11");
    d.setAdmin(0, 0, "drain");
    const fresh = Array.from({ length: 6 }, (_, i) => send(d, "192.0.2.2", 2000 + i));
    assert.ok(!fresh.includes("10.1.0.11"), `no new connection to the drained server: ${fresh}`);
    assert.equal(send(d, "192.0.2.1", 1000, ACK), "10.1.0.11");
  });

  test("a disabled server's existing connections are cut", () => {
    const d = new Dispatcher(spec([service()]));
    assert.equal(send(d, "192.0.2.1", 1000), "10.1.0.11");
    d.setAdmin(0, 0, "disabled");
    assert.equal(send(d, "192.0.2.1", 1000, ACK), "drop");
    assert.equal(d.drops.snapshot().no_server, 1);
  });

  test("a down server gets no new connections; none left means no_server drops", () => {
    const d = new Dispatcher(spec([service({}, [1])]));
    d.setUp(0, 0, false);
    assert.equal(send(d, "192.0.2.1", 1000), "drop");
    assert.equal(d.drops.snapshot().no_server, 1);
    assert.equal(d.stats.values[d.stats.serviceSlot(0, StatField.Dropped)], 1);
  });

  test("persistence keeps a client on one server across connections", () => {
    const d = new Dispatcher(spec([service({ persistenceMs: 60_000 })]));
    const first = Array.from({ length: 9 }, (_, i) => send(d, "192.0.2.1", 1000 + i));
    assert.equal(new Set(first).size, 1);
    const others = Array.from({ length: 3 }, (_, i) => send(d, `192.0.2.${50 + i}`, 1000));
    assert.ok(new Set([...first, ...others]).size > 1, "other clients are still spread");
  });

  test("a live weight change applies to new connections without a restart", () => {
    const d = new Dispatcher(spec([service({ scheduler: "wrr" }, [1, 1, 1])]));
    d.setWeight(0, 2, 0);
    const picks = Array.from({ length: 12 }, (_, i) => send(d, "192.0.2.1", 3000 + i));
    assert.ok(!picks.includes("10.1.0.13"));
  });
});

describe("dispatcher connection lifecycle", () => {
  test("after traffic stops and timeouts pass, the table is empty and pool counts are zero", () => {
    const d = new Dispatcher(spec([service(), service({ name: "dns", proto: 17, port: 80, fullnat: true, localAddrs: [ip("10.1.0.100")] })]));
    for (let i = 0; i < 50; i++) send(d, "192.0.2.1", 1000 + i, SYN, 0);
    for (let i = 0; i < 50; i++) send(d, "192.0.2.1", 1000 + i, 0, 0, "udp");
    assert.equal(d.table.stats().count, 100);
    d.expire(61_000, 1_000_000);
    d.expire(122_000, 1_000_000);
    assert.equal(d.table.stats().count, 0);
    for (let i = 0; i < 3; i++) assert.deepEqual(d.connections(0, i), { active: 0, inactive: 0 });
    // Every fullnat port came back: the 100-port pool serves 100 new flows again.
    for (let i = 0; i < 100; i++) assert.notEqual(send(d, "192.0.2.9", 5000 + i, 0, 130_000, "udp"), "drop");
  });

  test("a closed TCP connection leaves the table after its short close timeout", () => {
    const d = new Dispatcher(spec([service()]));
    send(d, "192.0.2.1", 1000, SYN, 0);
    const reply = tcp({ src: "10.1.0.11", dst: "192.0.2.1" }, { srcPort: 80, dstPort: 1000, flags: SYN | ACK });
    assert.equal(d.process(reply, 0, reply.length, 1), Verdict.Forward);
    send(d, "192.0.2.1", 1000, ACK, 2);
    assert.deepEqual(d.connections(0, 0), { active: 1, inactive: 0 });
    send(d, "192.0.2.1", 1000, 0x04, 3); // RST
    assert.deepEqual(d.connections(0, 0), { active: 0, inactive: 1 });
    d.expire(20_000, 1000);
    assert.equal(d.table.stats().count, 0);
    assert.deepEqual(d.connections(0, 0), { active: 0, inactive: 0 });
  });

  test("a full table refuses new connections with a counted reason, existing ones still flow", () => {
    const d = new Dispatcher(spec([service()], 8));
    const results = Array.from({ length: 8 }, (_, i) => send(d, "192.0.2.1", 1000 + i, SYN, 0));
    assert.ok(results.every((r) => r !== "drop"));
    // Established entries are not embryonic, so the table cannot evict them.
    for (let i = 0; i < 8; i++) {
      const server = results[i]!;
      const reply = tcp({ src: server, dst: "192.0.2.1" }, { srcPort: 80, dstPort: 1000 + i, flags: SYN | ACK });
      d.process(reply, 0, reply.length, 1);
      send(d, "192.0.2.1", 1000 + i, ACK, 2);
    }
    assert.equal(send(d, "192.0.2.1", 2000, SYN, 3), "drop");
    assert.equal(d.drops.snapshot().table_full, 1);
    assert.equal(send(d, "192.0.2.1", 1000, ACK | FIN, 4), results[0]);
  });

  test("per-service and per-server counters add up", () => {
    const d = new Dispatcher(spec([service()]));
    for (let i = 0; i < 6; i++) send(d, "192.0.2.1", 1000 + i);
    const v = d.stats.values;
    assert.equal(v[d.stats.serviceSlot(0, StatField.Connections)], 6);
    assert.equal(v[d.stats.serviceSlot(0, StatField.PacketsIn)], 6);
    assert.equal([0, 1, 2].map((i) => v[d.stats.serverSlot(0, i, StatField.Connections)]).join(), "2,2,2");
  });
});

describe("dispatcher passive health", () => {
  const RST = 0x04;
  const counters = (d: Dispatcher, i: number) => ({
    refused: d.stats.values[d.stats.serverSlot(0, i, StatField.Refused)],
    timeouts: d.stats.values[d.stats.serverSlot(0, i, StatField.Timeouts)],
    resets: d.stats.values[d.stats.serverSlot(0, i, StatField.Resets)],
  });
  const fromServer = (d: Dispatcher, server: string, port: number, flags: number, payload?: Uint8Array) => {
    const pkt = tcp({ src: server, dst: "192.0.2.1" }, { srcPort: 80, dstPort: port, flags, payload });
    return d.process(pkt, 0, pkt.length, 1);
  };

  test("a SYN answered by a RST counts one refusal for that server", () => {
    const d = new Dispatcher(spec([service()]));
    const server = send(d, "192.0.2.1", 1000);
    assert.equal(fromServer(d, server, 1000, RST | ACK), Verdict.Forward);
    fromServer(d, server, 1000, RST | ACK);
    assert.deepEqual(counters(d, 0), { refused: 1, timeouts: 0, resets: 0 });
  });

  test("a repeated SYN the server never answered counts one timeout, however often it repeats", () => {
    const d = new Dispatcher(spec([service()]));
    send(d, "192.0.2.1", 1000, SYN, 0);
    send(d, "192.0.2.1", 1000, SYN, 1000);
    send(d, "192.0.2.1", 1000, SYN, 3000);
    assert.deepEqual(counters(d, 0), { refused: 0, timeouts: 1, resets: 0 });
    // An answered SYN repeated (a lost SYN-ACK) is not a timeout.
    const server = send(d, "192.0.2.1", 2000, SYN, 0);
    fromServer(d, server, 2000, SYN | ACK);
    send(d, "192.0.2.1", 2000, SYN, 1000);
    assert.equal(counters(d, 1).timeouts, 0);
  });

  test("a RST before any data is a reset; after the server sent data it is a normal close", () => {
    const d = new Dispatcher(spec([service()]));
    const a = send(d, "192.0.2.1", 1000);
    fromServer(d, a, 1000, SYN | ACK);
    send(d, "192.0.2.1", 1000, ACK, 2);
    fromServer(d, a, 1000, RST | ACK);
    assert.deepEqual(counters(d, 0), { refused: 0, timeouts: 0, resets: 1 });
    const b = send(d, "192.0.2.1", 1001);
    fromServer(d, b, 1001, SYN | ACK);
    send(d, "192.0.2.1", 1001, ACK, 2);
    fromServer(d, b, 1001, ACK, new TextEncoder().encode("HTTP/1.1 200 OK\r\n\r\n"));
    fromServer(d, b, 1001, RST | ACK);
    assert.deepEqual(counters(d, 1), { refused: 0, timeouts: 0, resets: 0 });
  });
});
