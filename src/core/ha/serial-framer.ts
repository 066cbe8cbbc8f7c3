/**
 * Framing for heartbeats on a serial line (a byte stream that may drop, corrupt or invent bytes,
 * and that the peer may join mid-frame): COBS (Cheshire & Baker, "Consistent Overhead Byte
 * Stuffing", IEEE/ACM ToN 1999) with 0x00 as the frame delimiter, and a CRC-32 trailer.
 *
 * On the wire a frame is `00 COBS(payload ‖ CRC-32(payload) as u32 big-endian) 00`. COBS leaves no
 * 0x00 inside a frame, so after any garbage the receiver is back in step at the next delimiter;
 * the leading delimiter ends whatever noise came before. The CRC is the IEEE 802.3 one (reflected
 * polynomial 0xEDB88320, the zlib/PNG CRC); it catches line noise, not attackers: the payload
 * carries its own MAC. Payloads are at most MAX_SERIAL_PAYLOAD_BYTES, so a receiver needs a fixed
 * buffer only and a stream without delimiters cannot grow memory.
 */

/** Largest payload a serial frame carries. */
export const MAX_SERIAL_PAYLOAD_BYTES = 512;

const CRC_BYTES = 4;
const MAX_DECODED_BYTES = MAX_SERIAL_PAYLOAD_BYTES + CRC_BYTES;

/** Bytes `encodeSerialFrame` writes at most for `payloadLength` bytes: COBS adds one code byte per 254, plus the two delimiters. */
export function serialFrameBytes(payloadLength: number): number {
  const decoded = payloadLength + CRC_BYTES;
  return 1 + decoded + Math.floor(decoded / 254) + 1 + 1;
}

/** Largest number of bytes one encoded serial frame can take (delimiters included). */
export const MAX_SERIAL_FRAME_BYTES = serialFrameBytes(MAX_SERIAL_PAYLOAD_BYTES);

// IEEE 802.3 CRC-32, reflected polynomial 0xEDB88320, one table entry per byte value.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** Returns the CRC-32 (IEEE 802.3, as zlib computes it) of `bytes[start .. end]` as an unsigned number. */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffffffff;
  for (let i = start; i < end; i++) crc = CRC_TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Writes `payload[0 .. payloadLength]` as one serial frame (leading and trailing delimiter
 * included) into `out` and returns the bytes written, at most `serialFrameBytes(payloadLength)`.
 * Throws a RangeError for a payload over MAX_SERIAL_PAYLOAD_BYTES or an `out` too small.
 */
export function encodeSerialFrame(payload: Uint8Array, payloadLength: number, out: Uint8Array): number {
  if (!Number.isInteger(payloadLength) || payloadLength < 0 || payloadLength > MAX_SERIAL_PAYLOAD_BYTES || payloadLength > payload.length) {
    throw new RangeError(`Cannot frame a payload of "${payloadLength}" bytes: expected 0 to ${Math.min(MAX_SERIAL_PAYLOAD_BYTES, payload.length)}`);
  }
  const needed = serialFrameBytes(payloadLength);
  if (out.length < needed) throw new RangeError(`Cannot frame a payload of "${payloadLength}" bytes: the buffer has ${out.length}, ${needed} may be needed`);
  const crc = crc32(payload, 0, payloadLength);
  const decodedLength = payloadLength + CRC_BYTES;
  out[0] = 0;
  // COBS: each block is a code byte c followed by c-1 non-zero bytes; c < 0xFF implies a zero
  // after the block (except after the last), 0xFF means 254 bytes and no zero.
  let codeAt = 1;
  let at = 2;
  let code = 1;
  for (let i = 0; i < decodedLength; i++) {
    const byte = i < payloadLength ? payload[i]! : (crc >>> (8 * (decodedLength - 1 - i))) & 0xff;
    if (byte === 0) {
      out[codeAt] = code;
      codeAt = at++;
      code = 1;
      continue;
    }
    out[at++] = byte;
    code++;
    if (code === 0xff) {
      out[codeAt] = code;
      codeAt = at++;
      code = 1;
    }
  }
  out[codeAt] = code;
  out[at++] = 0;
  return at;
}

