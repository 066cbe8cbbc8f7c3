import { mix2 } from "./hash.ts";
import type { Flow, Scheduler } from "./scheduler.ts";
import type { ServerPool } from "./server-pool.ts";

/** Options of a `PersistenceTable`. */
export interface PersistenceOptions {
  /** Maximum number of affinity entries (1..2^26); a full table evicts (see `record`). */
  readonly capacity: number;
  /** Affinity timeout for services without their own (IPVS `-p`, default 300 s). */
  readonly timeoutMs?: number;
  /** Clients sharing this many leading address bits share a server (IPVS `-M`). Default 32. */
  readonly prefixLength?: number;
  /** How many least-recently-used entries a full table examines for an expired one. Default 32. */
  readonly evictionScan?: number;
}

/** Per-service persistence settings; omitted fields keep the table's defaults. */
export interface ServicePersistence {
  readonly timeoutMs?: number;
  readonly prefixLength?: number;
}

/** IPVS's default persistence timeout (ipvsadm `-p` without a value). */
export const DEFAULT_PERSISTENCE_TIMEOUT_MS = 300_000;

const MAX_CAPACITY = 1 << 26;
const EMPTY = -1;

/**
 * Source-IP affinity with a timeout (IPVS persistent services, `ipvsadm -p [-M netmask]`): the
 * clients of one network (address masked to `prefixLength`) keep going to the server first picked
 * for them, until the entry has been unused for the timeout.
 *
 * Storage: entries live in flat typed arrays indexed by a stable entry id (32 bytes each, plus
 * 8-16 bytes of bucket array, kept at load <= 0.5), found through an open-addressing index (linear
 * probing, backward-shift deletion, no tombstones) keyed by (masked address, service id). An
 * intrusive doubly-linked list keeps the entries in least-recently-used order. No allocation after
 * construction except when `setService` sees a new, larger service id.
 *
 * Expiry: an entry expires `timeoutMs` after it was last used (looked up, recorded, or its last
 * connection detached); while connections are attached it never expires, like an IPVS template
 * whose controlled connections keep re-arming it. Expired entries are dropped lazily when met, by
 * `expire`, or first when the table is full.
 *
 * Server states (the behaviour operators expect, and what `pick` enforces):
 * - down or `disabled`: persistence breaks at once and the client is rescheduled. (IPVS, whose
 *   monitors quiesce a dead server to weight 0, keeps its templates by default and needs the
 *   `expire_quiescent_template` sysctl to do this.)
 * - `drain` or weight 0: a sticky client keeps its server only while it still has live connections
 *   attached (a multi-connection session finishes where it started, IPVS's template behaviour);
 *   once they have all closed, its next connection is rescheduled, so a drain completes.
 */
export class PersistenceTable {
  /** Maximum number of entries. */
  readonly capacity: number;
  readonly #evictionScan: number;
  readonly #defaultMask: number;
  readonly #defaultTimeoutMs: number;
  #size = 0;
  #evictions = 0;
  // Entries, by id.
  readonly #addr: Uint32Array;
  readonly #service: Uint32Array;
  readonly #server: Int32Array;
  readonly #expiresAtMs: Float64Array;
  readonly #live: Uint32Array;
  readonly #prev: Int32Array;
  readonly #next: Int32Array; // also chains the free list
  #head = EMPTY; // least recently used
  #tail = EMPTY; // most recently used
  #free = EMPTY;
  // Index: bucket -> entry id.
  readonly #buckets: Int32Array;
  readonly #bucketMask: number;
  // Per-service settings, by service id; ids past the end use the defaults.
  #serviceMask = new Uint32Array(0);
  #serviceTimeoutMs = new Float64Array(0);

