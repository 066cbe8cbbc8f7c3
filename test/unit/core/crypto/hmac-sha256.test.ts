import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { HmacSha256, equalBytes, hmacSha256 } from "../../../../src/core/crypto/hmac-sha256.ts";
import { toHex } from "../../../../src/core/crypto/sha256.ts";
import { utf8Encode } from "../../../../src/core/crypto/utf8.ts";
import { randomBytes, seededRandom } from "./random.ts";

function hex(text: string): Uint8Array {
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return bytes;
}

function nodeHmacHex(key: Uint8Array, message: Uint8Array): string {
  return createHmac("sha256", key).update(message).digest("hex");
}

describe("hmacSha256", () => {
  // RFC 4231 §4.2–4.8, HMAC-SHA-256 results. Case 5 is truncated to 128 bits by the RFC.
  const cases: Array<{ name: string; key: Uint8Array; data: Uint8Array; mac: string }> = [
    {
      name: "test case 1 (20-byte key)",
      key: new Uint8Array(20).fill(0x0b),
      data: utf8Encode("Hi There"),
      mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
    },
    {
      name: "test case 2 (key shorter than the output)",
      key: utf8Encode("Jefe"),
      data: utf8Encode("what do ya want for nothing?"),
      mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
    },
    {
      name: "test case 3 (50 bytes of 0xdd)",
      key: new Uint8Array(20).fill(0xaa),
      data: new Uint8Array(50).fill(0xdd),
      mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
    },
    {
      name: "test case 4 (25-byte key)",
      key: hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
      data: new Uint8Array(50).fill(0xcd),
      mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
    },
    {
      name: "test case 6 (131-byte key, hashed first)",
      key: new Uint8Array(131).fill(0xaa),
      data: utf8Encode("Test Using Larger Than Block-Size Key - Hash Key First"),
      mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
    },
    {
      name: "test case 7 (131-byte key and long data)",
      key: new Uint8Array(131).fill(0xaa),
      data: utf8Encode(
        "This is a test using a larger than block-size key and a larger than block-size data. " +
          "The key needs to be hashed before being used by the HMAC algorithm.",
      ),
      mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
    },
  ];

  for (const { name, key, data, mac } of cases) {
    test(`matches RFC 4231 ${name}`, () => {
      assert.equal(toHex(hmacSha256(key, data)), mac);
      assert.equal(toHex(new HmacSha256(key).mac(data)), mac);
    });
  }

  test("matches RFC 4231 test case 5 truncated to 128 bits", () => {
    const mac = hmacSha256(new Uint8Array(20).fill(0x0c), utf8Encode("Test With Truncation"));
    assert.equal(toHex(mac.subarray(0, 16)), "a3b6167473100ee06e0c796c2955552b");
  });

  test("agrees with node:crypto on 500 random keys and messages of 0 to 300 bytes", () => {
    const seed = (Math.random() * 0x7fffffff) | 0;
    const random = seededRandom(seed);
    for (let i = 0; i < 500; i++) {
      const key = randomBytes(random, Math.floor(random() * 301));
      const message = randomBytes(random, Math.floor(random() * 301));
      assert.equal(
        toHex(hmacSha256(key, message)),
        nodeHmacHex(key, message),
        `seed ${seed}, case ${i}, key length ${key.length}, message length ${message.length}`,
      );
    }
  });

  test("a keyed instance gives the same MAC for many messages and after a rekey", () => {
    const seed = (Math.random() * 0x7fffffff) | 0;
    const random = seededRandom(seed);
    const key = randomBytes(random, 32);
    const hmac = new HmacSha256(key);
    const out = new Uint8Array(34);
    for (let i = 0; i < 50; i++) {
      const message = randomBytes(random, Math.floor(random() * 301));
      hmac.macInto(message, out, 2);
      assert.equal(toHex(out.subarray(2)), nodeHmacHex(key, message), `seed ${seed}, message ${i}`);
    }
    const otherKey = randomBytes(random, 70);
    hmac.setKey(otherKey);
    const message = utf8Encode("after rekey");
    assert.equal(toHex(hmac.mac(message)), nodeHmacHex(otherKey, message));
  });
});

describe("equalBytes", () => {
  test("is true only for arrays with the same length and contents", () => {
    assert.equal(equalBytes(new Uint8Array(0), new Uint8Array(0)), true);
    assert.equal(equalBytes(hex("00ff10"), hex("00ff10")), true);
    assert.equal(equalBytes(hex("00ff10"), hex("00ff11")), false);
    assert.equal(equalBytes(hex("80ff10"), hex("00ff10")), false);
    assert.equal(equalBytes(hex("00ff10"), hex("00ff")), false);
    assert.equal(equalBytes(hex("00ff"), hex("00ff10")), false);
  });
});
