/**
 * The heartbeat wire format: an authenticated frame (magic, version, type, cluster id, body,
 * HMAC-SHA-256 tag) and the heartbeat body carried in it. Wire input never makes these functions
 * throw: every frame is either a `HeartbeatMessage` or a `FrameDropReason` for the caller to count.
 *
 * Frame (all integers big-endian; offsets in bytes):
 *
 * ```
 *  0  4  magic "TNHB" (54 4E 48 42)
 *  4  1  version, 1
 *  5  1  type: 1 heartbeat; other values are left for later codecs (sync batches) sharing the frame
 *  6  2  body length B (u16)
 *  8  8  cluster id: the first 8 bytes of SHA-256(UTF-8 cluster name)
 * 16  B  body
 * 16+B 32 HMAC-SHA-256(key, bytes 0 .. 16+B), the full tag (RFC 2104; no truncation)
 * ```
 *
 * Heartbeat body (type 1):
 *
 * ```
 *  0  8  generation   (u64, at most 2^53-1)   sender's process start; larger is newer
 *  8  8  seq          (u64, 1 .. 2^53-1)       per (generation, link) sequence
 * 16  8  wallMs       (u64, at most 2^53-1)   sender's wall clock
 * 24  8  syncPosition (u64, at most 2^53-1)   last sync batch sent (active) or applied (standby)
 * 32  1  link         (0 .. 7)                 index of the link the message was sent on
 * 33  1  role         (0 starting, 1 standby, 2 active)
 * 34  1  priority     (1 .. 255)
 * 35  1  flags        (HeartbeatFlag bits; the others must be 0)
 * 36  2  vips         (u16)                    VIPs the sender holds
 * 38  1  node name length N (1 .. 64)
 * 39  N  node name, UTF-8
 * ```
 *
 * A heartbeat is 16 + 39 + N + 32 bytes: 88 to 151, so it fits in any link's MTU and the 512-byte
 * payload of a serial frame. Checks run in this order, and the first failure is the reason:
 * truncated (fewer bytes than the header, tag and declared body), bad-magic, bad-version,
 * bad-type, foreign-cluster, malformed (trailing bytes after the tag), bad-mac, then malformed
 * again for body fields out of range. The cluster id is compared before the MAC so that a pair
 * configured with another cluster's name is reported as foreign-cluster even when it shares the
 * key; the id is inside the MAC'd bytes, so it cannot be rewritten to pass for ours.
 */

import { HMAC_SHA256_BYTES, HmacSha256 } from "../crypto/hmac-sha256.ts";
import { sha256 } from "../crypto/sha256.ts";
import { utf8Encode, utf8Length } from "../crypto/utf8.ts";

/** Roles a node announces, in wire order (the role byte is the index). */
export const HEARTBEAT_ROLES = ["starting", "standby", "active"] as const;

/** A node's role as announced in its heartbeats. */
export type HeartbeatRole = (typeof HEARTBEAT_ROLES)[number];

/** Bits of `HeartbeatMessage.flags`; bits not listed here must be 0 on the wire. */
export const HeartbeatFlag = {
  /** The sender reaches at least one witness (ping node). */
  WitnessOk: 0x01,
  /** The active sender wants to hand the VIPs over to its peer. */
  Handover: 0x02,
  /** The standby sender asks to take the VIPs over. */
  WantActive: 0x04,
  /** The standby sender's shadow connection table has caught up with the peer's sync stream. */
  Synced: 0x08,
} as const;

const KNOWN_FLAGS = HeartbeatFlag.WitnessOk | HeartbeatFlag.Handover | HeartbeatFlag.WantActive | HeartbeatFlag.Synced;

