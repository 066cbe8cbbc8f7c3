import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  ConnEvent,
  ConnFlag,
  ConnSpec,
  ConnTable,
  DEFAULT_TIMEOUTS,
  Dir,
  InsertError,
  Proto,
  TCP_STATE_NAMES,
  TcpFlag,
  TcpState,
  halfSipHash4,
  tcpNextState,
} from "../../../../src/core/nat/conn-table.ts";
import type { ConnTableOptions, Timeouts } from "../../../../src/core/nat/conn-table.ts";

/** Dotted quad → unsigned 32-bit number. */
function ip(text: string): number {
  const [a, b, c, d] = text.split(".").map(Number) as [number, number, number, number];
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

const CLIENT = ip("198.51.100.7");
const VIP = ip("203.0.113.10");
const SERVER = ip("10.1.0.3");
const LOCAL = ip("10.1.0.254");
const { SYN, ACK, FIN, RST, PSH } = TcpFlag;
const T0 = 1_000_000;

function natSpec(clientPort: number, proto: number = Proto.TCP, clientAddr = CLIENT): ConnSpec {
  const s = new ConnSpec();
  s.proto = proto;
  s.clientAddr = clientAddr;
  s.clientPort = clientPort;
  s.vipAddr = VIP;
  s.vipPort = proto === Proto.ICMP ? 0 : 80;
  s.serverAddr = SERVER;
  s.serverPort = proto === Proto.ICMP ? 0 : 8080;
  s.serviceId = 7;
  s.serverIndex = 2;
  return s;
}

function fullnatSpec(clientPort: number, localPort: number): ConnSpec {
  const s = natSpec(clientPort);
  s.flags = ConnFlag.FULLNAT;
  s.localAddr = LOCAL;
  s.localPort = localPort;
  return s;
}

function newTable(capacity = 1024, options: ConnTableOptions = {}): ConnTable {
  return ConnTable.create(capacity, { seed: [0x01234567, 0x89abcdef], ...options });
}

/** Inserts a TCP connection and walks it through the handshake to ESTABLISHED. */
function established(t: ConnTable, clientPort: number, nowMs: number): number {
  const id = t.insert(natSpec(clientPort), nowMs);
  assert.ok(id >= 0, `insert failed: ${id}`);
  t.update(id, Dir.IN, SYN, 60, nowMs);
  t.update(id, Dir.OUT, SYN | ACK, 60, nowMs);
  assert.equal(t.update(id, Dir.IN, ACK, 52, nowMs), TcpState.ESTABLISHED);
  return id;
}

/** Calls expire until it has nothing left to do at `nowMs`; returns the total removed. */
function expireAll(t: ConnTable, nowMs: number): number {
  let total = 0;
  for (let n = t.expire(nowMs, 1000); n > 0; n = t.expire(nowMs, 1000)) total += n;
  return total;
}

describe("ConnTable lookups", () => {
  test("a nat connection is found by its outside key and by its inside (reply) key", () => {
    const t = newTable();
    const id = t.insert(natSpec(40000), T0);
    assert.ok(id >= 0);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 40000, VIP, 80), id);
    assert.equal(t.lookupInside(Proto.TCP, SERVER, 8080, CLIENT, 40000), id);
    assert.equal(t.serverAddr(id), SERVER);
    assert.equal(t.serverPort(id), 8080);
    assert.equal(t.serviceId(id), 7);
    assert.equal(t.serverIndex(id), 2);
    assert.equal(t.localAddr(id), 0);
    assert.equal(t.createdMs(id), T0);
    assert.equal(t.count, 1);
    assert.equal(t.audit(), "");
  });

  test("a fullnat connection is found inside by the local address and port, not by the client", () => {
    const t = newTable();
    const id = t.insert(fullnatSpec(40000, 5555), T0);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 40000, VIP, 80), id);
    assert.equal(t.lookupInside(Proto.TCP, SERVER, 8080, LOCAL, 5555), id);
    assert.equal(t.lookupInside(Proto.TCP, SERVER, 8080, CLIENT, 40000), -1);
    assert.equal(t.flags(id) & ConnFlag.FULLNAT, ConnFlag.FULLNAT);
  });

  test("a tuple differing in any single field is not found", () => {
    const t = newTable();
    t.insert(natSpec(40000), T0);
    assert.equal(t.lookupOutside(Proto.UDP, CLIENT, 40000, VIP, 80), -1);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT + 1, 40000, VIP, 80), -1);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 40001, VIP, 80), -1);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 40000, VIP + 1, 80), -1);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 40000, VIP, 81), -1);
    assert.equal(t.lookupInside(Proto.TCP, SERVER, 8081, CLIENT, 40000), -1);
    assert.equal(t.lookupInside(Proto.TCP, SERVER + 1, 8080, CLIENT, 40000), -1);
    // The outside key used as an inside key (and vice versa) must not match.
    assert.equal(t.lookupInside(Proto.TCP, CLIENT, 40000, VIP, 80), -1);
  });

  test("addresses passed as signed 32-bit numbers match their unsigned form", () => {
    const t = newTable();
    const id = t.insert(natSpec(1234), T0);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT | 0, 1234, VIP | 0, 80), id);
    assert.ok((CLIENT | 0) < 0, "the fixture should exercise a negative int");
  });

  test("a duplicate outside key and an already owned inside key are refused and counted", () => {
    const t = newTable();
    assert.ok(t.insert(natSpec(40000), T0) >= 0);
    assert.equal(t.insert(natSpec(40000), T0), InsertError.EXISTS);
    // nat: a second VIP mapping the same client port to the same server collides at the server.
    const other = natSpec(40000);
    other.vipAddr = VIP + 1;
    assert.equal(t.insert(other, T0), InsertError.INSIDE_CONFLICT);
    assert.equal(t.count, 1);
    assert.equal(t.stats().duplicates, 1);
    assert.equal(t.stats().insideConflicts, 1);
  });

  test("an invalid protocol is a programming error", () => {
    assert.throws(() => newTable().insert(natSpec(1, 0), T0), RangeError);
  });

  test("remove() deletes an entry from both indexes and reports it", () => {
    const t = newTable();
    const id = t.insert(natSpec(40000), T0);
    const events: number[] = [];
    t.onEvent = (eid, ev) => {
      // The record must still be readable while the listener runs.
      assert.equal(t.clientPort(eid), 40000);
      events.push(ev);
    };
    assert.equal(t.remove(id), true);
    assert.equal(t.remove(id), false);
    assert.deepEqual(events, [ConnEvent.REMOVED]);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 40000, VIP, 80), -1);
    assert.equal(t.lookupInside(Proto.TCP, SERVER, 8080, CLIENT, 40000), -1);
    assert.equal(t.count, 0);
    assert.equal(t.stats().removed, 1);
    assert.equal(t.audit(), "");
  });
});

