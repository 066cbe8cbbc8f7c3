import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { serverKey } from "../../../../src/core/sched/hash.ts";
import { MaglevScheduler } from "../../../../src/core/sched/maglev-scheduler.ts";
import { ServerPool } from "../../../../src/core/sched/server-pool.ts";
import { clientAddr, flow, histogram } from "./fixtures.ts";

const CLIENTS = 100_000;

/** Five servers 192.168.2.0..4:80 keyed by address and port, as a config reload would build them. */
function fiveServers(): ServerPool {
  return new ServerPool([0, 1, 2, 3, 4].map((i) => ({ key: serverKey(0xc0a80200 + i, 80) })));
}

/** The server `sh` picks for each of `CLIENTS` deterministic client addresses. */
function assignments(sh: MaglevScheduler, pool: ServerPool): Int32Array {
  const out = new Int32Array(CLIENTS);
  const f = flow(0);
  for (let i = 0; i < CLIENTS; i++) {
    f.srcAddr = clientAddr(i);
    out[i] = sh.pick(pool, f);
  }
  return out;
}

describe("sh", () => {
  test("sh sends one client to the same server on every pick", () => {
    const pool = fiveServers();
    const sh = new MaglevScheduler();
    const first = sh.pick(pool, flow("198.51.100.7", 1000));
    for (let port = 1001; port < 1100; port++) assert.equal(sh.pick(pool, flow("198.51.100.7", port)), first);
  });

  test("sh picks the same server on two dispatchers with the same configuration", () => {
    const a = assignments(new MaglevScheduler(), fiveServers());
    const b = assignments(new MaglevScheduler(), fiveServers());
    assert.deepEqual(a, b);
  });

  test("sh picks are pinned, so dispatchers running different builds still agree", () => {
    const pool = new ServerPool([0, 1, 2].map((i) => ({ key: serverKey(0xc0a80200 + i, 80) })));
    const sh = new MaglevScheduler();
    const sequence: number[] = [];
    for (let i = 0; i < 16; i++) sequence.push(sh.pick(pool, flow(0x0a000001 + i)));
    // Changing the hash, the seeds or the fill order breaks ECMP agreement: bump with care.
    assert.deepEqual(sequence, [2, 2, 0, 2, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1]);
  });

  test("sh moves only the clients of a server that goes down (65537 slots: 19.9% moved, 0.12% others)", () => {
    // Measured with 100,000 clients and 5 servers: 19.80% of clients were on the lost server and
    // must move; only 0.12% of the others moved too (Maglev's small overshoot). With a 4093-slot
    // table the overshoot is ~1.0%.
    const pool = fiveServers();
    const sh = new MaglevScheduler();
    const before = assignments(sh, pool);
    pool.setUp(2, false);
    const after = assignments(sh, pool);
    let moved = 0;
    let othersMoved = 0;
    for (let i = 0; i < CLIENTS; i++) {
      assert.notEqual(after[i], 2, "no client stays on the lost server");
      if (after[i] !== before[i]) {
        moved++;
        if (before[i] !== 2) othersMoved++;
      }
    }
    assert.ok(moved / CLIENTS > 0.17 && moved / CLIENTS < 0.23, `moved ${moved / CLIENTS}`);
    assert.ok(othersMoved / CLIENTS < 0.005, `others moved ${othersMoved / CLIENTS}`);
  });

  test("sh with a 4093-slot table still moves about one fifth when one of five servers goes", () => {
    const pool = fiveServers();
    const sh = new MaglevScheduler({ tableSize: 4093 });
    const before = assignments(sh, pool);
    pool.setAdmin(4, "disabled");
    const after = assignments(sh, pool);
    let othersMoved = 0;
    for (let i = 0; i < CLIENTS; i++) if (before[i] !== 4 && after[i] !== before[i]) othersMoved++;
    assert.ok(othersMoved / CLIENTS < 0.03, `others moved ${othersMoved / CLIENTS}`);
  });

  test("sh restores the same assignment when the server comes back", () => {
    const pool = fiveServers();
    const sh = new MaglevScheduler();
    const before = assignments(sh, pool);
    pool.setAdmin(1, "drain");
    assignments(sh, pool);
    pool.setAdmin(1, "active");
    assert.deepEqual(assignments(sh, pool), before);
  });

  test("sh honours weights 1:2:3 in the share of clients", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 2 }, { weight: 3 }]);
    const shares = histogram(Array.from(assignments(new MaglevScheduler(), pool)), 3).map((c) => (c / CLIENTS) * 6);
    shares.forEach((share, i) => assert.ok(Math.abs(share - (i + 1)) < 0.05, `server ${i}: ${share}`));
  });

  test("sh applies a live weight change on the next pick", () => {
    const pool = new ServerPool([{ weight: 1 }, { weight: 1 }]);
    const sh = new MaglevScheduler();
    pool.setWeight(0, 0);
    assert.deepEqual(histogram(Array.from(assignments(sh, pool)), 2), [0, CLIENTS]);
  });

  test("sh spreads one client's connections when hashing the port too", () => {
    const sh = new MaglevScheduler({ hashPort: true });
    const pool = fiveServers();
    const seen = new Set<number>();
    for (let port = 1000; port < 1100; port++) seen.add(sh.pick(pool, flow("198.51.100.7", port)));
    assert.equal(seen.size, 5);
  });

  test("sh returns -1 when no server is eligible", () => {
    const pool = new ServerPool([{ up: false }, { weight: 0 }]);
    assert.equal(new MaglevScheduler().pick(pool, flow("198.51.100.7")), -1);
    assert.equal(new MaglevScheduler().pick(new ServerPool(), flow("198.51.100.7")), -1);
  });

  test("sh rejects a table size that is not a prime", () => {
    assert.throws(() => new MaglevScheduler({ tableSize: 65536 }), /Maglev table size "65536" is invalid/);
    assert.equal(new MaglevScheduler({ tableSize: 4093 }).tableSize, 4093);
  });
});