/** One heartbeat, as sent and as decoded. All integers are safe integers within the ranges of the wire layout. */
export interface HeartbeatMessage {
  /** Cluster name (at most 64 bytes UTF-8); on the wire only its 8-byte id travels, so decoding fills in the receiver's own name. */
  readonly cluster: string;
  /** Sender's node name, 1 to 64 bytes UTF-8. */
  readonly node: string;
  /** Sender's process start, 0 to 2^53-1; larger is newer. */
  readonly generation: number;
  /** Index of the link the message was sent on, 0 to 7. */
  readonly link: number;
  /** Sequence number within (generation, link), 1 to 2^53-1. */
  readonly seq: number;
  /** Sender's wall clock in ms since the epoch, 0 to 2^53-1. */
  readonly wallMs: number;
  /** Sender's role. */
  readonly role: HeartbeatRole;
  /** Sender's priority, 1 to 255. */
  readonly priority: number;
  /** `HeartbeatFlag` bits. */
  readonly flags: number;
  /** Number of VIPs the sender currently holds, 0 to 65535. */
  readonly vips: number;
  /** Last connection-sync batch the sender sent (active) or applied (standby), 0 to 2^53-1. */
  readonly syncPosition: number;
}

/** Frame types (the type byte). Append only; a value is never reused. */
export const FrameType = {
  /** A heartbeat body, see `encodeHeartbeat`. */
  Heartbeat: 1,
  /** A batch of connection-table changes, see `src/core/sync/sync-frame.ts`. */
  SyncBatch: 2,
  /** A sync status (acknowledgement, resync request), see `src/core/sync/sync-frame.ts`. */
  SyncStatus: 3,
} as const;

/** Why a frame was dropped; one counter per reason. Append only. */
export const FRAME_DROP_REASONS = [
  "truncated",
  "bad-magic",
  "bad-version",
  "bad-type",
  "foreign-cluster",
  "bad-mac",
  "malformed",
] as const;

/** One of `FRAME_DROP_REASONS`. */
export type FrameDropReason = (typeof FRAME_DROP_REASONS)[number];

/** Bytes before a frame's body (magic, version, type, body length, cluster id). */
export const FRAME_HEADER_BYTES = 16;

/** Bytes of the tag that ends every frame (a full HMAC-SHA-256). */
export const FRAME_TAG_BYTES = HMAC_SHA256_BYTES;

/** Largest body a frame can carry (the body length is a u16). */
export const MAX_FRAME_BODY_BYTES = 0xffff;

/** Longest cluster or node name in bytes of UTF-8. */
export const MAX_HEARTBEAT_NAME_BYTES = 64;

/** Minimum key length in bytes that `createHeartbeatAuth` accepts. */
export const MIN_HEARTBEAT_KEY_BYTES = 16;

const HEARTBEAT_FIXED_BODY_BYTES = 39;

/** Largest encoded heartbeat in bytes (with a 64-byte node name); a buffer this big always suffices. */
export const MAX_HEARTBEAT_BYTES = FRAME_HEADER_BYTES + HEARTBEAT_FIXED_BODY_BYTES + MAX_HEARTBEAT_NAME_BYTES + FRAME_TAG_BYTES;

const MAGIC = [0x54, 0x4e, 0x48, 0x42]; // "TNHB"
const VERSION = 1;
const CLUSTER_ID_OFFSET = 8;
const CLUSTER_ID_BYTES = 8;
const TWO_POW_32 = 0x1_0000_0000;
// 2^53-1 = 0x1F_FFFF_FFFF_FFFF: a u64 whose high word exceeds this is not a safe integer.
const MAX_SAFE_HIGH_WORD = 0x1f_ffff;

declare const authBrand: unique symbol;

/**
 * Key and cluster identity for sealing and opening frames; only `createHeartbeatAuth` makes one.
 * It holds scratch buffers, so it serves one thread (calls never interleave in JavaScript).
 */
export interface HeartbeatAuth {
  /** The cluster name given at creation. */
  readonly cluster: string;
  readonly [authBrand]: true;
}

/** What a `HeartbeatAuth` really is; the interface keeps these fields out of callers' reach. */
interface AuthState {
  readonly cluster: string;
  /** The 8-byte cluster id carried in every frame. */
  readonly clusterId: Uint8Array;
  readonly hmac: HmacSha256;
  /** Scratch for the tag computed when opening a frame. */
  readonly tag: Uint8Array;
  // Caches of the last node name each way: a node sends and receives the same few names, so
  // steady-state encoding and decoding allocate no name bytes or strings.
  encodedName: string;
  encodedNameBytes: Uint8Array;
  decodedName: string;
  readonly decodedNameBytes: Uint8Array;
  decodedNameLength: number;
}

