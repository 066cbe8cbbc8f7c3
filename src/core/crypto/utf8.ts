/**
 * UTF-8 encoding without TextEncoder, which the runtime-neutral core may not use.
 */

/**
 * Returns the UTF-8 bytes of `text` (RFC 3629), exactly as TextEncoder would: surrogate pairs
 * become one 4-byte sequence, lone surrogates become U+FFFD (EF BF BD).
 */
export function utf8Encode(text: string): Uint8Array {
  const out = new Uint8Array(utf8Length(text));
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      out[at++] = code;
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
      if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
        i++;
      } else {
        code = 0xfffd;
      }
    }
    if (code < 0x800) {
      out[at++] = 0xc0 | (code >>> 6);
      out[at++] = 0x80 | (code & 0x3f);
    } else if (code < 0x10000) {
      out[at++] = 0xe0 | (code >>> 12);
      out[at++] = 0x80 | ((code >>> 6) & 0x3f);
      out[at++] = 0x80 | (code & 0x3f);
    } else {
      out[at++] = 0xf0 | (code >>> 18);
      out[at++] = 0x80 | ((code >>> 12) & 0x3f);
      out[at++] = 0x80 | ((code >>> 6) & 0x3f);
      out[at++] = 0x80 | (code & 0x3f);
    }
  }
  return out;
}

/** Returns the number of bytes `utf8Encode(text)` will produce. */
export function utf8Length(text: string): number {
  let length = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) {
      length += 1;
    } else if (code < 0x800) {
      length += 2;
    } else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        length += 4;
        i++;
      } else {
        length += 3;
      }
    } else {
      // Other BMP characters, and lone surrogates, which are replaced by the 3-byte U+FFFD.
      length += 3;
    }
  }
  return length;
}
