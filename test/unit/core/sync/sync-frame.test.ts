import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { utf8Encode } from "../../../../src/core/crypto/utf8.ts";
import {
  FRAME_DROP_REASONS, FRAME_HEADER_BYTES, FRAME_TAG_BYTES, FrameType, MAX_HEARTBEAT_BYTES, createHeartbeatAuth, encodeHeartbeat, sealFrame,
  type FrameDropReason, type HeartbeatAuth,
} from "../../../../src/core/ha/heartbeat-message.ts";
import {
  SYNC_FRAME_OVERHEAD_BYTES, SYNC_MAX_BODY_BYTES, SYNC_MAX_DATAGRAM_BYTES, SYNC_MAX_ENTRIES, SyncBatch, SyncBatchFlag, SyncDecodeResult, SyncEntry,
  SyncOp, decodeSyncBatch, encodeSyncEntry, encodeSyncHeader, setSyncRemove,
} from "../../../../src/core/sync/conn-sync-codec.ts";
import {
  MAX_SYNC_FRAME_BYTES, SYNC_BODY_OFFSET, SYNC_ENVELOPE_BYTES, SYNC_STATUS_BYTES, SyncStatusFlag, decodeSyncStatus, encodeSyncStatus, openSyncFrame,
  peekSyncBatchSeq, sealSyncFrame, type OpenSyncFrameResult, type SyncStatusMessage,
} from "../../../../src/core/sync/sync-frame.ts";
import { randomBytes, seededRandom } from "../crypto/random.ts";
import { ip } from "../packet/packet-builder.ts";

const KEY = utf8Encode("0123456789abcdef0123456789abcdef");
const OTHER_KEY = utf8Encode("fedcba9876543210fedcba9876543210");
const auth = createHeartbeatAuth(KEY, "lab");
const MAX_U53 = Number.MAX_SAFE_INTEGER;
const GENERATION = 1_750_000_000_123;

/** An upsert entry with distinctive fields. */
function upsert(n: number): SyncEntry {
  return Object.assign(new SyncEntry(), {
    op: SyncOp.Upsert, proto: 6, state: 3, flags: 0, clientAddr: ip("192.0.2.1") + n, clientPort: 40000 + n, vipAddr: ip("10.0.0.10"), vipPort: 80,
    serverAddr: ip("10.1.0.11"), serverPort: 80, localAddr: 0, localPort: 0, serviceId: 0, serverIndex: 0, remainingMs: 60_000 + n, ageMs: n,
  });
}

/** A sealed batch frame of `count` entries (the second one a remove) with batch `seq`. */
function batchFrame(count: number, seq = 41, options: { auth?: HeartbeatAuth; nodeIndex?: number; generation?: number; flags?: number } = {}): Uint8Array {
  const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
  const body = out.subarray(SYNC_BODY_OFFSET, SYNC_BODY_OFFSET + SYNC_MAX_BODY_BYTES);
  for (let i = 0; i < count; i++) {
    const e = upsert(i);
    if (i === 1) setSyncRemove(e, 17, ip("198.51.100.9"), 5353, ip("10.0.0.10"), 53);
    encodeSyncEntry(body, i, e);
  }
  const bodyLength = encodeSyncHeader(body, { seq, generation: 0xdeadbeef, flags: options.flags ?? SyncBatchFlag.Full, count });
  const length = sealSyncFrame(options.auth ?? auth, FrameType.SyncBatch, out, options.nodeIndex ?? 1, options.generation ?? GENERATION, bodyLength);
  return out.slice(0, length);
}

const STATUS: SyncStatusMessage = {
  seq: 9, ackedSeq: 1234, ackedGeneration: 1_700_000_000_000, position: 77, requestId: 0xfedcba98, flags: SyncStatusFlag.Synced | SyncStatusFlag.Sending,
};

/** A sealed status frame. */
function statusFrame(message: SyncStatusMessage = STATUS, withAuth: HeartbeatAuth = auth, nodeIndex = 0, generation = GENERATION): Uint8Array {
  const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
  const bodyLength = encodeSyncStatus(message, out);
  return out.slice(0, sealSyncFrame(withAuth, FrameType.SyncStatus, out, nodeIndex, generation, bodyLength));
}

