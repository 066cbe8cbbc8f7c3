import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { PersistenceTable } from "../../../../src/core/sched/persistence-table.ts";
import { RoundRobinScheduler } from "../../../../src/core/sched/round-robin-scheduler.ts";
import { ServerPool } from "../../../../src/core/sched/server-pool.ts";
import { clientAddr, flow, ip } from "./fixtures.ts";

const SERVICE = 7;
const TIMEOUT_MS = 60_000;

function table(capacity = 1024, prefixLength = 32): PersistenceTable {
  return new PersistenceTable({ capacity, timeoutMs: TIMEOUT_MS, prefixLength });
}

describe("PersistenceTable", () => {
  test("a recorded client is found again within the timeout", () => {
    const t = table();
    t.record(SERVICE, ip("10.0.0.1"), 3, 1000);
    assert.equal(t.lookup(SERVICE, ip("10.0.0.1"), 1000 + TIMEOUT_MS - 1), 3);
    assert.equal(t.lookup(SERVICE, ip("10.0.0.2"), 1000), -1, "another client has no entry");
    assert.equal(t.lookup(SERVICE + 1, ip("10.0.0.1"), 1000), -1, "another service has no entry");
  });

  test("an entry expires after the timeout without use", () => {
    const t = table();
    t.record(SERVICE, ip("10.0.0.1"), 3, 1000);
    assert.equal(t.lookup(SERVICE, ip("10.0.0.1"), 1000 + TIMEOUT_MS), -1);
    assert.equal(t.size, 0, "the expired entry is dropped when met");
  });

  test("each use refreshes the expiry", () => {
    const t = table();
    t.record(SERVICE, ip("10.0.0.1"), 3, 0);
    for (let now = 50_000; now <= 500_000; now += 50_000) assert.equal(t.lookup(SERVICE, ip("10.0.0.1"), now), 3);
  });

  test("an entry with live connections does not expire, and times out from the last close", () => {
    const t = table();
    const addr = ip("10.0.0.1");
    t.record(SERVICE, addr, 3, 0);
    t.attach(SERVICE, addr, 3);
    t.attach(SERVICE, addr, 3);
    assert.equal(t.expire(10 * TIMEOUT_MS, 100), 0);
    t.detach(SERVICE, addr, 3, 10 * TIMEOUT_MS);
    assert.equal(t.liveConnections(SERVICE, addr), 1);
    t.detach(SERVICE, addr, 3, 20 * TIMEOUT_MS);
    assert.equal(t.lookup(SERVICE, addr, 21 * TIMEOUT_MS - 1), 3);
    assert.equal(t.lookup(SERVICE, addr, 23 * TIMEOUT_MS), -1);
  });

  test("detach for a server the entry no longer points to changes nothing", () => {
    const t = table();
    const addr = ip("10.0.0.1");
    t.record(SERVICE, addr, 1, 0);
    t.attach(SERVICE, addr, 1);
    t.record(SERVICE, addr, 2, 0); // rescheduled: the old connection belongs to server 1
    t.attach(SERVICE, addr, 2);
    t.detach(SERVICE, addr, 1, 0);
    assert.equal(t.liveConnections(SERVICE, addr), 1);
  });

  test("clients of one /24 share a server when the netmask groups them", () => {
    const t = table(1024, 24);
    t.record(SERVICE, ip("10.0.0.1"), 4, 0);
    assert.equal(t.lookup(SERVICE, ip("10.0.0.200"), 1), 4);
    assert.equal(t.lookup(SERVICE, ip("10.0.1.1"), 1), -1);
    assert.equal(t.size, 1);
  });

  test("per-service settings override the table's netmask and timeout", () => {
    const t = table();
    t.setService(1, { prefixLength: 16, timeoutMs: 1000 });
    t.record(1, ip("10.1.2.3"), 0, 0);
    t.record(2, ip("10.1.2.3"), 0, 0);
    assert.equal(t.lookup(1, ip("10.1.99.99"), 999), 0);
    assert.equal(t.lookup(2, ip("10.1.99.99"), 999), -1, "service 2 keeps /32 grouping");
    assert.equal(t.lookup(1, ip("10.1.2.3"), 2000), -1, "service 1 times out after 1 s");
    assert.equal(t.lookup(2, ip("10.1.2.3"), 2000), 0);
  });

  test("a full table evicts an expired entry before the oldest live one", () => {
    const t = new PersistenceTable({ capacity: 3, timeoutMs: TIMEOUT_MS });
    t.setService(1, { timeoutMs: 10 });
    t.record(SERVICE, ip("10.0.0.1"), 0, 0); // oldest, still valid at 100
    t.record(1, ip("10.0.0.2"), 0, 1); // expires at 11
    t.record(SERVICE, ip("10.0.0.3"), 0, 2);
    t.record(SERVICE, ip("10.0.0.4"), 0, 100);
    assert.equal(t.size, 3);
    assert.equal(t.evictions, 1);
    assert.equal(t.lookup(SERVICE, ip("10.0.0.1"), 100), 0, "the oldest valid entry was kept");
    assert.equal(t.lookup(1, ip("10.0.0.2"), 100), -1);
  });

  test("a full table without expired entries evicts the least recently used", () => {
    const t = table(3);
    t.record(SERVICE, ip("10.0.0.1"), 0, 0);
    t.record(SERVICE, ip("10.0.0.2"), 0, 1);
    t.record(SERVICE, ip("10.0.0.3"), 0, 2);
    t.lookup(SERVICE, ip("10.0.0.1"), 3); // now 10.0.0.2 is the least recently used
    t.record(SERVICE, ip("10.0.0.4"), 0, 4);
    assert.deepEqual(
      ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"].map((a) => t.lookup(SERVICE, ip(a), 5)),
      [0, -1, 0, 0],
    );
  });

  test("a full table prefers evicting entries without live connections", () => {
    const t = table(2);
    t.record(SERVICE, ip("10.0.0.1"), 0, 0);
    t.attach(SERVICE, ip("10.0.0.1"), 0);
    t.record(SERVICE, ip("10.0.0.2"), 0, 1);
    t.record(SERVICE, ip("10.0.0.3"), 0, 2);
    assert.equal(t.lookup(SERVICE, ip("10.0.0.1"), 3), 0);
    assert.equal(t.lookup(SERVICE, ip("10.0.0.2"), 3), -1);
  });

  test("expire drops stale entries in a periodic sweep", () => {
    const t = table();
    for (let i = 0; i < 10; i++) t.record(SERVICE, clientAddr(i), 0, i);
    assert.equal(t.expire(TIMEOUT_MS + 4, 100), 5);
    assert.equal(t.size, 5);
  });

  test("the table matches a plain map through random inserts, lookups and removals", () => {
    // Exercises linear probing and backward-shift deletion with many collisions (64 buckets).
    const t = table(32);
    const model = new Map<number, number>();
    let seed = 1;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let step = 0; step < 50_000; step++) {
      const addr = clientAddr(random(48));
      const op = random(3);
      if (op === 0 && (model.size < 32 || model.has(addr))) {
        const server = random(8);
        t.record(SERVICE, addr, server, 0);
        model.set(addr, server);
      } else if (op === 1) {
        assert.equal(t.remove(SERVICE, addr), model.delete(addr));
      } else {
        assert.equal(t.lookup(SERVICE, addr, 0), model.get(addr) ?? -1, `step ${step}`);
      }
      assert.equal(t.size, model.size);
    }
    assert.equal(t.evictions, 0);
  });

  test("invalid options are rejected with a clear message", () => {
    assert.throws(() => new PersistenceTable({ capacity: 0 }), /Persistence capacity "0" is invalid/);
    assert.throws(() => new PersistenceTable({ capacity: 8, prefixLength: 33 }), /Prefix length "33" is invalid/);
    assert.throws(() => new PersistenceTable({ capacity: 8, timeoutMs: 0 }), RangeError);
    assert.throws(() => table().setService(70000, {}), /Service id "70000" is invalid/);
  });
});

