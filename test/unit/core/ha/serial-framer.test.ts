import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  MAX_SERIAL_FRAME_BYTES,
  MAX_SERIAL_PAYLOAD_BYTES,
  SerialDeframer,
  crc32,
  encodeSerialFrame,
  serialFrameBytes,
} from "../../../../src/core/ha/serial-framer.ts";
import { utf8Encode } from "../../../../src/core/crypto/utf8.ts";
import { randomBytes, seededRandom } from "../crypto/random.ts";

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(MAX_SERIAL_FRAME_BYTES);
  return out.slice(0, encodeSerialFrame(payload, payload.length, out));
}

/** Feeds `chunks` to a fresh (or given) deframer and returns copies of the payloads it delivered. */
function deframe(chunks: Uint8Array[], deframer = new SerialDeframer()): Uint8Array[] {
  const frames: Uint8Array[] = [];
  for (const chunk of chunks) deframer.push(chunk, (payload) => frames.push(payload.slice()));
  return frames;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

describe("crc32", () => {
  test("matches the standard check value and known strings", () => {
    assert.equal(crc32(utf8Encode("123456789")), 0xcbf43926);
    assert.equal(crc32(new Uint8Array(0)), 0);
    assert.equal(crc32(utf8Encode("The quick brown fox jumps over the lazy dog")), 0x414fa339);
    assert.equal(crc32(utf8Encode("xx123456789yy"), 2, 11), 0xcbf43926);
  });
});

describe("encodeSerialFrame", () => {
  test("a frame is delimited by zeros and has none inside", () => {
    const random = seededRandom(11);
    for (const length of [0, 1, 5, 253, 254, 255, 508, 509, 510, 512]) {
      const payload = randomBytes(random, length);
      payload.fill(0, 0, Math.min(3, length));
      const bytes = frame(payload);
      assert.equal(bytes[0], 0);
      assert.equal(bytes[bytes.length - 1], 0);
      assert.equal(bytes.subarray(1, -1).indexOf(0), -1, `length ${length}`);
      assert.ok(bytes.length <= serialFrameBytes(length));
    }
  });

  test("long runs without zeros hit the COBS worst case exactly", () => {
    const payload = new Uint8Array(MAX_SERIAL_PAYLOAD_BYTES).fill(0x55);
    // Choose CRC bytes that are non-zero so the run covers all 516 decoded bytes.
    assert.ok(crc32(payload) & 0xff && crc32(payload) & 0xff00 && crc32(payload) & 0xff0000 && crc32(payload) >>> 24);
    assert.equal(frame(payload).length, MAX_SERIAL_FRAME_BYTES);
  });

  test("payloads over the limit or a buffer too small throw a RangeError", () => {
    assert.throws(() => encodeSerialFrame(new Uint8Array(513), 513, new Uint8Array(1024)), RangeError);
    assert.throws(() => encodeSerialFrame(new Uint8Array(4), 5, new Uint8Array(64)), RangeError);
    assert.throws(() => encodeSerialFrame(new Uint8Array(100), 100, new Uint8Array(100)), RangeError);
  });
});

describe("SerialDeframer", () => {
  test("random payloads round-trip when split at every position", () => {
    const random = seededRandom(22);
    for (const length of [0, 1, 17, 253, 254, 300, 512]) {
      const payload = randomBytes(random, length);
      const bytes = frame(payload);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const deframer = new SerialDeframer();
        const frames = deframe([bytes.subarray(0, cut), bytes.subarray(cut)], deframer);
        assert.deepEqual(frames, [payload], `length ${length} cut ${cut}`);
        assert.deepEqual(deframer.counters, { frames: 1, badCrc: 0, tooLong: 0, badEncoding: 0, tooShort: 0 });
      }
    }
  });

  test("a frame fed one byte at a time, or in random chunks, arrives whole", () => {
    const random = seededRandom(33);
    for (let round = 0; round < 200; round++) {
      const payloads = Array.from({ length: 1 + Math.floor(random() * 4) }, () => randomBytes(random, Math.floor(random() * 513)));
      const stream = concat(...payloads.map(frame));
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < stream.length; ) {
        const size = round === 0 ? 1 : 1 + Math.floor(random() * 64);
        chunks.push(stream.subarray(at, at + size));
        at += size;
      }
      assert.deepEqual(deframe(chunks), payloads, `round ${round}`);
    }
  });

  test("several frames in one chunk all arrive, in order", () => {
    const payloads = [utf8Encode("one"), new Uint8Array(0), Uint8Array.of(0, 0, 0), utf8Encode("four")];
    assert.deepEqual(deframe([concat(...payloads.map(frame))]), payloads);
  });

  test("garbage before the first frame is skipped, even when it contains delimiters", () => {
    const random = seededRandom(44);
    const payload = utf8Encode("heartbeat");
    for (let round = 0; round < 200; round++) {
      const garbage = randomBytes(random, Math.floor(random() * 600));
      const deframer = new SerialDeframer();
      assert.deepEqual(deframe([garbage, frame(payload)], deframer), [payload]);
      assert.equal(deframer.counters.frames, 1);
    }
  });

  test("a receiver joining mid-frame drops the tail silently and takes the next frame", () => {
    const first = frame(utf8Encode("first frame, joined late"));
    const second = utf8Encode("second");
    const deframer = new SerialDeframer();
    assert.deepEqual(deframe([first.subarray(10), frame(second)], deframer), [second]);
    assert.deepEqual(deframer.counters, { frames: 1, badCrc: 0, tooLong: 0, badEncoding: 0, tooShort: 0 });
  });

  test("every single-bit flip inside a frame is dropped and counted, and the next frame still arrives", () => {
    const payload = randomBytes(seededRandom(55), 120);
    const bytes = frame(payload);
    const next = utf8Encode("next");
    for (let bit = 8; bit < (bytes.length - 1) * 8; bit++) {
      const copy = bytes.slice();
      copy[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      const deframer = new SerialDeframer();
      const frames = deframe([copy, frame(next)], deframer);
      assert.deepEqual(frames, [next], `bit ${bit}`);
      const { badCrc, badEncoding, tooShort } = deframer.counters;
      assert.ok(badCrc + badEncoding + tooShort >= 1, `bit ${bit}: nothing counted`);
    }
  });

  test("a flipped delimiter loses at most the frames it joins, never delivers a wrong one", () => {
    const a = utf8Encode("alpha");
    const b = utf8Encode("bravo");
    const stream = concat(frame(a), frame(b), frame(a));
    for (const at of [0, frame(a).length - 1, frame(a).length, stream.length - 1]) {
      const copy = stream.slice();
      copy[at] = 0x01;
      for (const payload of deframe([copy])) assert.ok([a, b].some((p) => p.length === payload.length && p.every((x, i) => x === payload[i])), `delimiter ${at}`);
    }
  });

  test("an overlong frame is counted once, memory stays bounded, and the stream resyncs", () => {
    const deframer = new SerialDeframer();
    const noise = new Uint8Array(100_000).fill(0x41);
    const after = utf8Encode("after");
    const frames = deframe([Uint8Array.of(0), noise, noise, frame(after)], deframer);
    assert.deepEqual(frames, [after]);
    assert.equal(deframer.counters.tooLong, 1);
  });

  test("a payload of 513 bytes framed by hand is too long", () => {
    // Encode 513 + 4 bytes with COBS by hand: blocks of 254 non-zero bytes and a final remainder.
    const decoded = new Uint8Array(517).fill(0x42);
    const parts: number[] = [0];
    for (let at = 0; at < decoded.length; at += 254) {
      const block = decoded.subarray(at, at + 254);
      parts.push(block.length + 1, ...block);
    }
    parts.push(0);
    const deframer = new SerialDeframer();
    assert.deepEqual(deframe([Uint8Array.from(parts)], deframer), []);
    assert.equal(deframer.counters.tooLong, 1);
  });

  test("a COBS block cut short by a delimiter is bad-encoding, a frame shorter than a CRC is too-short", () => {
    const deframer = new SerialDeframer();
    deframe([Uint8Array.of(0, 0x05, 0x41, 0x42, 0), Uint8Array.of(0x03, 0x41, 0x42, 0)], deframer);
    assert.equal(deframer.counters.badEncoding, 1);
    assert.equal(deframer.counters.tooShort, 1);
    assert.equal(deframer.counters.frames, 0);
  });

  test("idle delimiters between frames count as nothing", () => {
    const deframer = new SerialDeframer();
    const payload = utf8Encode("x");
    assert.deepEqual(deframe([new Uint8Array(50), frame(payload), new Uint8Array(50)], deframer), [payload]);
    assert.deepEqual(deframer.counters, { frames: 1, badCrc: 0, tooLong: 0, badEncoding: 0, tooShort: 0 });
  });

  test("random byte streams never throw and never deliver more than 512 bytes", () => {
    const random = seededRandom(66);
    const deframer = new SerialDeframer();
    for (let i = 0; i < 2_000; i++) {
      const chunk = randomBytes(random, Math.floor(random() * 300));
      // Make zeros and small codes common so the decoder's branches are all taken.
      for (let k = 0; k < chunk.length; k++) if (random() < 0.1) chunk[k] = Math.floor(random() * 3);
      deframer.push(chunk, (payload) => assert.ok(payload.length <= MAX_SERIAL_PAYLOAD_BYTES));
    }
    const { badCrc, badEncoding, tooShort } = deframer.counters;
    assert.ok(badCrc > 0 && badEncoding > 0 && tooShort > 0, JSON.stringify(deframer.counters));
  });

  test("the deframer stays sound when onFrame throws", () => {
    const deframer = new SerialDeframer();
    const payload = utf8Encode("boom");
    assert.throws(() => deframer.push(frame(payload), () => {
      throw new Error("callback failed");
    }));
    assert.deepEqual(deframe([frame(payload)], deframer), [payload]);
  });
});
