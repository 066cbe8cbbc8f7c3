import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import {
  FRAME_DROP_REASONS,
  FRAME_HEADER_BYTES,
  FRAME_TAG_BYTES,
  FrameType,
  HEARTBEAT_ROLES,
  HeartbeatFlag,
  MAX_HEARTBEAT_BYTES,
  createHeartbeatAuth,
  decodeHeartbeat,
  encodeHeartbeat,
  openFrame,
  peekFrameType,
  sealFrame,
} from "../../../../src/core/ha/heartbeat-message.ts";
import type { FrameDropReason, HeartbeatAuth, HeartbeatMessage } from "../../../../src/core/ha/heartbeat-message.ts";
import { utf8Encode } from "../../../../src/core/crypto/utf8.ts";
import { randomBytes, seededRandom } from "../crypto/random.ts";

const KEY = utf8Encode("0123456789abcdef0123456789abcdef");
const OTHER_KEY = utf8Encode("fedcba9876543210fedcba9876543210");
const auth = createHeartbeatAuth(KEY, "lab");

const SAMPLE: HeartbeatMessage = {
  cluster: "lab",
  node: "alpha",
  generation: 1_750_000_000_123,
  link: 3,
  seq: 42,
  wallMs: 1_750_000_123_456,
  role: "active",
  priority: 200,
  flags: HeartbeatFlag.WitnessOk | HeartbeatFlag.Synced,
  vips: 3,
  syncPosition: 9_007_199_254_740_991,
};

function encode(message: HeartbeatMessage, withAuth: HeartbeatAuth = auth): Uint8Array {
  const out = new Uint8Array(MAX_HEARTBEAT_BYTES);
  return out.slice(0, encodeHeartbeat(message, withAuth, out));
}

function decode(bytes: Uint8Array, withAuth: HeartbeatAuth = auth) {
  return decodeHeartbeat(bytes, bytes.length, withAuth);
}

interface ForgedFields {
  generationHigh?: number;
  seq?: number;
  link?: number;
  role?: number;
  priority?: number;
  flags?: number;
  nameBytes?: Uint8Array;
  nameLength?: number;
  extra?: number;
}

/** Writes a heartbeat body by hand (fields unchecked) and seals it, for forging out-of-range values. */
function forgeBody(fields: ForgedFields): Uint8Array {
  const name = fields.nameBytes ?? utf8Encode("alpha");
  const bodyLength = 39 + name.length + (fields.extra ?? 0);
  const out = new Uint8Array(FRAME_HEADER_BYTES + bodyLength + FRAME_TAG_BYTES);
  const body = new DataView(out.buffer, FRAME_HEADER_BYTES);
  body.setUint32(0, fields.generationHigh ?? 0);
  body.setUint32(4, 7);
  body.setUint32(8, 0);
  body.setUint32(12, fields.seq ?? 1);
  body.setUint8(32, fields.link ?? 0);
  body.setUint8(33, fields.role ?? 1);
  body.setUint8(34, fields.priority ?? 100);
  body.setUint8(35, fields.flags ?? 0);
  body.setUint8(38, fields.nameLength ?? name.length);
  out.set(name, FRAME_HEADER_BYTES + 39);
  return out.slice(0, sealFrame(auth, FrameType.Heartbeat, out, bodyLength));
}

function reasonOf(bytes: Uint8Array, withAuth: HeartbeatAuth = auth): FrameDropReason | "ok" {
  const result = decode(bytes, withAuth);
  return result.ok ? "ok" : result.reason;
}