/**
 * Returns the authenticator for `cluster` keyed with the raw bytes of the auth key file. Throws an
 * Error when the key has fewer than 16 bytes or the cluster name is empty or over 64 bytes of UTF-8.
 */
export function createHeartbeatAuth(key: Uint8Array, cluster: string): HeartbeatAuth {
  if (key.length < MIN_HEARTBEAT_KEY_BYTES) {
    throw new Error(`Heartbeat auth key is too short: "${key.length}" bytes, at least "${MIN_HEARTBEAT_KEY_BYTES}" are required`);
  }
  const clusterBytes = utf8Length(cluster);
  if (clusterBytes === 0 || clusterBytes > MAX_HEARTBEAT_NAME_BYTES) {
    throw new Error(`Cluster name "${cluster}" cannot be used for heartbeats: it must have 1 to ${MAX_HEARTBEAT_NAME_BYTES} bytes of UTF-8, not "${clusterBytes}"`);
  }
  const state: AuthState = {
    cluster,
    clusterId: sha256(utf8Encode(cluster)).slice(0, CLUSTER_ID_BYTES),
    hmac: new HmacSha256(key),
    tag: new Uint8Array(FRAME_TAG_BYTES),
    encodedName: "",
    encodedNameBytes: new Uint8Array(0),
    decodedName: "",
    decodedNameBytes: new Uint8Array(MAX_HEARTBEAT_NAME_BYTES),
    decodedNameLength: -1,
  };
  return state as unknown as HeartbeatAuth;
}

/**
 * Seals a frame whose body the caller has already written at `out[FRAME_HEADER_BYTES ..]`: writes
 * the header and the tag around it and returns the frame's length. Allocates nothing beyond a
 * view. Throws a RangeError for a type outside 1..255, a body over 65535 bytes, or an `out` too small.
 */
export function sealFrame(auth: HeartbeatAuth, type: number, out: Uint8Array, bodyLength: number): number {
  const state = auth as unknown as AuthState;
  if (!Number.isInteger(type) || type < 1 || type > 0xff) throw new RangeError(`Cannot seal a frame of type "${type}": types are 1 to 255`);
  if (!Number.isInteger(bodyLength) || bodyLength < 0 || bodyLength > MAX_FRAME_BODY_BYTES) {
    throw new RangeError(`Cannot seal a frame with a body of "${bodyLength}" bytes: at most ${MAX_FRAME_BODY_BYTES} fit`);
  }
  const tagOffset = FRAME_HEADER_BYTES + bodyLength;
  const length = tagOffset + FRAME_TAG_BYTES;
  if (out.length < length) throw new RangeError(`Cannot seal a frame of "${length}" bytes: the buffer has ${out.length}`);
  out[0] = MAGIC[0]!;
  out[1] = MAGIC[1]!;
  out[2] = MAGIC[2]!;
  out[3] = MAGIC[3]!;
  out[4] = VERSION;
  out[5] = type;
  out[6] = bodyLength >>> 8;
  out[7] = bodyLength & 0xff;
  out.set(state.clusterId, CLUSTER_ID_OFFSET);
  // RFC 2104 over header and body; `subarray` is a view, the only allocation per frame.
  state.hmac.macInto(out.subarray(0, tagOffset), out, tagOffset);
  return length;
}

/** The result of `openFrame`: the body's place in the input, or why the frame was dropped. */
export type OpenFrameResult =
  | { readonly ok: true; readonly type: number; readonly bodyOffset: number; readonly bodyLength: number }
  | { readonly ok: false; readonly reason: FrameDropReason };

/** The result of `decodeHeartbeat`. */
export type DecodeHeartbeatResult =
  | { readonly ok: true; readonly message: HeartbeatMessage }
  | { readonly ok: false; readonly reason: FrameDropReason };

// Failures are shared frozen objects, so a flood of bad frames allocates nothing.
const FAILURES = new Map<FrameDropReason, { readonly ok: false; readonly reason: FrameDropReason }>(
  FRAME_DROP_REASONS.map((reason) => [reason, Object.freeze({ ok: false as const, reason })]),
);

