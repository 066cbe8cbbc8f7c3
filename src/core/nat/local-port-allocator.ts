/**
 * Local (source) ports for fullnat: the dispatcher rewrites a client's source to one of its local
 * addresses and a port from a pool, so the server's reply tuple (server:port → local:port) names
 * exactly one connection. Pools are per (protocol, server address, server port, local address):
 * the same local port may serve different servers at once because their 5-tuples differ.
 *
 * Each pool is a FIFO ring (Uint16Array) of its free ports, filled in a shuffled order when the
 * pool is first used, plus an in-use bitmap: allocate pops the head, release pushes the tail, both
 * O(1) with no allocation. FIFO reuse means a released port waits behind every other free port,
 * which keeps a just-closed tuple out of use as long as possible (the server may still hold it in
 * TIME_WAIT). The bitmap makes a double release or a release of a foreign port a no-op (false).
 * ICMP echo identifiers use the same pools with `proto` = 1.
 *
 * Memory: 2 B per port in the range + 8 KiB bitmap per pool (about 137 KiB for 1024..65535);
 * pools exist only for servers that got connections and for local addresses that were needed.
 */

/** Options of a `LocalPortAllocator`. */
export interface LocalPortAllocatorOptions {
  /** The dispatcher's local (SNAT) addresses as unsigned 32-bit IPv4 numbers, in spill order. */
  localAddrs: readonly number[];
  /** Lowest port handed out. Default 1024. */
  portMin?: number;
  /** Highest port handed out. Default 65535. */
  portMax?: number;
  /** Seed of the shuffle that randomizes port order; default random. */
  seed?: number;
}

class PortPool {
  /** Free ports live in ring[head .. head + free) (mod size). */
  readonly ring: Uint16Array;
  readonly inUse = new Uint32Array(2048);
  head = 0;
  free: number;

  constructor(portMin: number, size: number, rand: () => number) {
    const ring = new Uint16Array(size);
    for (let i = 0; i < size; i++) ring[i] = portMin + i;
    // Fisher–Yates, so a pool's ports come out in an order an outsider cannot predict.
    for (let i = size - 1; i > 0; i--) {
      const j = rand() % (i + 1);
      const t = ring[i]!;
      ring[i] = ring[j]!;
      ring[j] = t;
    }
    this.ring = ring;
    this.free = size;
  }
}