function reasonOf(bytes: Uint8Array, withAuth: HeartbeatAuth = auth): FrameDropReason | "ok" {
  const opened = openSyncFrame(bytes, bytes.length, withAuth);
  return opened.ok ? "ok" : opened.reason;
}

function opened(bytes: Uint8Array): Extract<OpenSyncFrameResult, { ok: true }> {
  const result = openSyncFrame(bytes, bytes.length, auth);
  assert.ok(result.ok, `expected the frame to open, got ${result.ok ? "" : result.reason}`);
  return result;
}

/** Writes `body` (raw envelope and body bytes, unchecked) behind a frame header and seals it with a valid MAC. */
function forge(type: number, envelopeAndBody: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + envelopeAndBody.length + FRAME_TAG_BYTES);
  out.set(envelopeAndBody, FRAME_HEADER_BYTES);
  return out.slice(0, sealFrame(auth, type, out, envelopeAndBody.length));
}

/** The envelope and status body of `statusFrame()`, to be altered and forged again. */
function statusPayload(): Uint8Array {
  const frame = statusFrame();
  return frame.slice(FRAME_HEADER_BYTES, frame.length - FRAME_TAG_BYTES);
}

describe("sync frame round trips", () => {
  test("a batch frame opens with its envelope, and its body decodes to the entries sent", () => {
    const frame = batchFrame(5, 41, { nodeIndex: 1, generation: GENERATION, flags: SyncBatchFlag.Full | SyncBatchFlag.FullStart });
    const o = opened(frame);
    assert.deepEqual(o, { ok: true, type: FrameType.SyncBatch, nodeIndex: 1, generation: GENERATION, bodyOffset: SYNC_BODY_OFFSET, bodyLength: 16 + 5 * 40 });
    assert.equal(peekSyncBatchSeq(frame, o.bodyOffset, o.bodyLength), 41);
    const batch = new SyncBatch();
    assert.equal(decodeSyncBatch(frame.subarray(o.bodyOffset, o.bodyOffset + o.bodyLength), o.bodyLength, batch), SyncDecodeResult.Ok);
    assert.deepEqual([batch.seq, batch.generation, batch.flags, batch.count], [41, 0xdeadbeef, SyncBatchFlag.Full | SyncBatchFlag.FullStart, 5]);
    assert.deepEqual([batch.entries[0]!.clientPort, batch.entries[1]!.op, batch.entries[4]!.remainingMs], [40000, SyncOp.Remove, 60_004]);
  });

  test("an empty batch, node index 255 and the largest generation and batch seq round-trip", () => {
    const frame = batchFrame(0, MAX_U53, { nodeIndex: 255, generation: MAX_U53 });
    const o = opened(frame);
    assert.deepEqual([o.nodeIndex, o.generation, o.bodyLength], [255, MAX_U53, 16]);
    assert.equal(peekSyncBatchSeq(frame, o.bodyOffset, o.bodyLength), MAX_U53);
    assert.equal(opened(batchFrame(0, 0, { nodeIndex: 0, generation: 0 })).generation, 0);
  });

  test("a status frame round-trips every field", () => {
    const frame = statusFrame(STATUS, auth, 0, GENERATION);
    assert.equal(frame.length, FRAME_HEADER_BYTES + SYNC_ENVELOPE_BYTES + SYNC_STATUS_BYTES + FRAME_TAG_BYTES);
    const o = opened(frame);
    assert.deepEqual([o.type, o.nodeIndex, o.generation, o.bodyLength], [FrameType.SyncStatus, 0, GENERATION, SYNC_STATUS_BYTES]);
    assert.deepEqual(decodeSyncStatus(frame, o.bodyOffset, o.bodyLength), STATUS);
  });

  test("a status with nothing acked and no position carries -1 for both, and every flag combination round-trips", () => {
    for (let flags = 0; flags <= 7; flags++) {
      const message: SyncStatusMessage = { seq: 1, ackedSeq: -1, ackedGeneration: 0, position: -1, requestId: 0, flags };
      const frame = statusFrame(message);
      const o = opened(frame);
      assert.deepEqual(decodeSyncStatus(frame, o.bodyOffset, o.bodyLength), message);
    }
    // On the wire "none" is 0 (the fields carry value + 1).
    const frame = statusFrame({ seq: 1, ackedSeq: -1, ackedGeneration: 0, position: -1, requestId: 0, flags: 0 });
    assert.deepEqual([...frame.subarray(SYNC_BODY_OFFSET + 8, SYNC_BODY_OFFSET + 32)], new Array(24).fill(0));
  });

  test("status fields at their largest round-trip", () => {
    const message: SyncStatusMessage = { seq: MAX_U53, ackedSeq: MAX_U53 - 1, ackedGeneration: MAX_U53, position: MAX_U53 - 1, requestId: 0xffffffff, flags: 7 };
    const frame = statusFrame(message);
    const o = opened(frame);
    assert.deepEqual(decodeSyncStatus(frame, o.bodyOffset, o.bodyLength), message);
  });

  test("a full batch frame is MAX_SYNC_FRAME_BYTES and fits one SYNC_MAX_DATAGRAM_BYTES datagram", () => {
    const frame = batchFrame(SYNC_MAX_ENTRIES);
    assert.equal(frame.length, MAX_SYNC_FRAME_BYTES);
    assert.ok(frame.length <= SYNC_MAX_DATAGRAM_BYTES, `${frame.length} bytes`);
    assert.equal(FRAME_HEADER_BYTES + SYNC_ENVELOPE_BYTES + FRAME_TAG_BYTES, SYNC_FRAME_OVERHEAD_BYTES);
    assert.equal(opened(frame).bodyLength, SYNC_MAX_BODY_BYTES);
  });
});