describe("heartbeat encoding", () => {
  test("a heartbeat survives encode and decode with every field intact", () => {
    const result = decode(encode(SAMPLE));
    assert.ok(result.ok);
    assert.deepEqual(result.message, SAMPLE);
  });

  test("every role, every flag and the field extremes round-trip", () => {
    for (const role of HEARTBEAT_ROLES) {
      const message = { ...SAMPLE, role, generation: 0, seq: 1, wallMs: 0, syncPosition: 0, link: 7, priority: 1, flags: 0x0f, vips: 65535 };
      const result = decode(encode(message));
      assert.ok(result.ok);
      assert.deepEqual(result.message, message);
    }
    const big = { ...SAMPLE, generation: Number.MAX_SAFE_INTEGER, seq: Number.MAX_SAFE_INTEGER, wallMs: Number.MAX_SAFE_INTEGER, priority: 255 };
    const result = decode(encode(big));
    assert.ok(result.ok);
    assert.deepEqual(result.message, big);
  });

  test("non-ASCII node names of up to 64 bytes round-trip, and alternating names are not confused by the cache", () => {
    const names = ["nœud-ß", "节点", "🦊".repeat(16), "a".repeat(64), "alpha", "beta", "alpha"];
    for (const node of names) {
      const result = decode(encode({ ...SAMPLE, node }));
      assert.ok(result.ok, node);
      assert.equal(result.message.node, node);
    }
  });

  test("the wire layout matches the documented offsets", () => {
    const bytes = encode(SAMPLE);
    assert.equal(bytes.length, 16 + 39 + 5 + 32);
    assert.deepEqual([...bytes.subarray(0, 6)], [0x54, 0x4e, 0x48, 0x42, 1, FrameType.Heartbeat]);
    const view = new DataView(bytes.buffer);
    assert.equal(view.getUint16(6), 39 + 5);
    assert.deepEqual(bytes.subarray(8, 16), new Uint8Array(createHash("sha256").update("lab").digest()).subarray(0, 8));
    assert.equal(view.getBigUint64(16), BigInt(SAMPLE.generation));
    assert.equal(view.getBigUint64(24), BigInt(SAMPLE.seq));
    assert.equal(view.getBigUint64(32), BigInt(SAMPLE.wallMs));
    assert.equal(view.getBigUint64(40), BigInt(SAMPLE.syncPosition));
    assert.deepEqual([...bytes.subarray(48, 55)], [3, 2, 200, 0x09, 0, 3, 5]);
    assert.equal(new TextDecoder().decode(bytes.subarray(55, 60)), "alpha");
  });

  test("the tag is the full HMAC-SHA-256 of everything before it", () => {
    const bytes = encode(SAMPLE);
    const tagOffset = bytes.length - 32;
    const expected = createHmac("sha256", KEY).update(bytes.subarray(0, tagOffset)).digest();
    assert.deepEqual(bytes.subarray(tagOffset), new Uint8Array(expected));
  });

  test("the largest heartbeat stays well under 256 bytes and fits MAX_HEARTBEAT_BYTES exactly", () => {
    const bytes = encode({ ...SAMPLE, node: "n".repeat(64) });
    assert.equal(bytes.length, MAX_HEARTBEAT_BYTES);
    assert.ok(MAX_HEARTBEAT_BYTES < 256);
  });

  test("the frame carries the auth's cluster, not the message's cluster field", () => {
    const result = decode(encode({ ...SAMPLE, cluster: "ignored" }));
    assert.ok(result.ok);
    assert.equal(result.message.cluster, "lab");
  });

  test("out-of-range fields are refused at encoding with a RangeError naming the field", () => {
    const bad: Array<[Partial<HeartbeatMessage>, string]> = [
      [{ generation: -1 }, "generation"],
      [{ generation: 2 ** 53 }, "generation"],
      [{ seq: 0 }, "seq"],
      [{ seq: 1.5 }, "seq"],
      [{ wallMs: Number.NaN }, "wallMs"],
      [{ syncPosition: -3 }, "syncPosition"],
      [{ link: 8 }, "link"],
      [{ role: "leader" as never }, "role"],
      [{ priority: 0 }, "priority"],
      [{ priority: 256 }, "priority"],
      [{ flags: 0x10 }, "flags"],
      [{ vips: 65536 }, "vips"],
      [{ node: "" }, "node"],
      [{ node: "é".repeat(33) }, "node"],
    ];
    for (const [patch, field] of bad) {
      assert.throws(() => encode({ ...SAMPLE, ...patch }), (error: unknown) => error instanceof RangeError && error.message.includes(field), field);
    }
  });

  test("encoding into a buffer too small throws a RangeError instead of writing past it", () => {
    assert.throws(() => encodeHeartbeat(SAMPLE, auth, new Uint8Array(60)), RangeError);
  });
});

describe("heartbeat auth", () => {
  test("keys shorter than 16 bytes are refused with a clear error", () => {
    assert.throws(() => createHeartbeatAuth(new Uint8Array(15), "lab"), /^Error: Heartbeat auth key is too short: "15" bytes, at least "16" are required$/);
    assert.doesNotThrow(() => createHeartbeatAuth(new Uint8Array(16), "lab"));
  });

  test("empty cluster names and names over 64 bytes are refused", () => {
    assert.throws(() => createHeartbeatAuth(KEY, ""), /Cluster name "" cannot be used/);
    assert.throws(() => createHeartbeatAuth(KEY, "c".repeat(65)), /"65"/);
    assert.doesNotThrow(() => createHeartbeatAuth(KEY, "c".repeat(64)));
  });
});