describe("TCP state tracking", () => {
  type Step = [dir: number, flags: number, state: number, timeout: keyof Timeouts];

  function walk(steps: Step[]): void {
    const t = newTable();
    const id = t.insert(natSpec(40000), T0);
    assert.equal(t.state(id), TcpState.NONE);
    let now = T0;
    for (const [dir, flags, state, timeout] of steps) {
      now += 100;
      const got = t.update(id, dir, flags, 40, now);
      assert.equal(TCP_STATE_NAMES[got], TCP_STATE_NAMES[state], `after dir ${dir} flags 0x${flags.toString(16)}`);
      assert.equal(t.state(id), state);
      assert.equal(t.expiresMs(id), now + DEFAULT_TIMEOUTS[timeout], `timeout of ${TCP_STATE_NAMES[state]}`);
      assert.equal(t.lastSeenMs(id), now);
    }
    assert.equal(t.audit(), "");
  }

  test("a handshake and a client-first close pass SYN_RECV, SYN_ACK, ESTABLISHED, CLOSE_WAIT, LAST_ACK, TIME_WAIT", () => {
    walk([
      [Dir.IN, SYN, TcpState.SYN_RECV, "tcpSynRecvMs"],
      [Dir.OUT, SYN | ACK, TcpState.SYN_ACK, "tcpSynAckMs"],
      [Dir.IN, ACK, TcpState.ESTABLISHED, "tcpEstablishedMs"],
      [Dir.IN, ACK | PSH, TcpState.ESTABLISHED, "tcpEstablishedMs"],
      [Dir.OUT, ACK, TcpState.ESTABLISHED, "tcpEstablishedMs"],
      [Dir.IN, FIN | ACK, TcpState.CLOSE_WAIT, "tcpCloseWaitMs"],
      [Dir.OUT, ACK, TcpState.CLOSE_WAIT, "tcpCloseWaitMs"],
      [Dir.OUT, FIN | ACK, TcpState.LAST_ACK, "tcpLastAckMs"],
      [Dir.IN, ACK, TcpState.TIME_WAIT, "tcpTimeWaitMs"],
    ]);
  });

  test("a server-first close passes FIN_WAIT and reaches TIME_WAIT when the client's FIN follows", () => {
    walk([
      [Dir.IN, SYN, TcpState.SYN_RECV, "tcpSynRecvMs"],
      [Dir.OUT, SYN | ACK, TcpState.SYN_ACK, "tcpSynAckMs"],
      [Dir.IN, ACK, TcpState.ESTABLISHED, "tcpEstablishedMs"],
      [Dir.OUT, FIN | ACK, TcpState.FIN_WAIT, "tcpFinWaitMs"],
      [Dir.IN, ACK, TcpState.FIN_WAIT, "tcpFinWaitMs"],
      [Dir.IN, FIN | ACK, TcpState.TIME_WAIT, "tcpTimeWaitMs"],
      [Dir.OUT, ACK, TcpState.TIME_WAIT, "tcpTimeWaitMs"],
    ]);
  });

  test("a RST from either side closes the connection", () => {
    for (const dir of [Dir.IN, Dir.OUT]) {
      for (const from of [TcpState.SYN_RECV, TcpState.SYN_ACK, TcpState.ESTABLISHED, TcpState.FIN_WAIT, TcpState.CLOSE_WAIT, TcpState.LAST_ACK, TcpState.TIME_WAIT]) {
        assert.equal(tcpNextState(from, dir, RST | ACK), TcpState.CLOSE, `RST dir ${dir} from ${TCP_STATE_NAMES[from]}`);
      }
    }
    walk([
      [Dir.IN, SYN, TcpState.SYN_RECV, "tcpSynRecvMs"],
      [Dir.OUT, RST | ACK, TcpState.CLOSE, "tcpCloseMs"],
    ]);
  });

  test("the client's ACK does not establish a connection whose SYN-ACK was never seen", () => {
    assert.equal(tcpNextState(TcpState.SYN_RECV, Dir.IN, ACK), TcpState.SYN_RECV);
    assert.equal(tcpNextState(TcpState.SYN_ACK, Dir.IN, ACK), TcpState.ESTABLISHED);
  });

  test("a new SYN reopens a connection in TIME_WAIT or CLOSE", () => {
    assert.equal(tcpNextState(TcpState.TIME_WAIT, Dir.IN, SYN), TcpState.SYN_RECV);
    assert.equal(tcpNextState(TcpState.CLOSE, Dir.IN, SYN), TcpState.SYN_RECV);
    // A stray SYN must not shorten a live connection's timeout.
    assert.equal(tcpNextState(TcpState.ESTABLISHED, Dir.IN, SYN), TcpState.ESTABLISHED);
  });

  test("packets with none of SYN, FIN, ACK or RST leave the state alone", () => {
    for (let s = 0; s <= TcpState.CLOSE; s++) {
      assert.equal(tcpNextState(s, Dir.IN, PSH), s);
      assert.equal(tcpNextState(s, Dir.OUT, 0), s);
    }
  });

  test("state changes are reported once each, creation first", () => {
    const t = newTable();
    const log: string[] = [];
    t.onEvent = (id, ev) => log.push(`${id}:${ev}`);
    const id = established(t, 40000, T0);
    t.update(id, Dir.IN, ACK, 100, T0 + 1);
    t.update(id, Dir.OUT, ACK, 100, T0 + 2);
    const C = ConnEvent.CREATED, S = ConnEvent.STATE_CHANGED;
    assert.deepEqual(log, [`${id}:${C}`, `${id}:${S}`, `${id}:${S}`, `${id}:${S}`]);
  });

  test("configured timeouts replace the defaults, and invalid ones are rejected", () => {
    const t = newTable(16, { timeouts: { tcpEstablishedMs: 7_200_000, udpMs: 5_000 } });
    assert.equal(t.timeouts().tcpEstablishedMs, 7_200_000);
    assert.equal(t.timeouts().tcpSynRecvMs, DEFAULT_TIMEOUTS.tcpSynRecvMs);
    const id = established(t, 40000, T0);
    assert.equal(t.expiresMs(id), T0 + 7_200_000);
    const u = t.insert(natSpec(53, Proto.UDP), T0);
    t.update(u, Dir.IN, 0, 60, T0);
    assert.equal(t.expiresMs(u), T0 + 5_000);
    assert.throws(() => t.setTimeouts({ tcpCloseMs: -1 }), /Invalid timeout tcpCloseMs "-1"/);
    assert.throws(() => t.setTimeouts({ udpMs: 1.5 }), RangeError);
    assert.throws(() => newTable(16, { timeouts: { icmpMs: 0 } }), RangeError);
  });

  test("packet and byte counters are kept per direction", () => {
    const t = newTable();
    const id = established(t, 40000, T0);
    t.update(id, Dir.OUT, ACK, 1500, T0 + 1);
    assert.equal(t.packetsIn(id), 2);
    assert.equal(t.packetsOut(id), 2);
    assert.equal(t.bytesIn(id), 112);
    assert.equal(t.bytesOut(id), 1560);
    assert.equal(t.update(id + 1, Dir.IN, ACK, 1, T0), -1, "a free record is not updated");
  });
});