describe("sync frame drops", () => {
  test("every proper prefix of a batch or status frame is truncated", () => {
    for (const frame of [batchFrame(3), statusFrame()]) {
      for (let n = 0; n < frame.length; n++) {
        assert.deepEqual(openSyncFrame(frame.subarray(0, n), n, auth), { ok: false, reason: "truncated" }, `prefix of ${n} bytes`);
        assert.deepEqual(openSyncFrame(frame, n, auth), { ok: false, reason: "truncated" }, `length ${n} of the whole buffer`);
      }
    }
  });

  test("a length beyond the buffer is truncated, not a read past its end", () => {
    const frame = batchFrame(2);
    assert.equal(openSyncFrame(frame, frame.length + 1, auth).ok, false);
    assert.deepEqual(openSyncFrame(frame, frame.length + 1, auth), { ok: false, reason: "truncated" });
  });

  test("bytes after the tag are malformed", () => {
    const frame = batchFrame(2);
    const longer = new Uint8Array(frame.length + 1);
    longer.set(frame);
    assert.equal(reasonOf(longer), "malformed");
  });

  test("a frame that does not start with the magic is bad-magic, and another version bad-version", () => {
    for (const frame of [batchFrame(1), statusFrame()]) {
      const magic = frame.slice();
      magic[0] = 0x55;
      assert.equal(reasonOf(magic), "bad-magic");
      const version = frame.slice();
      version[4] = 2;
      assert.equal(reasonOf(version), "bad-version");
    }
  });

  test("a heartbeat frame offered as a sync frame is bad-type", () => {
    const out = new Uint8Array(MAX_HEARTBEAT_BYTES);
    const length = encodeHeartbeat({
      cluster: "lab", node: "a", generation: GENERATION, link: 0, seq: 1, wallMs: 0, role: "active", priority: 100, flags: 0, vips: 0, syncPosition: 0,
    }, auth, out);
    assert.deepEqual(openSyncFrame(out, length, auth), { ok: false, reason: "bad-type" });
    // So is an authentic frame of a type no codec knows yet.
    assert.equal(reasonOf(forge(9, statusPayload())), "bad-type");
  });

  test("a frame from another cluster is foreign-cluster even under the same key", () => {
    const other = createHeartbeatAuth(KEY, "other-lab");
    assert.equal(reasonOf(batchFrame(2, 1, { auth: other })), "foreign-cluster");
    assert.equal(reasonOf(statusFrame(STATUS, other)), "foreign-cluster");
  });

  test("a frame under another key is bad-mac", () => {
    const other = createHeartbeatAuth(OTHER_KEY, "lab");
    assert.equal(reasonOf(batchFrame(2, 1, { auth: other })), "bad-mac");
    assert.equal(reasonOf(statusFrame(STATUS, other)), "bad-mac");
  });

  test("every single-bit flip of a batch or status frame is dropped, and bad-mac anywhere past the header", () => {
    for (const frame of [batchFrame(2), statusFrame()]) {
      for (let bit = 0; bit < frame.length * 8; bit++) {
        const copy = frame.slice();
        copy[bit >>> 3]! ^= 0x80 >>> (bit & 7);
        const offset = bit >>> 3;
        const reason = reasonOf(copy);
        let expected: readonly string[];
        if (offset < 4) expected = ["bad-magic"];
        else if (offset === 4) expected = ["bad-version"];
        // Flipping batch (2) into status (3) or back opens the frame as the other type, whose MAC then fails.
        else if (offset === 5) expected = ["bad-type", "bad-mac"];
        else if (offset < 8) expected = ["truncated", "malformed"];
        else if (offset < 16) expected = ["foreign-cluster"];
        else expected = ["bad-mac"];
        assert.ok(expected.includes(reason), `byte ${offset} bit ${bit & 7}: ${reason}, expected ${expected.join(" or ")}`);
      }
    }
  });

  test("an authentic frame whose envelope has a non-zero reserved byte is malformed", () => {
    for (const type of [FrameType.SyncBatch, FrameType.SyncStatus]) {
      assert.equal(reasonOf(forge(type, statusPayload())), "ok", "the forger makes valid frames");
      for (const at of [1, 2, 3]) {
        const payload = statusPayload();
        payload[at] = 0x01;
        assert.equal(reasonOf(forge(type, payload)), "malformed", `reserved byte ${at}`);
      }
    }
  });

  test("an authentic frame too short for the envelope, or with a generation beyond 2^53-1, is malformed", () => {
    for (let n = 0; n < SYNC_ENVELOPE_BYTES; n++) assert.equal(reasonOf(forge(FrameType.SyncBatch, new Uint8Array(n))), "malformed", `${n} bytes`);
    assert.equal(reasonOf(forge(FrameType.SyncBatch, new Uint8Array(SYNC_ENVELOPE_BYTES))), "ok", "an envelope with an empty body opens");
    const payload = statusPayload();
    payload.set([0x00, 0x20, 0, 0, 0, 0, 0, 0], 4);
    assert.equal(reasonOf(forge(FrameType.SyncStatus, payload)), "malformed");
  });
});

