import { mix2, mix32 } from "./hash.ts";
import type { Flow, Scheduler } from "./scheduler.ts";
import type { ServerPool } from "./server-pool.ts";

/** Options of the source-hashing scheduler. */
export interface MaglevOptions {
  /** Lookup table size; must be a prime, ideally > 100 x the number of servers. Default 65537. */
  readonly tableSize?: number;
  /** Hash the source port too (IPVS `sh-port`): spreads one client's connections. Default false. */
  readonly hashPort?: boolean;
}

/** Default Maglev table size: a prime, > 100 x the servers of any realistic service. */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

// Seeds for the two per-server hashes of Maglev's permutation (offset, skip). Constants, so every
// dispatcher with the same pool derives the same table.
const OFFSET_SEED = 0x4d41474c; // "MAGL"
const SKIP_SEED = 0x45562121; // "EV!!"

/**
 * Source hashing (`sh`) over a Maglev consistent-hash lookup table (Eisenbud et al., NSDI 2016,
 * section 3.4), weighted as in Katran's MaglevHashV2.
 *
 * Why Maglev instead of IPVS's `sh` (source address modulo a 256-bucket table): when a server
 * leaves, only the clients that hashed to it move (about 1/n of them, plus a small Maglev
 * overshoot), and the table depends only on the pool (server keys, order, weights, eligibility),
 * never on history, so parallel dispatchers behind ECMP with the same configuration pick the same
 * server for a flow.
 *
 * The table holds only eligible servers. It is rebuilt on the first pick after the pool's
 * `version` changes (or eagerly by `rebuild`), costing O(M log M) for M = tableSize; a pick is one
 * hash and one array read, with no allocation. Draining a server removes it from the table: its
 * existing connections continue through the connection table, which never asks the scheduler.
 */
export class MaglevScheduler implements Scheduler {
  readonly kind = "sh";
  /** The prime size of the lookup table. */
  readonly tableSize: number;
  readonly #hashPort: boolean;
  readonly #table: Int32Array;
  #pool: ServerPool | null = null;
  #version = -1;
  // Build scratch, grown with the pool and reused so rebuilds allocate only when the pool grows.
  #servers = new Int32Array(0);
  #position = new Uint32Array(0);
  #skip = new Uint32Array(0);
  #credit = new Float64Array(0);

  /** Creates a scheduler; throws `RangeError` when `tableSize` is not a prime in 2..2^24. */
  constructor(options: MaglevOptions = {}) {
    const size = options.tableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    if (!Number.isInteger(size) || size < 2 || size > 1 << 24 || !isPrime(size)) {
      throw new RangeError(`Maglev table size "${size}" is invalid: expected a prime in 2..16777216`);
    }
    this.tableSize = size;
    this.#hashPort = options.hashPort ?? false;
    this.#table = new Int32Array(size).fill(-1);
  }

  /** See `Scheduler.pick`. */
  pick(pool: ServerPool, flow: Flow): number {
    if (pool !== this.#pool || pool.version !== this.#version) this.rebuild(pool);
    return this.#table[this.slotOf(flow)]!;
  }

  /** The table slot `flow` hashes to; depends only on the flow and the table size. */
  slotOf(flow: Flow): number {
    const hash = this.#hashPort ? mix2(flow.srcAddr >>> 0, flow.srcPort & 0xffff) : mix32(flow.srcAddr >>> 0);
    return hash % this.tableSize;
  }

  /** Rebuilds the lookup table from `pool` now (otherwise done lazily on the next pick). */
  rebuild(pool: ServerPool): void {
    this.#pool = pool;
    this.#version = pool.version;
    const table = this.#table;
    table.fill(-1);
    const count = this.#collect(pool);
    if (count === 0) return;
    const m = this.tableSize;
    const servers = this.#servers;
    const position = this.#position;
    const skip = this.#skip;
    const credit = this.#credit;
    let maxWeight = 0;
    for (let j = 0; j < count; j++) {
      const key = pool.key(servers[j]!);
      // Maglev's permutation: offset + k * skip (mod M), skip in 1..M-1; M prime, so every
      // server's preference list visits every slot exactly once.
      position[j] = mix2(key, OFFSET_SEED) % m;
      skip[j] = (mix2(key, SKIP_SEED) % (m - 1)) + 1;
      credit[j] = 0;
      maxWeight = Math.max(maxWeight, pool.weight(servers[j]!));
    }
    // Katran's weighting: a server claims its next preferred free slot each time its accumulated
    // weight reaches the largest weight, so slots are shared in proportion to weights while the
    // heaviest server claims on every round (the loop always progresses).
    let filled = 0;
    for (;;) {
      for (let j = 0; j < count; j++) {
        credit[j] = credit[j]! + pool.weight(servers[j]!);
        if (credit[j]! < maxWeight) continue;
        credit[j] = credit[j]! - maxWeight;
        let slot = position[j]!;
        while (table[slot] !== -1) slot = nextSlot(slot, skip[j]!, m);
        table[slot] = servers[j]!;
        position[j] = nextSlot(slot, skip[j]!, m);
        if (++filled === m) return;
      }
    }
  }

  /** Collects the eligible servers with a weight into `#servers`; returns how many. */
  #collect(pool: ServerPool): number {
    if (this.#servers.length < pool.size) {
      const capacity = Math.max(pool.size, 8);
      this.#servers = new Int32Array(capacity);
      this.#position = new Uint32Array(capacity);
      this.#skip = new Uint32Array(capacity);
      this.#credit = new Float64Array(capacity);
    }
    let count = 0;
    for (let i = 0; i < pool.size; i++) {
      if (pool.isEligible(i)) this.#servers[count++] = i;
    }
    return count;
  }
}

function nextSlot(slot: number, skip: number, size: number): number {
  const next = slot + skip;
  return next >= size ? next - size : next;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