function failure(reason: FrameDropReason): { readonly ok: false; readonly reason: FrameDropReason } {
  return FAILURES.get(reason)!;
}

/**
 * Returns the type byte of the first `length` bytes if they start like a frame (magic and
 * version), or -1. Authenticates nothing: it only picks the codec that will open the frame.
 */
export function peekFrameType(bytes: Uint8Array, length: number): number {
  if (length < FRAME_HEADER_BYTES || length > bytes.length) return -1;
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2] || bytes[3] !== MAGIC[3]) return -1;
  return bytes[4] === VERSION ? bytes[5]! : -1;
}

// openFrameCode returns a body length (>= 0) or one of these: -1 - the reason's index.
const DROP = Object.fromEntries(FRAME_DROP_REASONS.map((reason, i) => [reason, -1 - i])) as Record<FrameDropReason, number>;

/** Checks the frame of `type` in `bytes[0 .. length]`; returns its body length, or a `DROP` code. */
function openFrameCode(bytes: Uint8Array, length: number, state: AuthState, type: number): number {
  if (!(length >= FRAME_HEADER_BYTES + FRAME_TAG_BYTES && length <= bytes.length)) return DROP.truncated;
  if (bytes[0] !== MAGIC[0] || bytes[1] !== MAGIC[1] || bytes[2] !== MAGIC[2] || bytes[3] !== MAGIC[3]) return DROP["bad-magic"];
  if (bytes[4] !== VERSION) return DROP["bad-version"];
  if (bytes[5] !== type) return DROP["bad-type"];
  const clusterId = state.clusterId;
  for (let i = 0; i < CLUSTER_ID_BYTES; i++) {
    if (bytes[CLUSTER_ID_OFFSET + i] !== clusterId[i]) return DROP["foreign-cluster"];
  }
  const bodyLength = (bytes[6]! << 8) | bytes[7]!;
  const tagOffset = FRAME_HEADER_BYTES + bodyLength;
  if (tagOffset + FRAME_TAG_BYTES > length) return DROP.truncated;
  // A datagram is one frame: bytes after the tag are not covered by it and cannot be trusted.
  if (tagOffset + FRAME_TAG_BYTES < length) return DROP.malformed;
  const tag = state.tag;
  state.hmac.macInto(bytes.subarray(0, tagOffset), tag, 0);
  // Constant time over the whole tag: the loop never exits early, so timing reveals no prefix.
  let difference = 0;
  for (let i = 0; i < FRAME_TAG_BYTES; i++) difference |= tag[i]! ^ bytes[tagOffset + i]!;
  if (difference !== 0) return DROP["bad-mac"];
  return bodyLength;
}

/**
 * Opens the frame of `type` in the first `length` bytes of `bytes`: on success the body is at
 * `bytes[bodyOffset .. bodyOffset + bodyLength]` and authentic. Never throws on any input.
 */
export function openFrame(bytes: Uint8Array, length: number, auth: HeartbeatAuth, type: number): OpenFrameResult {
  const code = openFrameCode(bytes, length, auth as unknown as AuthState, type);
  if (code < 0) return failure(FRAME_DROP_REASONS[-1 - code]!);
  return { ok: true, type, bodyOffset: FRAME_HEADER_BYTES, bodyLength: code };
}

/**
 * Writes `message` as an authenticated heartbeat frame into `out` and returns its length (at most
 * MAX_HEARTBEAT_BYTES). `message.cluster` is ignored: the frame carries `auth`'s cluster. Throws a
 * RangeError when a field is out of range or `out` is too small; allocates nothing in the steady state.
 */