describe("sync status decoding refusals", () => {
  const body = () => statusFrame().slice(SYNC_BODY_OFFSET, SYNC_BODY_OFFSET + SYNC_STATUS_BYTES);

  test("a body of another length, or a range beyond the bytes, is refused", () => {
    const padded = new Uint8Array(SYNC_STATUS_BYTES + 8);
    padded.set(body());
    assert.deepEqual(decodeSyncStatus(padded, 0, SYNC_STATUS_BYTES), STATUS, "the unaltered body decodes");
    assert.equal(decodeSyncStatus(padded, 0, SYNC_STATUS_BYTES - 1), undefined);
    assert.equal(decodeSyncStatus(padded, 0, SYNC_STATUS_BYTES + 1), undefined);
    assert.equal(decodeSyncStatus(padded, 0, 0), undefined);
    assert.equal(decodeSyncStatus(body(), 1, SYNC_STATUS_BYTES), undefined, "offset + length past the end");
    assert.equal(decodeSyncStatus(body(), -1, SYNC_STATUS_BYTES), undefined);
  });

  test("unknown flag bits are refused", () => {
    for (const flag of [0x08, 0x10, 0x80]) {
      const b = body();
      b[36]! |= flag;
      assert.equal(decodeSyncStatus(b, 0, SYNC_STATUS_BYTES), undefined, `flag ${flag}`);
    }
  });

  test("non-zero bytes in the reserved tail are refused", () => {
    for (const at of [37, 38, 39]) {
      const b = body();
      b[at] = 1;
      assert.equal(decodeSyncStatus(b, 0, SYNC_STATUS_BYTES), undefined, `byte ${at}`);
    }
  });

  test("seq 0 and any u64 beyond 2^53-1 are refused", () => {
    const zero = body();
    zero.fill(0, 0, 8);
    assert.equal(decodeSyncStatus(zero, 0, SYNC_STATUS_BYTES), undefined, "seq 0");
    for (const at of [0, 8, 16, 24]) {
      const b = body();
      b[at + 1] = 0x20;
      assert.equal(decodeSyncStatus(b, 0, SYNC_STATUS_BYTES), undefined, `u64 at ${at}`);
    }
  });
});