describe("PersistenceTable.pick", () => {
  function setup(): { t: PersistenceTable; pool: ServerPool; rr: RoundRobinScheduler } {
    return { t: table(), pool: new ServerPool([{}, {}, {}]), rr: new RoundRobinScheduler() };
  }

  test("persistence keeps one client on one server while rr rotates the others", () => {
    const { t, pool, rr } = setup();
    const sticky = flow("10.0.0.1");
    const first = t.pick(SERVICE, pool, rr, sticky, 0);
    const others = new Set<number>();
    for (let i = 0; i < 9; i++) {
      assert.equal(t.pick(SERVICE, pool, rr, sticky, i * 1000), first);
      others.add(t.pick(SERVICE, pool, rr, flow(clientAddr(i)), i * 1000));
    }
    assert.equal(others.size, 3, "new clients still spread over every server");
  });

  test("a server going down breaks persistence at once", () => {
    const { t, pool, rr } = setup();
    const client = flow("10.0.0.1");
    const first = t.pick(SERVICE, pool, rr, client, 0);
    t.attach(SERVICE, client.srcAddr, first);
    pool.setUp(first, false);
    const second = t.pick(SERVICE, pool, rr, client, 1);
    assert.notEqual(second, first);
    assert.equal(t.lookup(SERVICE, client.srcAddr, 2), second, "the new server is recorded");
    pool.setUp(first, true);
    assert.equal(t.pick(SERVICE, pool, rr, client, 3), second, "and kept when the old one returns");
  });

  test("disabling a server breaks persistence even with live connections", () => {
    const { t, pool, rr } = setup();
    const client = flow("10.0.0.1");
    const first = t.pick(SERVICE, pool, rr, client, 0);
    t.attach(SERVICE, client.srcAddr, first);
    pool.setAdmin(first, "disabled");
    assert.notEqual(t.pick(SERVICE, pool, rr, client, 1), first);
  });

  test("a draining server keeps its sticky clients only while they have live connections", () => {
    const { t, pool, rr } = setup();
    const client = flow("10.0.0.1");
    const first = t.pick(SERVICE, pool, rr, client, 0);
    t.attach(SERVICE, client.srcAddr, first);
    pool.setAdmin(first, "drain");
    assert.equal(t.pick(SERVICE, pool, rr, client, 1), first, "a live session finishes where it started");
    t.detach(SERVICE, client.srcAddr, first, 2);
    assert.notEqual(t.pick(SERVICE, pool, rr, client, 3), first, "then the drain completes");
  });

  test("a server set to weight 0 is treated like a draining one", () => {
    const { t, pool, rr } = setup();
    const client = flow("10.0.0.1");
    const first = t.pick(SERVICE, pool, rr, client, 0);
    pool.setWeight(first, 0);
    assert.notEqual(t.pick(SERVICE, pool, rr, client, 1), first);
  });

  test("an expired affinity is rescheduled", () => {
    const { t, pool, rr } = setup();
    const client = flow("10.0.0.1");
    const first = t.pick(SERVICE, pool, rr, client, 0);
    assert.notEqual(t.pick(SERVICE, pool, rr, client, TIMEOUT_MS), first, "rr moved on to the next server");
  });

  test("pick returns -1 and records nothing when no server is eligible", () => {
    const { t, pool, rr } = setup();
    for (let i = 0; i < 3; i++) pool.setUp(i, false);
    assert.equal(t.pick(SERVICE, pool, rr, flow("10.0.0.1"), 0), -1);
    assert.equal(t.size, 0);
  });
});
