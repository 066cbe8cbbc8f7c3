import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { formatIpv4, parseIpv4 } from "../../../../src/core/packet/ipv4-address.ts";

describe("ipv4-address", () => {
  test("parses dotted quads to unsigned 32-bit numbers", () => {
    assert.equal(parseIpv4("0.0.0.0"), 0);
    assert.equal(parseIpv4("10.0.0.1"), 0x0a000001);
    assert.equal(parseIpv4("192.168.0.199"), 0xc0a800c7);
    assert.equal(parseIpv4("255.255.255.255"), 0xffffffff);
  });

  test("refuses anything that is not a strict dotted quad", () => {
    for (const text of ["", "1.2.3", "1.2.3.4.5", "1.2.3.", ".1.2.3", "1..2.3", "256.0.0.1", "1.2.3.04", "01.2.3.4",
      " 1.2.3.4", "1.2.3.4 ", "+1.2.3.4", "-1.2.3.4", "1.2.3.4/32", "0x1.2.3.4", "1.2.3.1000", "::1"]) {
      assert.equal(parseIpv4(text), undefined, `"${text}"`);
    }
  });

  test("format and parse are inverses", () => {
    for (const text of ["0.0.0.0", "1.2.3.4", "203.0.113.10", "255.255.255.255", "128.0.0.1"]) {
      assert.equal(formatIpv4(parseIpv4(text)!), text);
    }
    for (let n = 0; n < 0x100000000; n += 0x01010101 * 3 + 7) assert.equal(parseIpv4(formatIpv4(n)), n);
  });
});