describe("UDP and ICMP echo", () => {
  test("a UDP flow is embryonic until the first reply and lives for the udp timeout", () => {
    const t = newTable();
    const id = t.insert(natSpec(5353, Proto.UDP), T0);
    t.update(id, Dir.IN, 0, 80, T0);
    assert.equal(t.isEmbryonic(id), true);
    assert.equal(t.expiresMs(id), T0 + DEFAULT_TIMEOUTS.udpMs);
    assert.equal(t.lookupInside(Proto.UDP, SERVER, 8080, CLIENT, 5353), id);
    t.update(id, Dir.OUT, 0, 200, T0 + 5);
    assert.equal(t.isEmbryonic(id), false);
    assert.equal(t.flags(id) & ConnFlag.REPLIED, ConnFlag.REPLIED);
    assert.equal(t.expiresMs(id), T0 + 5 + DEFAULT_TIMEOUTS.udpMs);
    assert.equal(t.state(id), TcpState.NONE);
  });

  test("ICMP echo is keyed by its identifier in both directions and uses the icmp timeout", () => {
    const t = newTable();
    const id = t.insert(natSpec(0x1234, Proto.ICMP), T0);
    t.update(id, Dir.IN, 0, 84, T0);
    // Request: identifier as the source "port"; reply: identifier as the destination "port".
    assert.equal(t.lookupOutside(Proto.ICMP, CLIENT, 0x1234, VIP, 0), id);
    assert.equal(t.lookupInside(Proto.ICMP, SERVER, 0, CLIENT, 0x1234), id);
    assert.equal(t.lookupOutside(Proto.ICMP, CLIENT, 0x1235, VIP, 0), -1);
    assert.equal(t.lookupOutside(Proto.UDP, CLIENT, 0x1234, VIP, 0), -1);
    assert.equal(t.expiresMs(id), T0 + DEFAULT_TIMEOUTS.icmpMs);
    t.update(id, Dir.OUT, 0, 84, T0 + 10);
    assert.equal(t.expire(T0 + 10 + DEFAULT_TIMEOUTS.icmpMs + 1000, 100), 1);
    assert.equal(t.count, 0);
  });
});