describe("heartbeat decoding drops bad frames with a reason", () => {
  test("the reason list is closed and names every reason once", () => {
    assert.deepEqual([...FRAME_DROP_REASONS], ["truncated", "bad-magic", "bad-version", "bad-type", "foreign-cluster", "bad-mac", "malformed"]);
  });

  test("a message under another key is bad-mac", () => {
    assert.equal(reasonOf(encode(SAMPLE, createHeartbeatAuth(OTHER_KEY, "lab"))), "bad-mac");
  });

  test("a message from another cluster is foreign-cluster even when it uses the same key", () => {
    assert.equal(reasonOf(encode(SAMPLE, createHeartbeatAuth(KEY, "prod"))), "foreign-cluster");
    assert.equal(reasonOf(encode(SAMPLE, createHeartbeatAuth(OTHER_KEY, "prod"))), "foreign-cluster");
  });

  test("bad magic, version and type are reported as such", () => {
    const bytes = encode(SAMPLE);
    const patched = (offset: number, value: number) => {
      const copy = bytes.slice();
      copy[offset] = value;
      return copy;
    };
    assert.equal(reasonOf(patched(0, 0x55)), "bad-magic");
    assert.equal(reasonOf(patched(4, 2)), "bad-version");
    assert.equal(reasonOf(patched(5, 2)), "bad-type");
  });

  test("every truncation of a valid message is truncated", () => {
    const bytes = encode(SAMPLE);
    for (let length = 0; length < bytes.length; length++) {
      assert.equal(decodeHeartbeat(bytes, length, auth).ok, false);
      assert.deepEqual(decodeHeartbeat(bytes, length, auth), { ok: false, reason: "truncated" }, `length ${length}`);
      assert.equal(reasonOf(bytes.slice(0, length)), "truncated", `sliced to ${length}`);
    }
  });

  test("a length beyond the buffer is truncated, not a read past its end", () => {
    const bytes = encode(SAMPLE);
    assert.equal(decodeHeartbeat(bytes, bytes.length + 1, auth).ok, false);
  });

  test("trailing bytes after the tag are malformed", () => {
    const bytes = encode(SAMPLE);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    assert.equal(reasonOf(longer), "malformed");
  });

  test("every single-bit flip of a valid message is dropped, with the reason of the field it hit", () => {
    const bytes = encode(SAMPLE);
    for (let bit = 0; bit < bytes.length * 8; bit++) {
      const copy = bytes.slice();
      copy[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      const offset = bit >>> 3;
      const reason = reasonOf(copy);
      let expected: FrameDropReason | FrameDropReason[];
      if (offset < 4) expected = "bad-magic";
      else if (offset === 4) expected = "bad-version";
      else if (offset === 5) expected = "bad-type";
      else if (offset < 8) expected = ["truncated", "malformed"];
      else if (offset < 16) expected = "foreign-cluster";
      else expected = "bad-mac";
      if (Array.isArray(expected)) assert.ok(expected.includes(reason as FrameDropReason), `bit ${bit}: ${reason}`);
      else assert.equal(reason, expected, `bit ${bit}`);
    }
  });

  test("a body with a valid MAC but fields out of range is malformed", () => {
    assert.equal(reasonOf(forgeBody({})), "ok", "the forger itself makes valid frames");
    const cases: Array<[string, ForgedFields]> = [
      ["generation above 2^53-1", { generationHigh: 0x200000 }],
      ["seq 0", { seq: 0 }],
      ["link 8", { link: 8 }],
      ["role 3", { role: 3 }],
      ["priority 0", { priority: 0 }],
      ["an unknown flag", { flags: 0x10 }],
      ["an empty name", { nameBytes: new Uint8Array(0) }],
      ["a 65-byte name", { nameBytes: new Uint8Array(65).fill(0x61) }],
      ["a name length beyond the body", { nameLength: 6 }],
      ["a name length short of the body", { nameLength: 4 }],
      ["bytes after the name", { extra: 1 }],
      ["an overlong 2-byte UTF-8 slash", { nameBytes: Uint8Array.of(0xc0, 0xaf) }],
      ["an overlong 3-byte UTF-8 slash", { nameBytes: Uint8Array.of(0xe0, 0x80, 0xaf) }],
      ["an overlong 4-byte UTF-8 slash", { nameBytes: Uint8Array.of(0xf0, 0x80, 0x80, 0xaf) }],
      ["a UTF-8 surrogate", { nameBytes: Uint8Array.of(0xed, 0xa0, 0x80) }],
      ["a code point above U+10FFFF", { nameBytes: Uint8Array.of(0xf4, 0x90, 0x80, 0x80) }],
      ["a cut UTF-8 sequence", { nameBytes: Uint8Array.of(0x61, 0xe2, 0x82) }],
      ["a stray continuation byte", { nameBytes: Uint8Array.of(0x80) }],
    ];
    for (const [name, fields] of cases) assert.equal(reasonOf(forgeBody(fields)), "malformed", name);
  });

  test("a body too short for the fixed fields is malformed", () => {
    const out = new Uint8Array(FRAME_HEADER_BYTES + 10 + FRAME_TAG_BYTES);
    const length = sealFrame(auth, FrameType.Heartbeat, out, 10);
    assert.equal(reasonOf(out.slice(0, length)), "malformed");
  });

  test("random bytes never decode and never throw", () => {
    const random = seededRandom(0x7e57);
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(random, Math.floor(random() * 200));
      const result = decode(bytes);
      assert.equal(result.ok, false);
      assert.ok(FRAME_DROP_REASONS.includes(result.reason));
    }
  });

  test("random bodies behind a valid header never decode and never throw", () => {
    const random = seededRandom(0xbeef);
    const header = encode(SAMPLE).subarray(0, FRAME_HEADER_BYTES);
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(random, FRAME_HEADER_BYTES + Math.floor(random() * 200));
      bytes.set(header);
      const bodyLength = bytes.length - FRAME_HEADER_BYTES - FRAME_TAG_BYTES;
      if (bodyLength >= 0 && random() < 0.5) new DataView(bytes.buffer).setUint16(6, bodyLength);
      const result = decode(bytes);
      assert.equal(result.ok, false);
      assert.ok(["truncated", "malformed", "bad-mac"].includes(result.reason), result.reason);
    }
  });

  test("random bodies sealed with the right key decode or are malformed, never throw", () => {
    const random = seededRandom(0xcafe);
    let decoded = 0;
    for (let i = 0; i < 5_000; i++) {
      const bodyLength = 39 + Math.floor(random() * 70);
      const out = new Uint8Array(FRAME_HEADER_BYTES + bodyLength + FRAME_TAG_BYTES);
      out.set(randomBytes(random, bodyLength), FRAME_HEADER_BYTES);
      // Bias toward plausible values so the deeper checks are reached, not just the first.
      if (random() < 0.7) {
        out[FRAME_HEADER_BYTES + 38] = bodyLength - 39;
        for (const offset of [0, 8, 16, 24]) {
          out[FRAME_HEADER_BYTES + offset] = 0;
          out[FRAME_HEADER_BYTES + offset + 1] = 0;
          out[FRAME_HEADER_BYTES + offset + 2]! &= 0x1f;
        }
        out[FRAME_HEADER_BYTES + 32]! &= 7;
        out[FRAME_HEADER_BYTES + 33]! %= 3;
        out[FRAME_HEADER_BYTES + 35]! &= 0x0f;
        for (let k = FRAME_HEADER_BYTES + 39; k < FRAME_HEADER_BYTES + bodyLength; k++) out[k]! &= 0x7f;
      }
      const result = decode(out.slice(0, sealFrame(auth, FrameType.Heartbeat, out, bodyLength)));
      if (result.ok) decoded++;
      else assert.equal(result.reason, "malformed");
    }
    assert.ok(decoded > 100, `only ${decoded} random bodies decoded`);
  });
});

