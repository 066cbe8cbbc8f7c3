import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ServerPool } from "../../../../src/core/sched/server-pool.ts";

describe("ServerPool", () => {
  test("servers are eligible only when weighted, active and up", () => {
    const pool = new ServerPool([{}, { weight: 0 }, { admin: "drain" }, { admin: "disabled" }, { up: false }]);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((i) => pool.isEligible(i)),
      [true, false, false, false, false],
    );
    assert.equal(pool.eligibleCount, 1);
  });

  test("drained and weight-0 servers still serve, disabled and down ones do not", () => {
    const pool = new ServerPool([{ admin: "drain" }, { weight: 0 }, { admin: "disabled" }, { up: false }]);
    assert.deepEqual(
      [0, 1, 2, 3].map((i) => pool.isServing(i)),
      [true, true, false, false],
    );
  });

  test("every scheduling change bumps the version and updates eligibility at once", () => {
    const pool = new ServerPool([{}, {}]);
    const seen = [pool.version];
    pool.setWeight(0, 0);
    seen.push(pool.version);
    assert.equal(pool.isEligible(0), false);
    pool.setWeight(0, 5);
    pool.setAdmin(1, "drain");
    seen.push(pool.version);
    assert.equal(pool.isEligible(1), false);
    pool.setUp(1, false);
    pool.setAdmin(1, "active");
    seen.push(pool.version);
    assert.equal(pool.isEligible(1), false, "an active server that is down takes nothing");
    pool.setUp(1, true);
    pool.setEffectiveWeight(0, 9);
    seen.push(pool.version);
    assert.equal(pool.eligibleCount, 2);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! > seen[i - 1]!, `version moved at step ${i}`);
  });

  test("connection counts do not bump the version", () => {
    const pool = new ServerPool([{}]);
    const version = pool.version;
    pool.onConnect(0);
    pool.onDisconnect(0);
    assert.equal(pool.version, version);
  });

  test("connection counters follow IPVS active and inactive accounting", () => {
    const pool = new ServerPool([{}]);
    pool.onConnect(0, true); // SYN seen: inactive
    pool.onConnect(0, true);
    pool.onEstablished(0);
    assert.deepEqual([pool.activeConns(0), pool.inactiveConns(0)], [1, 1]);
    assert.equal(pool.overhead(0), 256 + 1);
    pool.onInactive(0); // FIN: no longer established
    pool.onDisconnect(0, true);
    assert.deepEqual([pool.activeConns(0), pool.inactiveConns(0)], [0, 1]);
  });

  test("connection counters never go below zero", () => {
    const pool = new ServerPool([{}]);
    pool.onDisconnect(0);
    pool.onDisconnect(0, true);
    assert.deepEqual([pool.activeConns(0), pool.inactiveConns(0)], [0, 0]);
  });

  test("setting the admin weight resets the effective weight", () => {
    const pool = new ServerPool([{ weight: 3 }]);
    pool.setEffectiveWeight(0, 7);
    assert.equal(pool.effectiveWeight(0), 7);
    pool.setWeight(0, 4);
    assert.equal(pool.effectiveWeight(0), 4);
  });

  test("indices stay stable as servers are added beyond the initial capacity", () => {
    const pool = new ServerPool();
    for (let i = 0; i < 20; i++) assert.equal(pool.add({ weight: i + 1, key: 1000 + i }), i);
    pool.onConnect(3);
    pool.add();
    assert.equal(pool.size, 21);
    assert.equal(pool.weight(19), 20);
    assert.equal(pool.key(19), 1019);
    assert.equal(pool.activeConns(3), 1);
    assert.equal(pool.key(20), 20, "the default key is the index");
  });

  test("invalid weights, states and indices are rejected with a clear message", () => {
    const pool = new ServerPool([{}]);
    assert.throws(() => pool.setWeight(0, 65536), { name: "RangeError", message: /Weight "65536" is invalid/ });
    assert.throws(() => pool.setWeight(0, 1.5), RangeError);
    assert.throws(() => pool.setEffectiveWeight(0, -1), RangeError);
    assert.throws(() => pool.setAdmin(0, "paused" as never), /Admin state "paused" is invalid/);
    assert.throws(() => pool.setUp(1, true), /Server index "1" is out of range/);
    assert.throws(() => new ServerPool([{ weight: -1 }]), RangeError);
    assert.equal(pool.weight(0), 1, "a rejected change leaves the server as it was");
  });
});