describe("expiry", () => {
  test("an idle established connection expires after its timeout and not before", () => {
    const t = newTable();
    const removed: number[] = [];
    t.onEvent = (id, ev) => {
      if (ev === ConnEvent.EXPIRED) removed.push(id);
    };
    t.expire(T0, 100);
    const id = established(t, 40000, T0);
    const deadline = T0 + DEFAULT_TIMEOUTS.tcpEstablishedMs;
    for (let now = T0; now < deadline; now += 30_000) assert.equal(t.expire(now, 100), 0);
    assert.equal(t.expire(deadline - 1, 100), 0);
    assert.equal(t.count, 1);
    // Reaped within one tick (1 s) after the deadline.
    assert.equal(t.expire(deadline + 1000, 100), 1);
    assert.deepEqual(removed, [id]);
    assert.equal(t.count, 0);
    assert.equal(t.stats().expired, 1);
  });

  test("a connection with steady traffic survives many timeouts", () => {
    const t = newTable();
    t.expire(T0, 100);
    const id = established(t, 40000, T0);
    let now = T0;
    for (let i = 0; i < 24; i++) {
      now += 10 * 60_000;
      t.update(id, Dir.IN, ACK, 100, now);
      assert.equal(t.expire(now, 100), 0, `expired during traffic at minute ${(now - T0) / 60_000}`);
    }
    assert.equal(t.count, 1);
    assert.equal(t.audit(), "");
    now += DEFAULT_TIMEOUTS.tcpEstablishedMs + 1000;
    assert.equal(t.expire(now, 100), 1);
  });

  test("a state with a shorter timeout is reaped on that shorter timeout", () => {
    const t = newTable();
    t.expire(T0, 100);
    const id = established(t, 40000, T0);
    // Let the wheel move the entry to the bucket of its 15-minute expiry first.
    assert.equal(t.expire(T0 + 3000, 100), 0);
    t.update(id, Dir.OUT, RST, 40, T0 + 5000);
    assert.equal(t.audit(), "");
    assert.equal(t.expire(T0 + 5000 + DEFAULT_TIMEOUTS.tcpCloseMs - 1, 100), 0);
    assert.equal(t.expire(T0 + 5000 + DEFAULT_TIMEOUTS.tcpCloseMs + 1000, 100), 1);
    assert.equal(t.count, 0);
  });

  test("a timeout shortened at run time applies at the entry's next packet", () => {
    const t = newTable();
    t.expire(T0, 100);
    const id = established(t, 40000, T0);
    assert.equal(t.expire(T0 + 3000, 100), 0);
    t.setTimeouts({ tcpEstablishedMs: 20_000 });
    assert.equal(t.expiresMs(id), T0 + DEFAULT_TIMEOUTS.tcpEstablishedMs, "idle entries keep their expiry");
    t.update(id, Dir.IN, ACK, 40, T0 + 4000);
    assert.equal(t.expiresMs(id), T0 + 24_000);
    assert.equal(t.audit(), "");
    assert.equal(t.expire(T0 + 23_999, 100), 0);
    assert.equal(t.expire(T0 + 25_000, 100), 1);
  });

  test("one expire call examines at most its budget of entries", () => {
    const t = newTable(2048);
    t.expire(T0, 100);
    for (let p = 0; p < 1000; p++) t.update(t.insert(natSpec(10000 + p, Proto.UDP), T0), Dir.IN, 0, 60, T0);
    const later = T0 + DEFAULT_TIMEOUTS.udpMs + 1000;
    const counts: number[] = [];
    for (let n = t.expire(later, 150); n > 0; n = t.expire(later, 150)) counts.push(n);
    assert.ok(counts.every((n) => n <= 150));
    assert.equal(counts.reduce((a, b) => a + b, 0), 1000);
    assert.equal(t.count, 0);
  });

  test("the table is empty after every timeout has passed, and its records are reused", () => {
    const t = newTable(4096);
    let removedEvents = 0;
    t.onEvent = (_id, ev) => {
      if (ev === ConnEvent.EXPIRED) removedEvents++;
    };
    t.expire(T0, 100);
    const flagsByStep = [SYN, SYN | ACK, ACK, FIN | ACK, FIN | ACK, ACK];
    let now = T0;
    for (let i = 0; i < 4000; i++) {
      now += 7;
      const proto = i % 3 === 0 ? Proto.UDP : i % 7 === 0 ? Proto.ICMP : Proto.TCP;
      const id = t.insert(natSpec(i + 1, proto), now);
      assert.ok(id >= 0);
      // Leave each TCP connection in a different state, with replies only on some.
      const steps = i % 7;
      for (let s = 0; s < steps; s++) t.update(id, s % 2 === 0 ? Dir.IN : Dir.OUT, flagsByStep[s % 6]!, 60, now);
      if (i % 100 === 0) expireAll(t, now);
    }
    assert.equal(t.audit(), "");
    const longest = Math.max(...Object.values(DEFAULT_TIMEOUTS));
    expireAll(t, now + longest + 1000);
    assert.equal(t.count, 0);
    assert.equal(removedEvents, 4000);
    assert.equal(t.audit(), "");
    assert.equal(t.probeStats("outside").used, 0);
    assert.equal(t.probeStats("inside").used, 0);
    for (let i = 0; i < 4096; i++) assert.ok(t.insert(natSpec(i + 1), now) >= 0, "freed records are reused");
  });

  test("after a long pause expire catches up without dropping live entries", () => {
    const t = newTable(64, { tickMs: 100, wheelSlots: 64 });
    t.expire(T0, 10);
    const idle = established(t, 1, T0);
    const busy = established(t, 2, T0);
    const later = T0 + 3 * 3_600_000;
    t.update(busy, Dir.IN, ACK, 10, later - 1000);
    expireAll(t, later);
    assert.equal(t.isLive(idle), false);
    assert.equal(t.isLive(busy), true);
    assert.equal(t.audit(), "");
  });
});