describe("shared frame helpers", () => {
  test("a frame of another type seals and opens with its body intact", () => {
    const body = utf8Encode("sync batch 17");
    const out = new Uint8Array(FRAME_HEADER_BYTES + body.length + FRAME_TAG_BYTES);
    out.set(body, FRAME_HEADER_BYTES);
    const length = sealFrame(auth, 2, out, body.length);
    assert.equal(peekFrameType(out, length), 2);
    const opened = openFrame(out, length, auth, 2);
    assert.ok(opened.ok);
    assert.deepEqual(out.subarray(opened.bodyOffset, opened.bodyOffset + opened.bodyLength), body);
    assert.deepEqual(openFrame(out, length, auth, FrameType.Heartbeat), { ok: false, reason: "bad-type" });
    assert.deepEqual(reasonOf(out.slice(0, length)), "bad-type");
  });

  test("peekFrameType refuses what does not start like a frame", () => {
    assert.equal(peekFrameType(encode(SAMPLE), 10), -1);
    assert.equal(peekFrameType(new Uint8Array(100), 100), -1);
    assert.equal(peekFrameType(encode(SAMPLE), MAX_HEARTBEAT_BYTES), -1, "a length beyond the buffer");
  });

  test("sealFrame refuses types and lengths the header cannot carry", () => {
    const out = new Uint8Array(128);
    assert.throws(() => sealFrame(auth, 0, out, 0), RangeError);
    assert.throws(() => sealFrame(auth, 256, out, 0), RangeError);
    assert.throws(() => sealFrame(auth, 2, out, 65536), RangeError);
    assert.throws(() => sealFrame(auth, 2, out, 81), RangeError);
  });
});