describe("sync frame encoding refuses bad arguments", () => {
  test("sealSyncFrame throws RangeError for another type, a node index outside 0..255 or a bad generation", () => {
    const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
    const seal = (type: number, nodeIndex: number, generation: number, bodyLength = 16) => () => sealSyncFrame(auth, type, out, nodeIndex, generation, bodyLength);
    assert.doesNotThrow(seal(FrameType.SyncBatch, 0, 0));
    for (const type of [FrameType.Heartbeat, 0, 4, 256]) assert.throws(seal(type, 0, 0), RangeError, `type ${type}`);
    for (const nodeIndex of [-1, 256, 1.5, Number.NaN]) assert.throws(seal(FrameType.SyncBatch, nodeIndex, 0), RangeError, `node index ${nodeIndex}`);
    for (const generation of [-1, MAX_U53 + 1, 0.5, Number.NaN, Infinity]) assert.throws(seal(FrameType.SyncStatus, 0, generation), RangeError, `generation ${generation}`);
  });

  test("sealSyncFrame throws RangeError when the buffer is too short for the frame", () => {
    assert.throws(() => sealSyncFrame(auth, FrameType.SyncBatch, new Uint8Array(SYNC_BODY_OFFSET + 16 + FRAME_TAG_BYTES - 1), 0, 0, 16), RangeError);
    assert.throws(() => sealSyncFrame(auth, FrameType.SyncBatch, new Uint8Array(MAX_SYNC_FRAME_BYTES), 0, 0, MAX_SYNC_FRAME_BYTES), RangeError);
  });

  test("encodeSyncStatus throws RangeError naming each bad field", () => {
    const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
    const cases: Array<[string, Partial<SyncStatusMessage>]> = [
      ["seq", { seq: 0 }], ["seq", { seq: -1 }], ["seq", { seq: 1.5 }], ["seq", { seq: MAX_U53 + 1 }],
      ["ackedSeq", { ackedSeq: -2 }], ["ackedSeq", { ackedSeq: MAX_U53 }], ["ackedSeq", { ackedSeq: 0.5 }],
      ["position", { position: -2 }], ["position", { position: MAX_U53 }], ["position", { position: Number.NaN }],
      ["ackedGeneration", { ackedGeneration: -1 }], ["ackedGeneration", { ackedGeneration: MAX_U53 + 1 }],
      ["request id", { requestId: -1 }], ["request id", { requestId: 2 ** 32 }], ["request id", { requestId: 1.5 }],
      ["flags", { flags: 0x08 }], ["flags", { flags: -1 }],
    ];
    assert.equal(encodeSyncStatus(STATUS, out), SYNC_STATUS_BYTES);
    for (const [name, change] of cases) {
      assert.throws(() => encodeSyncStatus({ ...STATUS, ...change }, out), (error: unknown) => error instanceof RangeError && error.message.includes(name), JSON.stringify(change));
    }
  });
});

// Regression: two caller bugs used to pass the argument checks.
// sealSyncFrame checks no bodyLength of its own: -1 to -12 leave sealFrame a body of 0 to 11
// bytes, so it seals a frame whose envelope is cut short (which every receiver drops as
// malformed) instead of throwing. encodeSyncStatus tests flags only with `&`, so 1.5, 0.5 and NaN
// pass and are written as 1, 0 and 0.
describe("sync frame encoding refuses malformed numbers", () => {
  test("sealSyncFrame throws RangeError for a negative body length", () => {
    const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
    for (const bodyLength of [-1, -12, 1.5]) {
      assert.throws(() => sealSyncFrame(auth, FrameType.SyncBatch, out, 0, 0, bodyLength), RangeError, `body length ${bodyLength}`);
    }
  });

  test("encodeSyncStatus throws RangeError for flags that are not an integer", () => {
    const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
    for (const flags of [1.5, 0.5, Number.NaN]) {
      assert.throws(() => encodeSyncStatus({ ...STATUS, flags }, out), RangeError, `flags ${flags}`);
    }
  });
});

