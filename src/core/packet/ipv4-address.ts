/** IPv4 addresses as unsigned 32-bit numbers: the packet layer's representation. */

/**
 * Parses strict dotted-quad text ("192.0.2.1") to an unsigned 32-bit number. Returns undefined
 * for anything else: fewer or more than four parts, empty parts, values above 255, signs,
 * spaces, or leading zeros ("010" is octal to some parsers, so it is refused, not guessed).
 */
export function parseIpv4(text: string): number | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined;
      part = part * 10 + (c - 48);
      digits++;
      if (part > 255) return undefined;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0) return undefined;
  return value * 256 + part;
}

/** Formats an unsigned 32-bit address as dotted-quad text. */
export function formatIpv4(address: number): string {
  return `${address >>> 24}.${(address >>> 16) & 0xff}.${(address >>> 8) & 0xff}.${address & 0xff}`;
}