  /** Creates an empty table; throws `RangeError` on invalid options. */
  constructor(options: PersistenceOptions) {
    const { capacity } = options;
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`Persistence capacity "${capacity}" is invalid: expected an integer 1..${MAX_CAPACITY}`);
    }
    const scan = options.evictionScan ?? 32;
    if (!Number.isInteger(scan) || scan < 1) {
      throw new RangeError(`Eviction scan "${scan}" is invalid: expected a positive integer`);
    }
    this.capacity = capacity;
    this.#evictionScan = scan;
    this.#defaultMask = prefixMask(options.prefixLength ?? 32);
    this.#defaultTimeoutMs = checkTimeout(options.timeoutMs ?? DEFAULT_PERSISTENCE_TIMEOUT_MS);
    this.#addr = new Uint32Array(capacity);
    this.#service = new Uint32Array(capacity);
    this.#server = new Int32Array(capacity);
    this.#expiresAtMs = new Float64Array(capacity);
    this.#live = new Uint32Array(capacity);
    this.#prev = new Int32Array(capacity);
    this.#next = new Int32Array(capacity);
    for (let id = capacity - 1; id >= 0; id--) this.#pushFree(id);
    let buckets = 2;
    while (buckets < capacity * 2) buckets *= 2;
    this.#buckets = new Int32Array(buckets).fill(EMPTY);
    this.#bucketMask = buckets - 1;
  }

  /** Number of entries, expired ones not yet dropped included. */
  get size(): number {
    return this.#size;
  }

  /** Entries dropped because the table was full (expired or not). */
  get evictions(): number {
    return this.#evictions;
  }

  /** Sets the timeout and netmask grouping of service `service` (0..65535). */
  setService(service: number, settings: ServicePersistence): void {
    if (!Number.isInteger(service) || service < 0 || service > 0xffff) {
      throw new RangeError(`Service id "${service}" is invalid: expected an integer 0..65535`);
    }
    const mask = settings.prefixLength === undefined ? undefined : prefixMask(settings.prefixLength);
    const timeoutMs = settings.timeoutMs === undefined ? undefined : checkTimeout(settings.timeoutMs);
    if (service >= this.#serviceMask.length) this.#growServices(service + 1);
    if (mask !== undefined) this.#serviceMask[service] = mask;
    if (timeoutMs !== undefined) this.#serviceTimeoutMs[service] = timeoutMs;
  }

  /**
   * The server that `addr` (uint32) is bound to for `service`, or -1 when there is no live entry.
   * A hit counts as a use: it refreshes the entry's expiry.
   */
  lookup(service: number, addr: number, nowMs: number): number {
    const bucket = this.#find(service, this.#masked(service, addr));
    if (bucket === EMPTY) return -1;
    const id = this.#buckets[bucket]!;
    if (this.#isExpired(id, nowMs)) {
      this.#removeAt(bucket);
      return -1;
    }
    this.#touch(id, nowMs);
    return this.#server[id]!;
  }

  /**
   * Binds `addr`'s network to `server` for `service` until the timeout. Rebinding to another
   * server forgets the attached-connection count (those connections belong to the old server).
   * When the table is full, evicts first an expired entry among the `evictionScan` least recently
   * used, else the least recently used entry without attached connections among them, else the
   * least recently used entry.
   */
  record(service: number, addr: number, server: number, nowMs: number): void {
    const masked = this.#masked(service, addr);
    const bucket = this.#find(service, masked);
    if (bucket !== EMPTY) {
      const id = this.#buckets[bucket]!;
      if (this.#server[id] !== server) {
        this.#server[id] = server;
        this.#live[id] = 0;
      }
      this.#touch(id, nowMs);
      return;
    }
    this.#insert(service, masked, server, nowMs);
  }

  /** Counts a connection opened through `addr`'s entry for `server`; no-op if it points elsewhere. */
  attach(service: number, addr: number, server: number): void {
    const id = this.#entryFor(service, addr, server);
    if (id !== EMPTY) this.#live[id]!++;
  }

  /**
   * Counts a connection closed that was attached to `addr`'s entry for `server`; when it was the
   * last, the timeout starts again from `nowMs`. No-op if the entry is gone or points elsewhere.
   */
  detach(service: number, addr: number, server: number, nowMs: number): void {
    const id = this.#entryFor(service, addr, server);
    if (id === EMPTY || this.#live[id] === 0) return;
    if (--this.#live[id]! === 0) this.#touch(id, nowMs);
  }

  /** Connections attached to `addr`'s entry for `service` (0 when there is none). */
  liveConnections(service: number, addr: number): number {
    const bucket = this.#find(service, this.#masked(service, addr));
    return bucket === EMPTY ? 0 : this.#live[this.#buckets[bucket]!]!;
  }

  /** Drops `addr`'s entry for `service`; returns whether there was one. */
  remove(service: number, addr: number): boolean {
    const bucket = this.#find(service, this.#masked(service, addr));
    if (bucket === EMPTY) return false;
    this.#removeAt(bucket);
    return true;
  }

  /**
   * Drops expired entries among the `maxScan` least recently used; returns how many. Meant for a
   * periodic sweep, so that the table does not wait until it is full to shed stale entries.
   */
  expire(nowMs: number, maxScan = this.#evictionScan): number {
    let removed = 0;
    let id = this.#head;
    for (let scanned = 0; id !== EMPTY && scanned < maxScan; scanned++) {
      const next = this.#next[id]!;
      if (this.#isExpired(id, nowMs)) {
        this.#removeAt(this.#find(this.#service[id]!, this.#addr[id]!));
        removed++;
      }
      id = next;
    }
    return removed;
  }

  /**
   * Picks a server for a new connection of `flow` to `service` (whose servers are `pool`) with
   * affinity: the bound server when it may still take this client (see the class comment), else a
   * fresh pick by `scheduler`, which is then recorded. Returns -1 when no server is eligible.
   * The caller attaches the connection (`attach`) once it is in the connection table.
   */
  pick(service: number, pool: ServerPool, scheduler: Scheduler, flow: Flow, nowMs: number): number {
    const masked = this.#masked(service, flow.srcAddr);
    const bucket = this.#find(service, masked);
    if (bucket !== EMPTY) {
      const id = this.#buckets[bucket]!;
      const server = this.#server[id]!;
      if (!this.#isExpired(id, nowMs) && (pool.isEligible(server) || (this.#live[id]! > 0 && pool.isServing(server)))) {
        this.#touch(id, nowMs);
        return server;
      }
      this.#removeAt(bucket);
    }
    const server = scheduler.pick(pool, flow);
    if (server !== -1) this.#insert(service, masked, server, nowMs);
    return server;
  }

  #masked(service: number, addr: number): number {
    const mask = service < this.#serviceMask.length ? this.#serviceMask[service]! : this.#defaultMask;
    return (addr & mask) >>> 0;
  }

  #timeoutMs(service: number): number {
    return service < this.#serviceTimeoutMs.length ? this.#serviceTimeoutMs[service]! : this.#defaultTimeoutMs;
  }

  #isExpired(id: number, nowMs: number): boolean {
    return this.#live[id] === 0 && this.#expiresAtMs[id]! <= nowMs;
  }

  /** The bucket holding (service, masked address), or EMPTY. */
  #find(service: number, masked: number): number {
    const buckets = this.#buckets;
    const mask = this.#bucketMask;
    for (let b = mix2(masked, service) & mask; ; b = (b + 1) & mask) {
      const id = buckets[b]!;
      if (id === EMPTY) return EMPTY;
      if (this.#addr[id] === masked && this.#service[id] === service) return b;
    }
  }

  #entryFor(service: number, addr: number, server: number): number {
    const bucket = this.#find(service, this.#masked(service, addr));
    if (bucket === EMPTY) return EMPTY;
    const id = this.#buckets[bucket]!;
    return this.#server[id] === server ? id : EMPTY;
  }

  #insert(service: number, masked: number, server: number, nowMs: number): void {
    if (this.#free === EMPTY) this.#evict(nowMs);
    const id = this.#free;
    this.#free = this.#next[id]!;
    this.#addr[id] = masked;
    this.#service[id] = service;
    this.#server[id] = server;
    this.#live[id] = 0;
    this.#expiresAtMs[id] = nowMs + this.#timeoutMs(service);
    this.#linkTail(id);
    const mask = this.#bucketMask;
    let b = mix2(masked, service) & mask;
    while (this.#buckets[b] !== EMPTY) b = (b + 1) & mask;
    this.#buckets[b] = id;
    this.#size++;
  }

  #evict(nowMs: number): void {
    let victim = EMPTY;
    let idle = EMPTY;
    let id = this.#head;
    for (let scanned = 0; id !== EMPTY && scanned < this.#evictionScan; scanned++) {
      if (this.#isExpired(id, nowMs)) {
        victim = id;
        break;
      }
      if (idle === EMPTY && this.#live[id] === 0) idle = id;
      id = this.#next[id]!;
    }
    if (victim === EMPTY) victim = idle !== EMPTY ? idle : this.#head;
    this.#removeAt(this.#find(this.#service[victim]!, this.#addr[victim]!));
    this.#evictions++;
  }

  /** Removes the entry in `bucket`: backward-shift deletion keeps every probe chain unbroken. */
  #removeAt(bucket: number): void {
    const buckets = this.#buckets;
    const mask = this.#bucketMask;
    const id = buckets[bucket]!;
    let hole = bucket;
    for (let b = (hole + 1) & mask; buckets[b] !== EMPTY; b = (b + 1) & mask) {
      const other = buckets[b]!;
      const home = mix2(this.#addr[other]!, this.#service[other]!) & mask;
      // `other` may move back into the hole only if its home is not cyclically within (hole, b].
      const homeInRange = hole <= b ? home > hole && home <= b : home > hole || home <= b;
      if (!homeInRange) {
        buckets[hole] = other;
        hole = b;
      }
    }
    buckets[hole] = EMPTY;
    this.#unlink(id);
    this.#pushFree(id);
    this.#size--;
  }

  #touch(id: number, nowMs: number): void {
    const expiresAtMs = nowMs + this.#timeoutMs(this.#service[id]!);
    if (expiresAtMs > this.#expiresAtMs[id]!) this.#expiresAtMs[id] = expiresAtMs;
    if (this.#tail !== id) {
      this.#unlink(id);
      this.#linkTail(id);
    }
  }

  #linkTail(id: number): void {
    this.#prev[id] = this.#tail;
    this.#next[id] = EMPTY;
    if (this.#tail === EMPTY) this.#head = id;
    else this.#next[this.#tail] = id;
    this.#tail = id;
  }

  #unlink(id: number): void {
    const prev = this.#prev[id]!;
    const next = this.#next[id]!;
    if (prev === EMPTY) this.#head = next;
    else this.#next[prev] = next;
    if (next === EMPTY) this.#tail = prev;
    else this.#prev[next] = prev;
  }

  #pushFree(id: number): void {
    this.#next[id] = this.#free;
    this.#free = id;
  }

  #growServices(length: number): void {
    const masks = new Uint32Array(length).fill(this.#defaultMask);
    masks.set(this.#serviceMask);
    const timeouts = new Float64Array(length).fill(this.#defaultTimeoutMs);
    timeouts.set(this.#serviceTimeoutMs);
    this.#serviceMask = masks;
    this.#serviceTimeoutMs = timeouts;
  }
}

function prefixMask(prefixLength: number): number {
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
    throw new RangeError(`Prefix length "${prefixLength}" is invalid: expected an integer 0..32`);
  }
  // A shift by 32 is a shift by 0 in JavaScript, hence the special case for /0.
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function checkTimeout(timeoutMs: number): number {
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError(`Persistence timeout "${timeoutMs}ms" is invalid: expected a positive number`);
  }
  return timeoutMs;
}
