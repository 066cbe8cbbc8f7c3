import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { initialProbeDelayMs, nextProbeDelayMs } from "../../../../src/core/health/probe-schedule.ts";
import { Prng } from "../packet/prng.ts";
import { monitor } from "./health-fixtures.ts";

/** A random source that returns `values` in turn. */
function sequence(...values: number[]): () => number {
  let i = 0;
  return () => values[i++ % values.length]!;
}

describe("nextProbeDelayMs", () => {
  test("the delay is the interval plus a whole number of ms from 0 to jitter", () => {
    const m = monitor({ interval: 1000, jitter: 3 });
    const random = sequence(0, 0.25, 0.5, 0.75, 0.999_999);
    assert.deepEqual([0, 1, 2, 3, 4].map(() => nextProbeDelayMs(m, random)), [1000, 1001, 1002, 1003, 1003]);
  });

  test("no jitter means exactly the interval", () => {
    const m = monitor({ interval: 5000, jitter: 0 });
    assert.equal(nextProbeDelayMs(m, () => 0.999_999), 5000);
    assert.equal(nextProbeDelayMs(m, () => 0), 5000);
  });

  test("a random source out of [0, 1) still gives a delay within interval + [0, jitter]", () => {
    const m = monitor({ interval: 1000, jitter: 100 });
    assert.equal(nextProbeDelayMs(m, () => 1), 1100);
    assert.equal(nextProbeDelayMs(m, () => 7), 1100);
    assert.equal(nextProbeDelayMs(m, () => -0.5), 1000);
    assert.equal(nextProbeDelayMs(m, () => Number.NaN), 1000);
  });

  test("seeded draws cover every value from 0 to jitter about equally often", () => {
    const rng = new Prng(42);
    const random = () => rng.next() / 0x1_0000_0000;
    const m = monitor({ interval: 1000, jitter: 9 });
    const counts = new Array<number>(10).fill(0);
    const draws = 20_000;
    for (let i = 0; i < draws; i++) {
      const extra = nextProbeDelayMs(m, random) - 1000;
      assert.ok(Number.isInteger(extra) && extra >= 0 && extra <= 9, `extra ${extra}`);
      counts[extra]!++;
    }
    for (const c of counts) assert.ok(Math.abs(c - draws / 10) < draws / 50, `counts ${counts}`);
  });
});

describe("initialProbeDelayMs", () => {
  test("N servers get one slice of the interval each", () => {
    const m = monitor({ interval: 1000 });
    assert.deepEqual([0, 1, 2, 3].map((i) => initialProbeDelayMs(m, i, 4, () => 0)), [0, 250, 500, 750]);
    assert.deepEqual([0, 1, 2, 3].map((i) => initialProbeDelayMs(m, i, 4, () => 0.999_999)), [249, 499, 749, 999]);
  });

  test("first probes stay in their slices and inside one interval whatever the random source says", () => {
    const rng = new Prng(7);
    const random = () => rng.next() / 0x1_0000_0000;
    for (const count of [1, 2, 3, 7, 50]) {
      const m = monitor({ interval: rng.range(100, 60_000) });
      for (let i = 0; i < count; i++) {
        const delay = initialProbeDelayMs(m, i, count, random);
        assert.ok(delay >= Math.floor((i * m.interval) / count), `${i}/${count}: ${delay}`);
        assert.ok(delay < Math.ceil(((i + 1) * m.interval) / count), `${i}/${count}: ${delay}`);
      }
      assert.ok(initialProbeDelayMs(m, count - 1, count, () => 1) < m.interval);
    }
  });

  test("a lone server may probe anywhere in the first interval", () => {
    const m = monitor({ interval: 2000 });
    assert.equal(initialProbeDelayMs(m, 0, 1, () => 0.5), 1000);
  });

  test("a slot outside 0..count-1 is refused", () => {
    const m = monitor();
    assert.throws(() => initialProbeDelayMs(m, 4, 4, () => 0), RangeError);
    assert.throws(() => initialProbeDelayMs(m, -1, 4, () => 0), RangeError);
    assert.throws(() => initialProbeDelayMs(m, 0, 0, () => 0), /Invalid probe slot "0" of "0"/);
    assert.throws(() => initialProbeDelayMs(m, 0.5, 4, () => 0), RangeError);
  });
});
