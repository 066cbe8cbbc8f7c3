/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624), on plain numbers.
 *
 * Two kinds of values appear here. A *sum* is an unfolded one's-complement sum of 16-bit words,
 * a non-negative integer. A *checksum* is what a header carries: the 16-bit complement of the
 * folded sum. A *partial* checksum is what Linux leaves in the L4 checksum field of a
 * CHECKSUM_PARTIAL (virtio NEEDS_CSUM) packet: the folded pseudo-header sum, not complemented;
 * the kernel or NIC later adds the L4 bytes and complements.
 */

/**
 * Folds a one's-complement sum to 16 bits with end-around carry (RFC 1071 section 4.1).
 * Contract: `sum` is an integer in [0, 2^53). A non-zero sum never folds to 0, so the result is
 * in 1..0xFFFF for any non-zero input.
 */
export function foldChecksum(sum: number): number {
  // 2^32 ≡ 1 (mod 0xFFFF), so adding the 32-bit halves keeps the value; rare, only for huge sums.
  while (sum > 0xffffffff) sum = (sum % 0x100000000) + Math.floor(sum / 0x100000000);
  sum = (sum >>> 16) + (sum & 0xffff);
  return (sum >>> 16) + (sum & 0xffff);
}

/**
 * Unfolded one's-complement sum of the big-endian 16-bit words of `buf[start, end)` plus
 * `initial`; an odd last byte is padded with a zero byte (RFC 1071 section 4.1).
 * Contract: 0 ≤ start ≤ end ≤ buf.length; the result is exact for any length.
 */
export function onesComplementSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  const pairsEnd = end - 1;
  for (; i < pairsEnd; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i < end) sum += buf[i] << 8;
  return sum;
}

/** The complemented checksum of `buf[start, end)` with `initial` added: `~fold(sum) & 0xFFFF`. */
export function internetChecksum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  return ~foldChecksum(onesComplementSum(buf, start, end, initial)) & 0xffff;
}

/**
 * Unfolded sum of the TCP/UDP pseudo-header (RFC 793 section 3.1, RFC 768): source and
 * destination addresses (unsigned 32-bit), zero + protocol, and the L4 length.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, l4Length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + l4Length;
}

/**
 * The IPv4 header checksum (RFC 791) for the `headerLength` bytes at `l3Offset`, computed as if
 * the checksum field were zero. Contract: the header lies inside `buf`.
 */
export function ipv4HeaderChecksum(buf: Uint8Array, l3Offset: number, headerLength: number): number {
  const field = (buf[l3Offset + 10] << 8) | buf[l3Offset + 11];
  return ~foldChecksum(onesComplementSum(buf, l3Offset, l3Offset + headerLength) - field) & 0xffff;
}

/** Computes and stores the IPv4 header checksum at `l3Offset + 10`. */
export function writeIpv4HeaderChecksum(buf: Uint8Array, l3Offset: number, headerLength: number): void {
  const check = ipv4HeaderChecksum(buf, l3Offset, headerLength);
  buf[l3Offset + 10] = check >>> 8;
  buf[l3Offset + 11] = check;
}

/** True when the IPv4 header at `l3Offset` sums to 0xFFFF including its checksum (RFC 1071 verify). */
export function verifyIpv4HeaderChecksum(buf: Uint8Array, l3Offset: number, headerLength: number): boolean {
  if (headerLength !== 20) return foldChecksum(onesComplementSum(buf, l3Offset, l3Offset + headerLength)) === 0xffff;
  // Unrolled for the option-less header that nearly every packet has (once per packet).
  const o = l3Offset;
  const sum = ((buf[o] << 8) | buf[o + 1]) + ((buf[o + 2] << 8) | buf[o + 3]) + ((buf[o + 4] << 8) | buf[o + 5])
    + ((buf[o + 6] << 8) | buf[o + 7]) + ((buf[o + 8] << 8) | buf[o + 9]) + ((buf[o + 10] << 8) | buf[o + 11])
    + ((buf[o + 12] << 8) | buf[o + 13]) + ((buf[o + 14] << 8) | buf[o + 15]) + ((buf[o + 16] << 8) | buf[o + 17])
    + ((buf[o + 18] << 8) | buf[o + 19]);
  return foldChecksum(sum) === 0xffff;
}

/**
 * The sum term `~old + new` for a 16-bit word that changes, to be accumulated and applied once
 * with `checksumAdjust` or `partialChecksumAdjust` (RFC 1624 eqn. 3 generalised to several words).
 * The result is below 2^18; a few dozen terms can be added safely.
 */
export function wordDelta16(oldWord: number, newWord: number): number {
  return (~oldWord & 0xffff) + (newWord & 0xffff);
}

/** The sum term for a 32-bit field (two words) changing from `oldValue` to `newValue` (unsigned). */
export function wordDelta32(oldValue: number, newValue: number): number {
  const notOld = ~oldValue;
  return (notOld >>> 16) + (notOld & 0xffff) + (newValue >>> 16) + (newValue & 0xffff);
}

/** RFC 1624 eqn. 3, `HC' = ~(~HC + delta)`, for a complemented checksum and accumulated `delta`. */
export function checksumAdjust(check: number, delta: number): number {
  return ~foldChecksum((~check & 0xffff) + delta) & 0xffff;
}

/** RFC 1624 eqn. 3 for one 16-bit word: `HC' = ~(~HC + ~m + m')`. */
export function checksumReplace16(check: number, oldWord: number, newWord: number): number {
  return checksumAdjust(check, wordDelta16(oldWord, newWord));
}

/** RFC 1624 eqn. 3 for a 32-bit field (an IPv4 address): both of its words replaced. */
export function checksumReplace32(check: number, oldValue: number, newValue: number): number {
  return checksumAdjust(check, wordDelta32(oldValue, newValue));
}

/**
 * Adjusts an uncomplemented partial checksum (NEEDS_CSUM): `P' = fold(P + delta)`, the same
 * arithmetic as RFC 1624 without the complement steps (Linux `inet_proto_csum_replace4`).
 */
export function partialChecksumAdjust(partial: number, delta: number): number {
  return foldChecksum(partial + delta);
}

/** `partialChecksumAdjust` for one 16-bit word. */
export function partialReplace16(partial: number, oldWord: number, newWord: number): number {
  return foldChecksum(partial + wordDelta16(oldWord, newWord));
}

/** `partialChecksumAdjust` for a 32-bit field. */
export function partialReplace32(partial: number, oldValue: number, newValue: number): number {
  return foldChecksum(partial + wordDelta32(oldValue, newValue));
}

/**
 * Incremental update of a UDP checksum (RFC 768): 0 means "no checksum" and stays 0; a result
 * of 0 is sent as 0xFFFF, its one's-complement equivalent.
 */
export function udpChecksumAdjust(check: number, delta: number): number {
  if (check === 0) return 0;
  const next = checksumAdjust(check, delta);
  return next === 0 ? 0xffff : next;
}