/** Hash of a server key; servers come from configuration, not from the wire, so no seed is needed. */
function keyHash(addr: number, rest: number): number {
  const h = Math.imul(addr ^ Math.imul(rest, 0x85ebca6b), 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

/** Encodes the local address index and port of an allocation in one non-negative number. */
function lease(addrIndex: number, port: number): number {
  return addrIndex * 65536 + port;
}

/** Allocates fullnat local ports per (protocol, server, local address) without collisions. */
export class LocalPortAllocator {
  /** Number of ports currently allocated across all pools. */
  allocated = 0;
  /** Number of `allocate` calls that found every pool of the server exhausted. */
  failures = 0;

  private readonly addrs: Uint32Array;
  private readonly portMin: number;
  private readonly size: number;
  private readonly pools: (PortPool | undefined)[] = [];
  private rngState: number;
  // Server keys → server slot: open addressing over (addr, port | proto << 16 | 1 << 24).
  private keyAddr = new Uint32Array(16);
  private keyRest = new Uint32Array(16);
  private keySlot = new Int32Array(16);
  private servers = 0;

  /** Throws RangeError for an empty address list or an invalid port range. */
  constructor(options: LocalPortAllocatorOptions) {
    const portMin = options.portMin ?? 1024, portMax = options.portMax ?? 65535;
    if (options.localAddrs.length === 0 || options.localAddrs.length > 32767) {
      throw new RangeError(`Invalid local address list: expected 1 to 32767 addresses, got "${options.localAddrs.length}"`);
    }
    if (!Number.isInteger(portMin) || !Number.isInteger(portMax) || portMin < 1 || portMax > 65535 || portMin > portMax) {
      throw new RangeError(`Invalid local port range "${portMin}-${portMax}": expected 1 ≤ min ≤ max ≤ 65535`);
    }
    this.addrs = Uint32Array.from(options.localAddrs, (a) => a >>> 0);
    this.portMin = portMin;
    this.size = portMax - portMin + 1;
    this.rngState = (options.seed ?? Math.random() * 2 ** 32) >>> 0 || 0x9e3779b9;
  }

  /** Number of local addresses. */
  get addressCount(): number {
    return this.addrs.length;
  }

  /** The local address (u32) of a lease returned by `allocate`. */
  leaseAddr(leaseValue: number): number {
    return this.addrs[Math.floor(leaseValue / 65536)]!;
  }

  /** The local port of a lease returned by `allocate`. */
  leasePort(leaseValue: number): number {
    return leaseValue % 65536;
  }

  /**
   * Reserves a local address and port for a new connection to server `serverAddr:serverPort`
   * over `proto`. Tries the local addresses in order, spilling to the next when one's pool is
   * exhausted. Returns a lease (read it with `leaseAddr` / `leasePort`) or -1
   * when every pool is exhausted (the caller drops the packet and counts `no_local_port`).
   */
  allocate(proto: number, serverAddr: number, serverPort: number): number {
    const slot = this.serverSlot(proto, serverAddr >>> 0, serverPort, true);
    const n = this.addrs.length;
    for (let a = 0; a < n; a++) {
      let pool = this.pools[slot * n + a];
      if (pool === undefined) {
        pool = new PortPool(this.portMin, this.size, () => this.random());
        this.pools[slot * n + a] = pool;
      }
      if (pool.free === 0) continue;
      const port = pool.ring[pool.head]!;
      pool.head = pool.head + 1 === this.size ? 0 : pool.head + 1;
      pool.free--;
      pool.inUse[port >>> 5] = pool.inUse[port >>> 5]! | (1 << (port & 31));
      this.allocated++;
      return lease(a, port);
    }
    this.failures++;
    return -1;
  }

  /**
   * Returns a port to its pool once its connection is gone. Returns false (and changes nothing)
   * if that port was not allocated for this server and local address.
   */
  release(proto: number, serverAddr: number, serverPort: number, localAddr: number, localPort: number): boolean {
    const pool = this.poolOf(proto, serverAddr, serverPort, localAddr);
    if (pool === undefined || !this.isSet(pool, localPort)) return false;
    pool.inUse[localPort >>> 5] = pool.inUse[localPort >>> 5]! & ~(1 << (localPort & 31));
    let tail = pool.head + pool.free;
    if (tail >= this.size) tail -= this.size;
    pool.ring[tail] = localPort;
    pool.free++;
    this.allocated--;
    return true;
  }

  /** True if `localAddr:localPort` is currently allocated for `proto` to `serverAddr:serverPort`. */
  isAllocated(proto: number, serverAddr: number, serverPort: number, localAddr: number, localPort: number): boolean {
    const pool = this.poolOf(proto, serverAddr, serverPort, localAddr);
    return pool !== undefined && this.isSet(pool, localPort);
  }

  private isSet(pool: PortPool, port: number): boolean {
    if (!Number.isInteger(port) || port < this.portMin || port >= this.portMin + this.size) return false;
    return (pool.inUse[port >>> 5]! & (1 << (port & 31))) !== 0;
  }

  private poolOf(proto: number, serverAddr: number, serverPort: number, localAddr: number): PortPool | undefined {
    const a = this.addrs.indexOf(localAddr >>> 0);
    if (a < 0) return undefined;
    const slot = this.serverSlot(proto, serverAddr >>> 0, serverPort, false);
    return slot < 0 ? undefined : this.pools[slot * this.addrs.length + a];
  }

  /** xorshift32: cheap, seeded, good enough to shuffle port order (not a secret). */
  private random(): number {
    let x = this.rngState;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.rngState = x >>> 0;
    return this.rngState;
  }

  private serverSlot(proto: number, addr: number, port: number, create: boolean): number {
    const rest = ((port & 0xffff) | ((proto & 0xff) << 16) | (1 << 24)) >>> 0;
    const mask = this.keyAddr.length - 1;
    let i = keyHash(addr, rest) & mask;
    for (;;) {
      if (this.keyRest[i] === 0) break;
      if (this.keyAddr[i] === addr && this.keyRest[i] === rest) return this.keySlot[i]!;
      i = (i + 1) & mask;
    }
    if (!create) return -1;
    const slot = this.servers++;
    this.keyAddr[i] = addr;
    this.keyRest[i] = rest;
    this.keySlot[i] = slot;
    // Keep the key table at most half full; growing happens only when a new server appears.
    if (this.servers * 2 > this.keyAddr.length) this.growKeys();
    return slot;
  }

  private growKeys(): void {
    const oldAddr = this.keyAddr, oldRest = this.keyRest, oldSlot = this.keySlot;
    const size = oldAddr.length * 2, mask = size - 1;
    this.keyAddr = new Uint32Array(size);
    this.keyRest = new Uint32Array(size);
    this.keySlot = new Int32Array(size);
    for (let j = 0; j < oldAddr.length; j++) {
      if (oldRest[j] === 0) continue;
      let i = keyHash(oldAddr[j]!, oldRest[j]!) & mask;
      while (this.keyRest[i] !== 0) i = (i + 1) & mask;
      this.keyAddr[i] = oldAddr[j]!;
      this.keyRest[i] = oldRest[j]!;
      this.keySlot[i] = oldSlot[j]!;
    }
  }
}
