import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Sha256, sha256, sha256Hex, toHex } from "../../../../src/core/crypto/sha256.ts";
import { utf8Encode } from "../../../../src/core/crypto/utf8.ts";
import { randomBytes, seededRandom } from "./random.ts";

function ascii(text: string): Uint8Array {
  return utf8Encode(text);
}

function nodeSha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

describe("sha256", () => {
  // FIPS 180-4 examples (NIST CSRC "SHA256.pdf", "SHA2_Additional.pdf").
  const vectors: Array<[string, Uint8Array, string]> = [
    ["the empty message", new Uint8Array(0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["\"abc\"", ascii("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    [
      "the 448-bit two-block message",
      ascii("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
    ],
    [
      "the 896-bit message",
      ascii(
        "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
      ),
      "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
    ],
    ["one million \"a\"", new Uint8Array(1_000_000).fill(0x61), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"],
  ];

  for (const [name, message, expected] of vectors) {
    test(`hashes ${name} to the NIST digest`, () => {
      assert.equal(sha256Hex(message), expected);
      assert.equal(toHex(sha256(message)), expected);
    });
  }

  test("agrees with node:crypto on every length around the padding boundaries", () => {
    const random = seededRandom(0x5a256);
    for (let length = 0; length <= 200; length++) {
      const message = randomBytes(random, length);
      assert.equal(sha256Hex(message), nodeSha256Hex(message), `length ${length}`);
    }
  });

  test("agrees with node:crypto on 500 random messages of 0 to 300 bytes", () => {
    const seed = (Math.random() * 0x7fffffff) | 0;
    const random = seededRandom(seed);
    for (let i = 0; i < 500; i++) {
      const message = randomBytes(random, Math.floor(random() * 301));
      assert.equal(sha256Hex(message), nodeSha256Hex(message), `seed ${seed}, message ${i}, length ${message.length}`);
    }
  });

  test("gives the same digest when the message is fed in random pieces", () => {
    const seed = (Math.random() * 0x7fffffff) | 0;
    const random = seededRandom(seed);
    const hasher = new Sha256();
    for (let i = 0; i < 100; i++) {
      const message = randomBytes(random, Math.floor(random() * 1000));
      hasher.reset();
      for (let at = 0; at < message.length; ) {
        const end = Math.min(message.length, at + Math.floor(random() * 130));
        hasher.update(message.subarray(at, end));
        at = end;
      }
      assert.equal(toHex(hasher.digest()), nodeSha256Hex(message), `seed ${seed}, message ${i}`);
    }
  });

  test("a copied hasher continues from the copied state", () => {
    const prefix = ascii("heartbeat:");
    const base = new Sha256().update(prefix);
    const copy = new Sha256().assign(base).update(ascii("node-a"));
    assert.equal(toHex(copy.digest()), nodeSha256Hex(ascii("heartbeat:node-a")));
    assert.equal(toHex(base.update(ascii("node-b")).digest()), nodeSha256Hex(ascii("heartbeat:node-b")));
  });

  test("digestInto writes at an offset and rejects a buffer too short", () => {
    const out = new Uint8Array(40).fill(0xaa);
    new Sha256().update(ascii("abc")).digestInto(out, 4);
    assert.deepEqual([...out.subarray(0, 4)], [0xaa, 0xaa, 0xaa, 0xaa]);
    assert.equal(toHex(out.subarray(4, 36)), nodeSha256Hex(ascii("abc")));
    assert.deepEqual([...out.subarray(36)], [0xaa, 0xaa, 0xaa, 0xaa]);
    assert.throws(() => new Sha256().digestInto(new Uint8Array(40), 9), RangeError);
  });
});
