/**
 * HMAC-SHA-256 (RFC 2104, test vectors in RFC 4231) in plain TypeScript, for authenticating
 * heartbeat packets. A keyed `HmacSha256` precomputes the padded-key states once, so each MAC
 * costs two compressions plus the message and, with `macInto`, allocates nothing.
 */

import { SHA256_BLOCK_BYTES, SHA256_DIGEST_BYTES, Sha256 } from "./sha256.ts";

/** Size in bytes of an HMAC-SHA-256 tag. */
export const HMAC_SHA256_BYTES = SHA256_DIGEST_BYTES;

const IPAD = 0x36;
const OPAD = 0x5c;

/**
 * An HMAC-SHA-256 keyed once and used for many messages. `setKey` may be called again to rekey;
 * keys longer than 64 bytes are hashed first (RFC 2104 §2).
 */
export class HmacSha256 {
  private readonly inner = new Sha256();
  private readonly outer = new Sha256();
  private readonly work = new Sha256();
  private readonly paddedKey = new Uint8Array(SHA256_BLOCK_BYTES);
  private readonly innerDigest = new Uint8Array(SHA256_DIGEST_BYTES);

  constructor(key: Uint8Array) {
    this.setKey(key);
  }

  /** Replaces the key; later MACs use the new one. */
  setKey(key: Uint8Array): void {
    const padded = this.paddedKey;
    padded.fill(0);
    if (key.length > SHA256_BLOCK_BYTES) {
      this.work.reset().update(key).digestInto(padded, 0);
    } else {
      padded.set(key);
    }
    // RFC 2104 §2: H(K XOR opad, H(K XOR ipad, text)); both padded-key blocks are hashed now.
    for (let i = 0; i < SHA256_BLOCK_BYTES; i++) padded[i]! ^= IPAD;
    this.inner.reset().update(padded);
    for (let i = 0; i < SHA256_BLOCK_BYTES; i++) padded[i]! ^= IPAD ^ OPAD;
    this.outer.reset().update(padded);
    // The key must not linger in memory longer than the derived states.
    padded.fill(0);
  }

  /** Writes the 32-byte MAC of `message` into `out` at `offset`, allocating nothing. */
  macInto(message: Uint8Array, out: Uint8Array, offset = 0): void {
    this.work.assign(this.inner).update(message).digestInto(this.innerDigest, 0);
    this.work.assign(this.outer).update(this.innerDigest).digestInto(out, offset);
  }

  /** Returns the 32-byte MAC of `message` as a new array. */
  mac(message: Uint8Array): Uint8Array {
    const out = new Uint8Array(HMAC_SHA256_BYTES);
    this.macInto(message, out, 0);
    return out;
  }
}

// One-shot MACs are synchronous and never re-entered, so one shared instance suffices.
let shared: HmacSha256 | undefined;

/** Returns HMAC-SHA-256(key, message), 32 bytes. For many messages under one key, use `HmacSha256`. */
export function hmacSha256(key: Uint8Array, message: Uint8Array): Uint8Array {
  if (shared === undefined) {
    shared = new HmacSha256(key);
  } else {
    shared.setKey(key);
  }
  return shared.mac(message);
}

/**
 * Compares two byte arrays in time that depends only on their lengths, never on their contents
 * (for MAC checks). Arrays of different lengths are unequal; lengths are not secret.
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let i = 0; i < a.length; i++) difference |= a[i]! ^ b[i]!;
  return difference === 0;
}
