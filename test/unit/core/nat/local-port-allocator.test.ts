import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { LocalPortAllocator } from "../../../../src/core/nat/local-port-allocator.ts";

const TCP = 6, UDP = 17;
const LOCAL_A = 0x0a0100fe; // 10.1.0.254
const LOCAL_B = 0x0a0100fd; // 10.1.0.253
const SERVER = 0x0a010003; // 10.1.0.3
const SERVER_2 = 0x0a010004;

describe("LocalPortAllocator", () => {
  test("never hands out a port twice under 1,000,000 random allocate/release operations, and reuses released ports", () => {
    const alloc = new LocalPortAllocator({ localAddrs: [LOCAL_A, LOCAL_B], portMin: 20000, portMax: 20999, seed: 42 });
    const servers = [[TCP, SERVER, 80], [TCP, SERVER_2, 80], [UDP, SERVER, 53]] as const;
    // Model: held[s] maps lease → true for each server; a lease is (addr index, port).
    const held = servers.map(() => new Set<number>());
    const heldList = servers.map(() => [] as number[]);
    const everUsed = servers.map(() => new Set<number>());
    let reused = 0, exhausted = 0;
    let x = 0x2545f491;
    for (let op = 0; op < 1_000_000; op++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const r = x >>> 0;
      const s = r % 3;
      const [proto, addr, port] = servers[s]!;
      const list = heldList[s]!;
      // Bias towards allocation so the pools fill up and exhaust now and then.
      if (list.length === 0 || (r >>> 8) % 100 < 52) {
        const lease = alloc.allocate(proto, addr, port);
        if (lease < 0) {
          assert.equal(list.length, 2000, "allocation fails only when both addresses are exhausted");
          exhausted++;
          continue;
        }
        assert.equal(held[s]!.has(lease), false, `lease ${lease} handed out twice`);
        const p = alloc.leasePort(lease);
        assert.ok(p >= 20000 && p <= 20999);
        if (everUsed[s]!.has(lease)) reused++;
        everUsed[s]!.add(lease);
        held[s]!.add(lease);
        list.push(lease);
      } else {
        const i = (r >>> 4) % list.length;
        const lease = list[i]!;
        list[i] = list[list.length - 1]!;
        list.pop();
        held[s]!.delete(lease);
        assert.equal(alloc.release(proto, addr, port, alloc.leaseAddr(lease), alloc.leasePort(lease)), true);
      }
    }
    assert.ok(reused > 100_000, `released ports were reused (${reused})`);
    assert.ok(exhausted > 0, "the run reached exhaustion at least once");
    assert.equal(alloc.allocated, held.reduce((n, h) => n + h.size, 0));
  });

  test("a released port comes back only after every other free port (FIFO)", () => {
    const alloc = new LocalPortAllocator({ localAddrs: [LOCAL_A], portMin: 5000, portMax: 5009, seed: 7 });
    const first = alloc.allocate(TCP, SERVER, 80);
    assert.equal(alloc.release(TCP, SERVER, 80, LOCAL_A, alloc.leasePort(first)), true);
    const next: number[] = [];
    for (let i = 0; i < 10; i++) next.push(alloc.leasePort(alloc.allocate(TCP, SERVER, 80)));
    assert.equal(next[9], alloc.leasePort(first), "the released port is handed out last");
    assert.equal(new Set(next).size, 10);
    assert.equal(alloc.allocate(TCP, SERVER, 80), -1);
    // Reuse after release: exactly the released port comes back.
    assert.equal(alloc.release(TCP, SERVER, 80, LOCAL_A, next[3]!), true);
    assert.equal(alloc.leasePort(alloc.allocate(TCP, SERVER, 80)), next[3]);
  });

  test("an exhausted local address spills to the next one, then allocation fails and is counted", () => {
    const alloc = new LocalPortAllocator({ localAddrs: [LOCAL_A, LOCAL_B], portMin: 1024, portMax: 1027 });
    const addrs: number[] = [];
    for (let i = 0; i < 8; i++) addrs.push(alloc.leaseAddr(alloc.allocate(TCP, SERVER, 80)));
    assert.deepEqual(addrs, [LOCAL_A, LOCAL_A, LOCAL_A, LOCAL_A, LOCAL_B, LOCAL_B, LOCAL_B, LOCAL_B]);
    assert.equal(alloc.allocate(TCP, SERVER, 80), -1);
    assert.equal(alloc.failures, 1);
    assert.equal(alloc.allocated, 8);
  });

  test("pools are per server and protocol: the same local port may serve different servers", () => {
    const alloc = new LocalPortAllocator({ localAddrs: [LOCAL_A], portMin: 3000, portMax: 3000 });
    assert.equal(alloc.leasePort(alloc.allocate(TCP, SERVER, 80)), 3000);
    assert.equal(alloc.leasePort(alloc.allocate(TCP, SERVER, 443)), 3000);
    assert.equal(alloc.leasePort(alloc.allocate(TCP, SERVER_2, 80)), 3000);
    assert.equal(alloc.leasePort(alloc.allocate(UDP, SERVER, 80)), 3000);
    assert.equal(alloc.allocate(TCP, SERVER, 80), -1);
    assert.equal(alloc.isAllocated(TCP, SERVER, 443, LOCAL_A, 3000), true);
    assert.equal(alloc.isAllocated(TCP, SERVER, 8443, LOCAL_A, 3000), false);
  });

  test("releasing a port that is not allocated changes nothing", () => {
    const alloc = new LocalPortAllocator({ localAddrs: [LOCAL_A], portMin: 4000, portMax: 4001 });
    const lease = alloc.allocate(TCP, SERVER, 80);
    const port = alloc.leasePort(lease);
    assert.equal(alloc.release(TCP, SERVER, 80, LOCAL_A, port), true);
    assert.equal(alloc.release(TCP, SERVER, 80, LOCAL_A, port), false, "double release");
    assert.equal(alloc.release(TCP, SERVER, 80, LOCAL_B, port), false, "unknown local address");
    assert.equal(alloc.release(TCP, SERVER_2, 80, LOCAL_A, port), false, "unknown server");
    assert.equal(alloc.release(TCP, SERVER, 80, LOCAL_A, 9999), false, "port outside the range");
    assert.equal(alloc.allocated, 0);
    // Both ports are still available exactly once.
    const a = alloc.allocate(TCP, SERVER, 80), b = alloc.allocate(TCP, SERVER, 80);
    assert.notEqual(alloc.leasePort(a), alloc.leasePort(b));
    assert.equal(alloc.allocate(TCP, SERVER, 80), -1);
  });

  test("ports come out in a random-looking order that depends on the seed", () => {
    const take = (seed: number): number[] => {
      const alloc = new LocalPortAllocator({ localAddrs: [LOCAL_A], seed });
      return Array.from({ length: 20 }, () => alloc.leasePort(alloc.allocate(TCP, SERVER, 80)));
    };
    const a = take(1), b = take(2);
    assert.notDeepEqual(a, b);
    assert.deepEqual(take(1), a, "the same seed gives the same order");
    const sequential = a.filter((p, i) => i > 0 && p === a[i - 1]! + 1).length;
    assert.ok(sequential < 3, `ports look sequential: ${a.join(",")}`);
  });

  test("many servers (key table growth) keep their pools apart", () => {
    const alloc = new LocalPortAllocator({ localAddrs: [LOCAL_A], portMin: 7000, portMax: 7001 });
    for (let s = 0; s < 500; s++) {
      assert.ok(alloc.allocate(TCP, SERVER + s, 80) >= 0);
      assert.ok(alloc.allocate(TCP, SERVER + s, 80) >= 0);
    }
    for (let s = 0; s < 500; s++) assert.equal(alloc.allocate(TCP, SERVER + s, 80), -1);
    assert.equal(alloc.allocated, 1000);
  });

  test("invalid options are rejected", () => {
    assert.throws(() => new LocalPortAllocator({ localAddrs: [] }), /Invalid local address list/);
    assert.throws(() => new LocalPortAllocator({ localAddrs: [LOCAL_A], portMin: 2000, portMax: 1000 }), /Invalid local port range "2000-1000"/);
    assert.throws(() => new LocalPortAllocator({ localAddrs: [LOCAL_A], portMin: 0 }), RangeError);
  });
});
