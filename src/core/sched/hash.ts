/**
 * Integer hashing shared by the consistent-hash scheduler and the persistence table. Everything here
 * is pure 32-bit integer arithmetic (`Math.imul`, shifts), so every runtime and every dispatcher
 * computes bit-identical results: a requirement for ECMP-parallel dispatchers agreeing on a flow.
 */

/** Mixes one uint32 with MurmurHash3's fmix32 finalizer; returns a well-avalanched uint32. */
export function mix32(value: number): number {
  let x = value | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Hashes two uint32 words into one uint32 (order matters); deterministic across runtimes. */
export function mix2(a: number, b: number): number {
  // Mixing `a` before combining keeps (a, b) and (b, a) apart. Multiplying `b` by an odd constant
  // and fmix32 are both bijections, so for a fixed `a` distinct `b` never collide.
  return mix32((mix32(a) ^ Math.imul(b | 0, 0x9e3779b9)) >>> 0);
}

/**
 * A stable consistent-hash identity for a real server from its IPv4 address (uint32) and port.
 * Two dispatchers with the same configuration derive the same keys, hence the same Maglev table.
 */
export function serverKey(addr: number, port: number): number {
  return mix2(addr >>> 0, port & 0xffff);
}
