/**
 * The frames of connection-state sync on the wire: the heartbeat's authenticated frame
 * (`sealFrame`, magic, cluster id, HMAC-SHA-256 tag) around a 12-byte sync envelope, then either a
 * batch body (`conn-sync-codec.ts`) or a status body. The envelope names the sender (its index in
 * the config's node list) and its process generation, the same generation its heartbeats carry,
 * so that `ReplayGuard` can reject a replayed frame and a restarted sender resets the windows.
 *
 *   envelope  0 u8 node index   1..3 zero   4 u64 generation
 *
 *   status    0 u64 seq (from 1)            24 u64 own position + 1 (last batch sent; 0: none)
 *             8 u64 acked seq + 1 (0: none) 32 u32 resync request id
 *            16 u64 acked sender generation 36 u8  flags (SyncStatusFlag)   37..39 zero
 *
 * The receiver of batches acknowledges the highest batch its table holds (cumulative), asks for
 * a full resync with a new request id, and says whether it is synced; the sender reports its
 * position, so a receiver notices a lost tail batch even when no further batch follows.
 */
import { FRAME_HEADER_BYTES, FRAME_TAG_BYTES, FrameType, openFrame, peekFrameType, readU53, sealFrame, writeU53, type FrameDropReason, type HeartbeatAuth } from "../ha/heartbeat-message.ts";
import { SYNC_MAX_BODY_BYTES } from "./conn-sync-codec.ts";

/** Bytes of the sync envelope after the frame header. */
export const SYNC_ENVELOPE_BYTES = 12;
/** Offset of a batch body in a sync frame: encode the body there, then `sealSyncFrame`. */
export const SYNC_BODY_OFFSET = FRAME_HEADER_BYTES + SYNC_ENVELOPE_BYTES;
/** Bytes of a status body. */
export const SYNC_STATUS_BYTES = 40;
/** Largest sync frame (a full batch). */
export const MAX_SYNC_FRAME_BYTES = SYNC_BODY_OFFSET + SYNC_MAX_BODY_BYTES + FRAME_TAG_BYTES;

/** Flags of a status body. */
export const SyncStatusFlag = {
  /** The sender's shadow table holds everything the peer had (a full walk and no gap since). */
  Synced: 0x01,
  /** The sender asks for a full resync (request id says which request). */
  NeedFull: 0x02,
  /** The sender streams its own changes (it is the active node). */
  Sending: 0x04,
} as const;

const KNOWN_STATUS_FLAGS = SyncStatusFlag.Synced | SyncStatusFlag.NeedFull | SyncStatusFlag.Sending;

/** A status body. Sequence numbers and generations are integers 0..2^53-1; -1 means "none". */
export interface SyncStatusMessage {
  /** Numbers the sender's status frames (from 1), for replay protection. */
  readonly seq: number;
  /** Highest batch seq of `ackedGeneration` the sender's table holds, or -1. */
  readonly ackedSeq: number;
  /** The generation of the node whose batches are acknowledged (0 with no ack). */
  readonly ackedGeneration: number;
  /** The sender's own last batch seq sent, or -1. */
  readonly position: number;
  /** Changes whenever the sender wants a new full resync (u32). */
  readonly requestId: number;
  readonly flags: number;
}

/** An authenticated sync frame, opened. */
export type OpenSyncFrameResult =
  | {
      readonly ok: true;
      readonly type: typeof FrameType.SyncBatch | typeof FrameType.SyncStatus;
      readonly nodeIndex: number;
      readonly generation: number;
      /** Where the batch or status body starts in the input, and its length. */
      readonly bodyOffset: number;
      readonly bodyLength: number;
    }
  | { readonly ok: false; readonly reason: FrameDropReason };

/**
 * Writes the envelope for (`nodeIndex`, `generation`) and seals a frame of `type` whose body of
 * `bodyLength` bytes is already at `SYNC_BODY_OFFSET` in `out`; returns the frame's length.
 * Throws RangeError on an out-of-range argument or a short `out` (a caller's bug).
 */
export function sealSyncFrame(auth: HeartbeatAuth, type: number, out: Uint8Array, nodeIndex: number, generation: number, bodyLength: number): number {
  if (type !== FrameType.SyncBatch && type !== FrameType.SyncStatus) throw new RangeError(`Invalid sync frame type "${type}"`);
  if (!Number.isInteger(nodeIndex) || nodeIndex < 0 || nodeIndex > 0xff) throw new RangeError(`Invalid node index "${nodeIndex}": expected 0 to 255`);
  if (!Number.isSafeInteger(generation) || generation < 0) throw new RangeError(`Invalid generation "${generation}"`);
  if (!Number.isInteger(bodyLength) || bodyLength < 0) throw new RangeError(`Invalid sync body length "${bodyLength}"`);
  const at = FRAME_HEADER_BYTES;
  out[at] = nodeIndex;
  out[at + 1] = 0;
  out[at + 2] = 0;
  out[at + 3] = 0;
  writeU53(out, at + 4, generation);
  return sealFrame(auth, type, out, SYNC_ENVELOPE_BYTES + bodyLength);
}