describe("sync frame fuzz", () => {
  test("random bytes never open and never throw", () => {
    const random = seededRandom(0x5f5f);
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(random, Math.floor(random() * 200));
      const result = openSyncFrame(bytes, bytes.length, auth);
      assert.equal(result.ok, false);
      assert.ok(FRAME_DROP_REASONS.includes(result.reason));
      const status = decodeSyncStatus(bytes, 0, bytes.length);
      if (bytes.length !== SYNC_STATUS_BYTES) assert.equal(status, undefined);
      peekSyncBatchSeq(bytes, Math.floor(random() * 20) - 2, bytes.length);
    }
  });

  test("random bytes behind a valid sync header never open and never throw", () => {
    const random = seededRandom(0x5eed);
    const headers = [batchFrame(1).subarray(0, FRAME_HEADER_BYTES), statusFrame().subarray(0, FRAME_HEADER_BYTES)];
    for (let i = 0; i < 20_000; i++) {
      const bytes = randomBytes(random, FRAME_HEADER_BYTES + Math.floor(random() * 200));
      bytes.set(headers[i & 1]!);
      const bodyLength = bytes.length - FRAME_HEADER_BYTES - FRAME_TAG_BYTES;
      if (bodyLength >= 0 && random() < 0.5) new DataView(bytes.buffer).setUint16(6, bodyLength);
      const result = openSyncFrame(bytes, bytes.length, auth);
      assert.equal(result.ok, false);
      assert.ok(["truncated", "malformed", "bad-mac"].includes(result.reason), result.reason);
    }
  });

  test("random status bodies sealed with the right key decode or are refused, never throw", () => {
    const random = seededRandom(0xcafe);
    let decoded = 0;
    for (let i = 0; i < 5_000; i++) {
      const payload = randomBytes(random, SYNC_ENVELOPE_BYTES + (random() < 0.8 ? SYNC_STATUS_BYTES : Math.floor(random() * 60)));
      // Bias toward plausible values so the deeper checks are reached, not just the first.
      if (random() < 0.7) {
        payload.fill(0, 1, 6);
        for (const at of [0, 8, 16, 24]) payload.fill(0, SYNC_ENVELOPE_BYTES + at, SYNC_ENVELOPE_BYTES + at + 3);
        if (payload.length >= SYNC_ENVELOPE_BYTES + SYNC_STATUS_BYTES) {
          payload[SYNC_ENVELOPE_BYTES + 7] = 1 + (payload[SYNC_ENVELOPE_BYTES + 7]! % 255);
          payload[SYNC_ENVELOPE_BYTES + 36]! &= 0x07 | (random() < 0.1 ? 0x08 : 0);
          if (random() < 0.9) payload.fill(0, SYNC_ENVELOPE_BYTES + 37, SYNC_ENVELOPE_BYTES + 40);
        }
      }
      const frame = forge(FrameType.SyncStatus, payload);
      const o = openSyncFrame(frame, frame.length, auth);
      if (!o.ok) {
        assert.equal(o.reason, "malformed");
        continue;
      }
      const status = decodeSyncStatus(frame, o.bodyOffset, o.bodyLength);
      if (status === undefined) continue;
      decoded++;
      // Whatever decodes is something encodeSyncStatus accepts and writes back identically.
      const out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
      encodeSyncStatus(status, out);
      assert.deepEqual(out.subarray(SYNC_BODY_OFFSET, SYNC_BODY_OFFSET + SYNC_STATUS_BYTES), frame.subarray(o.bodyOffset, o.bodyOffset + SYNC_STATUS_BYTES));
    }
    assert.ok(decoded > 500, `only ${decoded} random bodies decoded`);
  });
});
