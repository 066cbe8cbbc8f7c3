import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { alertBackoffMs } from "../../../../src/core/alert/alert-backoff.ts";

describe("alertBackoffMs", () => {
  test("without jitter the delays double from 1 s and stop at 60 s", () => {
    const delays = Array.from({ length: 9 }, (_, retry) => alertBackoffMs(retry, 0.5));
    assert.deepEqual(delays, [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  test("jitter spreads a delay over 0.8 to 1.2 times its nominal value", () => {
    assert.equal(alertBackoffMs(2, 0), 3200);
    assert.equal(alertBackoffMs(2, 0.999_999), 4800);
  });

  test("jitter never takes a delay above 60 s", () => {
    assert.equal(alertBackoffMs(5, 0.999_999), 38_400);
    assert.equal(alertBackoffMs(6, 0.999_999), 60_000);
    assert.equal(alertBackoffMs(1000, 0.999_999), 60_000);
  });

  test("an out-of-range random value is clamped", () => {
    assert.equal(alertBackoffMs(0, -5), 800);
    assert.equal(alertBackoffMs(0, 7), 1200);
  });
});