/**
 * Checks the sync frame in `bytes[0, length)` (batch or status) and reads its envelope. Never
 * throws: a frame of another type is "bad-type", a short envelope or a non-zero reserved byte
 * "malformed"; the body is not looked at (see `decodeSyncBatch`, `decodeSyncStatus`).
 */
export function openSyncFrame(bytes: Uint8Array, length: number, auth: HeartbeatAuth): OpenSyncFrameResult {
  const peeked = peekFrameType(bytes, length);
  const type = peeked === FrameType.SyncStatus ? FrameType.SyncStatus : FrameType.SyncBatch;
  const opened = openFrame(bytes, length, auth, type);
  if (!opened.ok) return opened;
  const at = opened.bodyOffset;
  if (opened.bodyLength < SYNC_ENVELOPE_BYTES || bytes[at + 1] !== 0 || bytes[at + 2] !== 0 || bytes[at + 3] !== 0) return { ok: false, reason: "malformed" };
  const generation = readU53(bytes, at + 4);
  if (generation < 0) return { ok: false, reason: "malformed" };
  return { ok: true, type, nodeIndex: bytes[at]!, generation, bodyOffset: at + SYNC_ENVELOPE_BYTES, bodyLength: opened.bodyLength - SYNC_ENVELOPE_BYTES };
}

/** Writes `message` as a status body at `SYNC_BODY_OFFSET` of `out`; returns its length. Throws RangeError on a bad field. */
export function encodeSyncStatus(message: SyncStatusMessage, out: Uint8Array): number {
  const { seq, ackedSeq, ackedGeneration, position, requestId, flags } = message;
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`Invalid sync status seq "${seq}"`);
  for (const [name, v] of [["ackedSeq", ackedSeq], ["position", position]] as const) {
    if (!Number.isSafeInteger(v + 1) || v < -1) throw new RangeError(`Invalid sync status ${name} "${v}"`);
  }
  if (!Number.isSafeInteger(ackedGeneration) || ackedGeneration < 0) throw new RangeError(`Invalid sync status ackedGeneration "${ackedGeneration}"`);
  if (!Number.isInteger(requestId) || requestId < 0 || requestId > 0xffffffff) throw new RangeError(`Invalid sync request id "${requestId}"`);
  if (!Number.isInteger(flags) || (flags & ~KNOWN_STATUS_FLAGS) !== 0) throw new RangeError(`Invalid sync status flags "${flags}"`);
  const at = SYNC_BODY_OFFSET;
  writeU53(out, at, seq);
  writeU53(out, at + 8, ackedSeq + 1);
  writeU53(out, at + 16, ackedGeneration);
  writeU53(out, at + 24, position + 1);
  out[at + 32] = requestId >>> 24;
  out[at + 33] = requestId >>> 16;
  out[at + 34] = requestId >>> 8;
  out[at + 35] = requestId;
  out[at + 36] = flags;
  out.fill(0, at + 37, at + SYNC_STATUS_BYTES);
  return SYNC_STATUS_BYTES;
}

/** Decodes a status body at `bytes[offset, offset + length)`; undefined when malformed. Never throws. */
export function decodeSyncStatus(bytes: Uint8Array, offset: number, length: number): SyncStatusMessage | undefined {
  if (length !== SYNC_STATUS_BYTES || offset < 0 || offset + length > bytes.length) return undefined;
  const seq = readU53(bytes, offset), acked = readU53(bytes, offset + 8), ackedGeneration = readU53(bytes, offset + 16), position = readU53(bytes, offset + 24);
  const flags = bytes[offset + 36]!;
  if (seq < 1 || acked < 0 || ackedGeneration < 0 || position < 0 || (flags & ~KNOWN_STATUS_FLAGS) !== 0) return undefined;
  if (bytes[offset + 37] !== 0 || bytes[offset + 38] !== 0 || bytes[offset + 39] !== 0) return undefined;
  const requestId = ((bytes[offset + 32]! << 24) | (bytes[offset + 33]! << 16) | (bytes[offset + 34]! << 8) | bytes[offset + 35]!) >>> 0;
  return { seq, ackedSeq: acked - 1, ackedGeneration, position: position - 1, requestId, flags };
}

/** The batch seq in a batch body at `bytes[offset, offset + length)`, or -1 when too short or out of range. */
export function peekSyncBatchSeq(bytes: Uint8Array, offset: number, length: number): number {
  if (length < 16 || offset < 0 || offset + 16 > bytes.length) return -1;
  return readU53(bytes, offset + 8);
}