describe("full table", () => {
  test("a new connection evicts an embryonic entry, never an established one", () => {
    const t = newTable(64);
    t.expire(T0, 10);
    for (let p = 0; p < 60; p++) established(t, p + 1, T0);
    const synOnly: number[] = [];
    for (let p = 60; p < 64; p++) {
      const id = t.insert(natSpec(p + 1), T0);
      t.update(id, Dir.IN, SYN, 60, T0);
      synOnly.push(id);
    }
    const evicted: number[] = [];
    t.onEvent = (id, ev) => {
      if (ev === ConnEvent.EVICTED) {
        assert.equal(t.isEmbryonic(id), true);
        evicted.push(id);
      }
    };
    for (let p = 100; p < 104; p++) assert.ok(t.insert(natSpec(p), T0) >= 0);
    assert.deepEqual([...evicted].sort((a, b) => a - b), synOnly);
    assert.equal(t.stats().evicted, 4);
    assert.equal(t.count, 64);
    assert.equal(t.audit(), "");
  });

  test("with no embryonic or closed entry in reach the connection is refused and counted", () => {
    const t = newTable(32);
    t.expire(T0, 10);
    for (let p = 0; p < 32; p++) established(t, p + 1, T0);
    assert.equal(t.insert(natSpec(1000), T0), InsertError.FULL);
    assert.equal(t.insert(natSpec(1001), T0), InsertError.FULL);
    assert.equal(t.stats().refused, 2);
    assert.equal(t.stats().evicted, 0);
    assert.equal(t.count, 32);
  });

  test("UDP flows without a reply and TCP flows in TIME_WAIT are evictable, answered UDP is not", () => {
    const t = newTable(3);
    t.expire(T0, 10);
    const answered = t.insert(natSpec(1, Proto.UDP), T0);
    t.update(answered, Dir.OUT, 0, 10, T0);
    const unanswered = t.insert(natSpec(2, Proto.UDP), T0);
    const tcp = established(t, 3, T0);
    t.update(tcp, Dir.OUT, FIN | ACK, 10, T0);
    t.update(tcp, Dir.IN, FIN | ACK, 10, T0);
    assert.equal(t.state(tcp), TcpState.TIME_WAIT);
    assert.ok(t.insert(natSpec(4, Proto.UDP), T0) >= 0);
    assert.ok(t.insert(natSpec(5, Proto.UDP), T0) >= 0);
    assert.equal(t.isLive(answered), true);
    assert.equal(t.lookupOutside(Proto.UDP, CLIENT, 2, VIP, 80), -1, `unanswered ${unanswered} evicted`);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 3, VIP, 80), -1, "TIME_WAIT evicted");
  });

  test("the eviction probe is bounded: a lone embryonic entry out of reach is not found", () => {
    const t = newTable(256, { evictProbe: 8 });
    t.expire(T0, 10);
    for (let p = 0; p < 255; p++) established(t, p + 1, T0);
    t.insert(natSpec(999), T0); // record 255, far from the hand at 0
    assert.equal(t.insert(natSpec(1000), T0), InsertError.FULL);
    assert.equal(t.stats().refused, 1);
  });
});