export function encodeHeartbeat(message: HeartbeatMessage, auth: HeartbeatAuth, out: Uint8Array): number {
  checkMessage(message);
  const name = encodedNameOf(auth as unknown as AuthState, message.node);
  const bodyLength = HEARTBEAT_FIXED_BODY_BYTES + name.length;
  const length = FRAME_HEADER_BYTES + bodyLength + FRAME_TAG_BYTES;
  if (out.length < length) throw new RangeError(`Cannot encode a heartbeat of "${length}" bytes: the buffer has ${out.length}`);
  const at = FRAME_HEADER_BYTES;
  writeU53(out, at, message.generation);
  writeU53(out, at + 8, message.seq);
  writeU53(out, at + 16, message.wallMs);
  writeU53(out, at + 24, message.syncPosition);
  out[at + 32] = message.link;
  out[at + 33] = HEARTBEAT_ROLES.indexOf(message.role);
  out[at + 34] = message.priority;
  out[at + 35] = message.flags;
  out[at + 36] = message.vips >>> 8;
  out[at + 37] = message.vips & 0xff;
  out[at + 38] = name.length;
  out.set(name, at + HEARTBEAT_FIXED_BODY_BYTES);
  return sealFrame(auth, FrameType.Heartbeat, out, bodyLength);
}

/**
 * Decodes and authenticates the heartbeat in the first `length` bytes of `bytes`. Returns the
 * message, or the reason it must be dropped; never throws, whatever the bytes. The result's
 * `cluster` is `auth.cluster`. Replays pass: check `ReplayGuard` next; and drop messages naming
 * the receiver itself, which can only be its own heartbeats reflected back.
 */
export function decodeHeartbeat(bytes: Uint8Array, length: number, auth: HeartbeatAuth): DecodeHeartbeatResult {
  const state = auth as unknown as AuthState;
  const code = openFrameCode(bytes, length, state, FrameType.Heartbeat);
  if (code < 0) return failure(FRAME_DROP_REASONS[-1 - code]!);
  const bodyLength = code;
  const at = FRAME_HEADER_BYTES;
  // The MAC proves who sent the body, not that the sender's encoder was correct: validate every field.
  if (bodyLength < HEARTBEAT_FIXED_BODY_BYTES) return failure("malformed");
  const nameLength = bytes[at + 38]!;
  if (nameLength === 0 || nameLength > MAX_HEARTBEAT_NAME_BYTES || bodyLength !== HEARTBEAT_FIXED_BODY_BYTES + nameLength) {
    return failure("malformed");
  }
  const generation = readU53(bytes, at);
  const seq = readU53(bytes, at + 8);
  const wallMs = readU53(bytes, at + 16);
  const syncPosition = readU53(bytes, at + 24);
  const link = bytes[at + 32]!;
  const roleIndex = bytes[at + 33]!;
  const priority = bytes[at + 34]!;
  const flags = bytes[at + 35]!;
  if (generation < 0 || seq < 1 || wallMs < 0 || syncPosition < 0) return failure("malformed");
  if (link > 7 || roleIndex >= HEARTBEAT_ROLES.length || priority === 0 || (flags & ~KNOWN_FLAGS) !== 0) return failure("malformed");
  const node = decodedNameOf(state, bytes, at + HEARTBEAT_FIXED_BODY_BYTES, nameLength);
  if (node === undefined) return failure("malformed");
  return {
    ok: true,
    message: {
      cluster: auth.cluster,
      node,
      generation,
      link,
      seq,
      wallMs,
      role: HEARTBEAT_ROLES[roleIndex]!,
      priority,
      flags,
      vips: (bytes[at + 36]! << 8) | bytes[at + 37]!,
      syncPosition,
    },
  };
}

/** Throws a RangeError naming the first field of `message` outside the wire ranges. */
function checkMessage(message: HeartbeatMessage): void {
  let bad: string | undefined;
  if (!u53(message.generation)) bad = "generation";
  else if (!u53(message.seq) || message.seq < 1) bad = "seq";
  else if (!u53(message.wallMs)) bad = "wallMs";
  else if (!u53(message.syncPosition)) bad = "syncPosition";
  else if (!int(message.link, 0, 7)) bad = "link";
  else if (!HEARTBEAT_ROLES.includes(message.role)) bad = "role";
  else if (!int(message.priority, 1, 255)) bad = "priority";
  else if (!int(message.flags, 0, KNOWN_FLAGS)) bad = "flags";
  else if (!int(message.vips, 0, 0xffff)) bad = "vips";
  if (bad !== undefined) {
    const value = (message as unknown as Record<string, unknown>)[bad];
    throw new RangeError(`Cannot encode a heartbeat with ${bad} "${String(value)}": out of range for the wire format`);
  }
}

