import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { utf8Encode, utf8Length } from "../../../../src/core/crypto/utf8.ts";
import { seededRandom } from "./random.ts";

const encoder = new TextEncoder();

describe("utf8Encode", () => {
  const samples: Array<[string, string, number[]]> = [
    ["the empty string", "", []],
    ["ASCII", "Az~", [0x41, 0x7a, 0x7e]],
    ["a 2-byte character", "é", [0xc3, 0xa9]],
    ["a 3-byte character", "€", [0xe2, 0x82, 0xac]],
    ["a byte order mark", "\ufeff", [0xef, 0xbb, 0xbf]],
    ["a surrogate pair as one 4-byte sequence", "😀", [0xf0, 0x9f, 0x98, 0x80]],
    ["the highest code point", "\u{10ffff}", [0xf4, 0x8f, 0xbf, 0xbf]],
    ["a lone high surrogate as U+FFFD", "a\ud83d", [0x61, 0xef, 0xbf, 0xbd]],
    ["a lone low surrogate as U+FFFD", "\ude00b", [0xef, 0xbf, 0xbd, 0x62]],
    ["two high surrogates then a low one", "\ud83d\ud83d\ude00", [0xef, 0xbf, 0xbd, 0xf0, 0x9f, 0x98, 0x80]],
  ];

  for (const [name, text, bytes] of samples) {
    test(`encodes ${name}`, () => {
      assert.deepEqual([...utf8Encode(text)], bytes);
      assert.equal(utf8Length(text), bytes.length);
    });
  }

  test("agrees with TextEncoder on 500 random strings of UTF-16 code units", () => {
    const seed = (Math.random() * 0x7fffffff) | 0;
    const random = seededRandom(seed);
    // Weighted towards the interesting ranges: ASCII, 2-byte, 3-byte, and surrogates.
    const ranges: Array<[number, number]> = [[0, 0x80], [0x80, 0x800], [0x800, 0xd800], [0xd800, 0xe000], [0xe000, 0x10000]];
    for (let i = 0; i < 500; i++) {
      const units: number[] = [];
      const length = Math.floor(random() * 301);
      for (let j = 0; j < length; j++) {
        const [low, high] = ranges[Math.floor(random() * ranges.length)]!;
        units.push(low + Math.floor(random() * (high - low)));
      }
      const text = String.fromCharCode(...units);
      assert.deepEqual(utf8Encode(text), encoder.encode(text), `seed ${seed}, string ${i}`);
    }
  });
});
