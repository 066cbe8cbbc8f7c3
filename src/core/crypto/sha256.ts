/**
 * SHA-256 (FIPS 180-4) in plain TypeScript, for the store's content hashes and, through
 * hmac-sha256.ts, heartbeat authentication. No runtime APIs; a hasher allocates only at
 * construction, so hashing in a hot loop creates no garbage when `digestInto` is used.
 */

// FIPS 180-4 §4.2.2: first 32 bits of the fractional parts of the cube roots of the first 64 primes.
const K = Int32Array.from([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

// FIPS 180-4 §5.3.3: initial hash value H(0).
const INITIAL_STATE = Int32Array.from([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** Size in bytes of a SHA-256 digest. */
export const SHA256_DIGEST_BYTES = 32;

/** Size in bytes of a SHA-256 message block (the HMAC block size B of RFC 2104). */
export const SHA256_BLOCK_BYTES = 64;

// The message schedule is scratch space only, never live across calls, so all hashers share it.
const schedule = new Int32Array(64);

/** Runs the compression function (FIPS 180-4 §6.2.2) on the 64 bytes of `data` at `offset`. */
function compress(state: Int32Array, data: Uint8Array, offset: number): void {
  const w = schedule;
  for (let t = 0; t < 16; t++) {
    const i = offset + t * 4;
    w[t] = (data[i]! << 24) | (data[i + 1]! << 16) | (data[i + 2]! << 8) | data[i + 3]!;
  }
  for (let t = 16; t < 64; t++) {
    const w15 = w[t - 15]!;
    const w2 = w[t - 2]!;
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3);
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10);
    w[t] = (w[t - 16]! + s0 + w[t - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let t = 0; t < 64; t++) {
    const sigma1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (h + sigma1 + ch + K[t]! + w[t]!) | 0;
    const sigma0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & b) ^ (a & c) ^ (b & c);
    const t2 = (sigma0 + maj) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

/**
 * An incremental SHA-256 hasher: `reset()`, any number of `update()`s, then `digestInto()` or
 * `digest()`. After a digest the hasher must be reset (or `assign`ed) before reuse. Messages
 * up to 2^53 - 1 bytes.
 */
export class Sha256 {
  private readonly state = new Int32Array(8);
  private readonly pending = new Uint8Array(SHA256_BLOCK_BYTES);
  private pendingBytes = 0;
  private totalBytes = 0;

  constructor() {
    this.reset();
  }

  /** Starts a new message; returns this hasher. */
  reset(): this {
    this.state.set(INITIAL_STATE);
    this.pendingBytes = 0;
    this.totalBytes = 0;
    return this;
  }

  /** Makes this hasher an exact copy of `other` (state and buffered bytes); returns this. */
  assign(other: Sha256): this {
    this.state.set(other.state);
    this.pending.set(other.pending);
    this.pendingBytes = other.pendingBytes;
    this.totalBytes = other.totalBytes;
    return this;
  }

  /** Feeds `data` into the message; returns this hasher. */
  update(data: Uint8Array): this {
    const length = data.length;
    let offset = 0;
    this.totalBytes += length;
    // Partial blocks are copied byte by byte: `subarray` would allocate a view per call.
    const pending = this.pending;
    if (this.pendingBytes > 0) {
      let used = this.pendingBytes;
      while (used < SHA256_BLOCK_BYTES && offset < length) pending[used++] = data[offset++]!;
      this.pendingBytes = used;
      if (used < SHA256_BLOCK_BYTES) return this;
      compress(this.state, pending, 0);
      this.pendingBytes = 0;
    }
    // Whole blocks are compressed straight from the caller's buffer, without copying.
    for (; offset + SHA256_BLOCK_BYTES <= length; offset += SHA256_BLOCK_BYTES) {
      compress(this.state, data, offset);
    }
    let used = 0;
    while (offset < length) pending[used++] = data[offset++]!;
    this.pendingBytes = used;
    return this;
  }

  /** Finishes the message and writes the 32-byte digest into `out` at `offset`. */
  digestInto(out: Uint8Array, offset = 0): void {
    if (offset < 0 || offset + SHA256_DIGEST_BYTES > out.length) {
      throw new RangeError(`Cannot write a SHA-256 digest at offset "${offset}": the buffer has ${out.length} bytes`);
    }
    // FIPS 180-4 §5.1.1: append 0x80, zeros up to 56 mod 64, then the bit length as 64-bit big endian.
    const block = this.pending;
    let used = this.pendingBytes;
    block[used++] = 0x80;
    if (used > 56) {
      block.fill(0, used);
      compress(this.state, block, 0);
      used = 0;
    }
    block.fill(0, used, 56);
    const bitsHigh = Math.floor(this.totalBytes / 0x20000000);
    const bitsLow = (this.totalBytes * 8) >>> 0;
    writeUint32(block, 56, bitsHigh);
    writeUint32(block, 60, bitsLow);
    compress(this.state, block, 0);
    for (let i = 0; i < 8; i++) writeUint32(out, offset + i * 4, this.state[i]!);
    this.pendingBytes = 0;
  }

  /** Finishes the message and returns its digest as a new 32-byte array. */
  digest(): Uint8Array {
    const out = new Uint8Array(SHA256_DIGEST_BYTES);
    this.digestInto(out);
    return out;
  }
}

function writeUint32(out: Uint8Array, offset: number, value: number): void {
  out[offset] = value >>> 24;
  out[offset + 1] = value >>> 16;
  out[offset + 2] = value >>> 8;
  out[offset + 3] = value;
}

// One-shot hashing is synchronous and never re-entered, so one shared hasher suffices.
const shared = new Sha256();

/** Returns the SHA-256 digest (32 bytes) of `bytes`. */
export function sha256(bytes: Uint8Array): Uint8Array {
  return shared.reset().update(bytes).digest();
}

/** Returns the SHA-256 digest of `bytes` as 64 lowercase hex digits. */
export function sha256Hex(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}

const HEX_DIGITS = "0123456789abcdef";

/** Returns `bytes` as lowercase hex, two digits per byte. */
export function toHex(bytes: Uint8Array): string {
  let hex = "";
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    hex += HEX_DIGITS[byte >>> 4]! + HEX_DIGITS[byte & 0x0f]!;
  }
  return hex;
}
