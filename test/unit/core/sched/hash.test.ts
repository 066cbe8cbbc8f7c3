import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mix2, mix32, serverKey } from "../../../../src/core/sched/hash.ts";

describe("hash", () => {
  test("mix32 gives MurmurHash3 fmix32 values, so every dispatcher agrees", () => {
    // Reference values of fmix32 (MurmurHash3, public domain): 0 stays 0.
    assert.equal(mix32(0), 0);
    assert.equal(mix32(1), 0x514e28b7);
    assert.equal(mix32(0xffffffff), 0x81f16f39);
  });

  test("mix2 depends on the order of its words", () => {
    assert.notEqual(mix2(1, 2), mix2(2, 1));
  });

  test("mix2 never collides for one address and distinct ports", () => {
    const seen = new Set<number>();
    for (let port = 0; port < 65536; port++) seen.add(mix2(0xc0000201, port));
    assert.equal(seen.size, 65536);
  });

  test("serverKey separates servers that differ only by port", () => {
    assert.notEqual(serverKey(0xc0a80203, 80), serverKey(0xc0a80203, 8080));
    assert.equal(serverKey(0xc0a80203, 80), serverKey(0xc0a80203, 80));
  });
});
