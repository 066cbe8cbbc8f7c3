/** Small deterministic PRNG (mulberry32) for property and fuzz tests; print the seed to reproduce. */
export class Prng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** Next unsigned 32-bit value. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor((this.next() / 0x100000000) * n);
  }

  /** Integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() / 0x100000000 < p;
  }

  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** n random bytes. */
  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.next() & 0xff;
    return out;
  }

  /** n random bytes as a plain array. */
  byteList(n: number): number[] {
    return Array.from(this.bytes(n));
  }
}

/** Seed from the environment variable `name` (decimal), else `fallback`. */
export function seedFrom(env: Record<string, string | undefined>, name: string, fallback: number): number {
  const text = env[name];
  const value = text === undefined ? NaN : Number(text);
  return Number.isInteger(value) ? value >>> 0 : fallback;
}