describe("hashing and probing", () => {
  test("halfSipHash4 matches the hsiphash (HalfSipHash-1-3) reference vector for 16 bytes", () => {
    // Linux lib/siphash_kunit.c, 32-bit build: key 00..07, input bytes 00..0f → vector[16].
    assert.equal(halfSipHash4(0x03020100, 0x07060504, 0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c), 0x8b31d501);
  });

  test("tables get different random seeds unless one is given", () => {
    const a = ConnTable.create(16), b = ConnTable.create(16);
    const probeA = new Uint32Array(a.buffer, 24, 2), probeB = new Uint32Array(b.buffer, 24, 2);
    assert.notDeepEqual([...probeA], [...probeB]);
  });

  test("probe lengths stay short at 90% of capacity with the default index sizing", () => {
    const t = ConnTable.create(100_000);
    let x = 12345;
    for (let i = 0; i < 90_000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      const s = natSpec(i & 0xffff, Proto.TCP, (0x0a000000 + (x >>> 8)) >>> 0);
      if (t.insert(s, T0) < 0) i--;
    }
    for (const which of ["outside", "inside"] as const) {
      const p = t.probeStats(which);
      assert.equal(p.used, 90_000);
      assert.ok(p.meanDistance < 0.4, `${which} mean distance ${p.meanDistance}`);
      assert.ok(p.maxDistance < 20, `${which} max distance ${p.maxDistance}`);
    }
  });

  test("probe lengths stay sane with indexes 90% full and structured keys (one client, sequential ports)", () => {
    const capacity = Math.floor(65536 * 0.9);
    const t = ConnTable.create(capacity, { indexLoad: 0.9 });
    for (let i = 0; i < capacity; i++) {
      const s = natSpec(1 + (i % 60000), Proto.TCP, CLIENT + Math.floor(i / 60000));
      assert.ok(t.insert(s, T0) >= 0);
    }
    for (const which of ["outside", "inside"] as const) {
      const p = t.probeStats(which);
      assert.equal(p.slots, 65536);
      assert.ok(p.used / p.slots > 0.89);
      // Robin hood linear probing at load 0.9: the mean displacement is about 4.5.
      assert.ok(p.meanDistance < 6, `${which} mean distance ${p.meanDistance}`);
      assert.ok(p.maxDistance < 100, `${which} max distance ${p.maxDistance}`);
    }
    assert.equal(t.audit(), "");
  });

  test("random inserts and removals keep both indexes exact (no tombstones)", () => {
    const t = newTable(4096, { indexLoad: 0.9 });
    const live = new Map<number, number>();
    let x = 987654321;
    for (let op = 0; op < 200_000; op++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const port = (x >>> 0) % 6000;
      const id = t.lookupOutside(Proto.TCP, CLIENT, port, VIP, 80);
      assert.equal(id, live.get(port) ?? -1);
      if (id >= 0) {
        t.remove(id);
        live.delete(port);
      } else if (t.count < 4096) {
        const nid = t.insert(natSpec(port), T0);
        assert.ok(nid >= 0);
        live.set(port, nid);
      }
    }
    assert.equal(t.count, live.size);
    assert.equal(t.audit(), "");
    for (const [port, id] of live) assert.equal(t.lookupInside(Proto.TCP, SERVER, 8080, CLIENT, port), id);
  });
});