/** Bad-frame counters of a `SerialDeframer`, each counting frames dropped for that reason. */
export interface SerialDeframerCounters {
  /** Frames delivered. */
  frames: number;
  /** Frames whose CRC-32 did not match. */
  badCrc: number;
  /** Frames longer than MAX_SERIAL_PAYLOAD_BYTES (dropped up to the next delimiter). */
  tooLong: number;
  /** Frames whose COBS encoding was cut short by a delimiter. */
  badEncoding: number;
  /** Frames too short to hold a CRC. */
  tooShort: number;
}

/**
 * Splits a serial byte stream into verified payloads. Handles frames split over any number of
 * chunks and many frames per chunk, and never throws on any input. Bytes before the first
 * delimiter are discarded uncounted: the receiver may have joined mid-frame.
 */
export class SerialDeframer {
  /** Frames delivered and frames dropped, by reason. */
  readonly counters: SerialDeframerCounters = { frames: 0, badCrc: 0, tooLong: 0, badEncoding: 0, tooShort: 0 };
  private readonly decoded = new Uint8Array(MAX_DECODED_BYTES);
  private decodedLength = 0;
  /** Bytes left in the current COBS block; 0 means the next byte is a code byte. */
  private blockLeft = 0;
  /** Code byte of the current block; 0 before the frame's first block. */
  private blockCode = 0;
  /** Discarding up to the next delimiter: at start (unsynchronised) and after an overlong frame. */
  private skipping = true;

  /**
   * Feeds `chunk`; calls `onFrame` for every complete frame whose CRC verifies. The payload is a
   * view into an internal buffer, valid only during the call: copy it to keep it.
   */
  push(chunk: Uint8Array, onFrame: (payload: Uint8Array) => void): void {
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (byte === 0) {
        this.endFrame(onFrame);
      } else if (!this.skipping) {
        this.addByte(byte);
      }
    }
  }

  private addByte(byte: number): void {
    if (this.blockLeft === 0) {
      // A new block: the previous one, now known not to be the last, ends in an implicit zero.
      if (this.blockCode !== 0 && this.blockCode !== 0xff && !this.append(0)) return;
      this.blockCode = byte;
      this.blockLeft = byte - 1;
      return;
    }
    if (!this.append(byte)) return;
    this.blockLeft--;
  }

  /** Appends a decoded byte; on overflow counts the frame as too long and skips to the next delimiter. */
  private append(byte: number): boolean {
    if (this.decodedLength === MAX_DECODED_BYTES) {
      this.counters.tooLong++;
      this.skipping = true;
      return false;
    }
    this.decoded[this.decodedLength++] = byte;
    return true;
  }

  private endFrame(onFrame: (payload: Uint8Array) => void): void {
    const wasSkipping = this.skipping;
    const blockCut = this.blockLeft !== 0;
    const started = this.blockCode !== 0;
    const length = this.decodedLength;
    // Reset before delivering, so the state is sound even if onFrame throws.
    this.skipping = false;
    this.blockLeft = 0;
    this.blockCode = 0;
    this.decodedLength = 0;
    // Back-to-back delimiters are idle fill (every frame starts with one), not frames.
    if (wasSkipping || !started) return;
    if (blockCut) {
      this.counters.badEncoding++;
      return;
    }
    if (length < CRC_BYTES) {
      this.counters.tooShort++;
      return;
    }
    const payloadLength = length - CRC_BYTES;
    const d = this.decoded;
    const received = ((d[payloadLength]! << 24) | (d[payloadLength + 1]! << 16) | (d[payloadLength + 2]! << 8) | d[payloadLength + 3]!) >>> 0;
    if (crc32(d, 0, payloadLength) !== received) {
      this.counters.badCrc++;
      return;
    }
    this.counters.frames++;
    onFrame(d.subarray(0, payloadLength));
  }
}