function u53(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function int(value: number, min: number, max: number): boolean {
  return Number.isInteger(value) && value >= min && value <= max;
}

/** Returns the UTF-8 bytes of the node name, reusing the last ones when the name is unchanged. */
function encodedNameOf(auth: AuthState, node: string): Uint8Array {
  if (node === auth.encodedName && auth.encodedNameBytes.length > 0) return auth.encodedNameBytes;
  const bytes = utf8Encode(node);
  if (bytes.length === 0 || bytes.length > MAX_HEARTBEAT_NAME_BYTES) {
    throw new RangeError(`Cannot encode a heartbeat from node "${node}": names have 1 to ${MAX_HEARTBEAT_NAME_BYTES} bytes of UTF-8, not "${bytes.length}"`);
  }
  auth.encodedName = node;
  auth.encodedNameBytes = bytes;
  return bytes;
}

/** Returns the name in `bytes[offset .. offset + length]`, from the cache when it repeats, or undefined if it is not valid UTF-8. */
function decodedNameOf(auth: AuthState, bytes: Uint8Array, offset: number, length: number): string | undefined {
  const cached = auth.decodedNameBytes;
  if (length === auth.decodedNameLength) {
    let same = true;
    for (let i = 0; i < length && same; i++) same = cached[i] === bytes[offset + i];
    if (same) return auth.decodedName;
  }
  const name = decodeUtf8Strict(bytes, offset, length);
  if (name === undefined) return undefined;
  for (let i = 0; i < length; i++) cached[i] = bytes[offset + i]!;
  auth.decodedNameLength = length;
  auth.decodedName = name;
  return name;
}

/**
 * Decodes UTF-8 per RFC 3629 §4, or returns undefined for anything ill-formed: overlong forms,
 * surrogates (U+D800..U+DFFF), code points above U+10FFFF, truncated or stray continuation bytes.
 */
function decodeUtf8Strict(bytes: Uint8Array, offset: number, length: number): string | undefined {
  let text = "";
  const end = offset + length;
  for (let i = offset; i < end; ) {
    const b0 = bytes[i]!;
    let code: number;
    let extra: number;
    let min: number;
    if (b0 < 0x80) {
      code = b0;
      extra = 0;
      min = 0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      code = b0 & 0x1f;
      extra = 1;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      code = b0 & 0x0f;
      extra = 2;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      code = b0 & 0x07;
      extra = 3;
      min = 0x10000;
    } else {
      return undefined;
    }
    if (i + extra >= end) return undefined;
    for (let k = 1; k <= extra; k++) {
      const b = bytes[i + k]!;
      if ((b & 0xc0) !== 0x80) return undefined;
      code = (code << 6) | (b & 0x3f);
    }
    if (code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return undefined;
    text += String.fromCodePoint(code);
    i += extra + 1;
  }
  return text;
}

/** Writes `value` (an integer 0..2^53-1) as a big-endian u64 at `offset`; the caller checks range. */
export function writeU53(out: Uint8Array, offset: number, value: number): void {
  const high = Math.floor(value / TWO_POW_32);
  const low = value >>> 0;
  out[offset] = high >>> 24;
  out[offset + 1] = high >>> 16;
  out[offset + 2] = high >>> 8;
  out[offset + 3] = high;
  out[offset + 4] = low >>> 24;
  out[offset + 5] = low >>> 16;
  out[offset + 6] = low >>> 8;
  out[offset + 7] = low;
}

/** Reads a big-endian u64 as a number, or -1 when it exceeds 2^53-1. */
export function readU53(bytes: Uint8Array, offset: number): number {
  const high = ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
  if (high > MAX_SAFE_HIGH_WORD) return -1;
  const low = ((bytes[offset + 4]! << 24) | (bytes[offset + 5]! << 16) | (bytes[offset + 6]! << 8) | bytes[offset + 7]!) >>> 0;
  return high * TWO_POW_32 + low;
}