describe("shared buffer", () => {
  test("attach() over the same buffer sees the same entries, state and counters", () => {
    const t = ConnTable.create(1024, { shared: true, timeouts: { udpMs: 12_345 } });
    assert.ok(t.buffer instanceof SharedArrayBuffer);
    t.expire(T0, 10);
    const a = established(t, 40000, T0);
    const b = t.insert(fullnatSpec(40001, 6000), T0);
    const view = ConnTable.attach(t.buffer);
    assert.equal(view.count, 2);
    assert.equal(view.lookupOutside(Proto.TCP, CLIENT, 40000, VIP, 80), a);
    assert.equal(view.lookupInside(Proto.TCP, SERVER, 8080, LOCAL, 6000), b);
    assert.equal(view.state(a), TcpState.ESTABLISHED);
    assert.equal(view.timeouts().udpMs, 12_345);
    assert.deepEqual(view.stats(), t.stats());
    // Writes through one instance are visible through the other.
    t.update(a, Dir.OUT, FIN | ACK, 10, T0 + 1);
    assert.equal(view.state(a), TcpState.FIN_WAIT);
    view.remove(b);
    assert.equal(t.lookupOutside(Proto.TCP, CLIENT, 40001, VIP, 80), -1);
    assert.equal(t.audit(), "");
  });

  test("attach() rejects a buffer that holds no table", () => {
    assert.throws(() => ConnTable.attach(new ArrayBuffer(4096)), /Cannot attach connection table: bad magic/);
    assert.throws(() => ConnTable.attach(new ArrayBuffer(8)), /too small/);
    const t = ConnTable.create(16);
    const truncated = t.buffer.slice(0, t.buffer.byteLength - 8);
    assert.throws(() => ConnTable.attach(truncated), /layout needs/);
  });

  test("byteLengthFor() matches the buffer create() allocates", () => {
    assert.equal(ConnTable.byteLengthFor(1000), ConnTable.create(1000).buffer.byteLength);
    assert.throws(() => ConnTable.create(0), /Invalid capacity "0"/);
    assert.throws(() => ConnTable.create(16, { wheelSlots: 1000 }), /power of two/);
  });
});
