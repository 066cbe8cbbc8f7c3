/**
 * The real servers of one virtual service, as indices 0..size-1, in flat typed arrays so that the
 * schedulers read them on the per-connection path without allocating.
 */

/**
 * Operator state of a server. `active`: takes new connections. `drain`: takes no new connections,
 * existing ones continue (IPVS "quiesce"). `disabled`: takes nothing; the dispatcher may drop its
 * existing connections.
 */
export type AdminState = "active" | "drain" | "disabled";

/** How one server enters a pool; omitted fields take the defaults shown. */
export interface ServerSpec {
  /** 0..65535; 0 takes no new connections (IPVS quiescent weight). Default 1. */
  readonly weight?: number;
  /** Default `active`. */
  readonly admin?: AdminState;
  /** Health as last reported by the monitors. Default `true` (a server is up until proven down). */
  readonly up?: boolean;
  /** Stable identity for consistent hashing (see `serverKey`); default the server's index. */
  readonly key?: number;
}

const ADMIN_CODES: Readonly<Record<AdminState, number>> = { active: 0, drain: 1, disabled: 2 };
const ADMIN_NAMES: readonly AdminState[] = ["active", "drain", "disabled"];

/** Largest weight a server may have; weights are stored as uint16. */
export const MAX_WEIGHT = 65535;

/**
 * A pool of servers with weights, admin states, health, and connection counts.
 *
 * Contract: indices are stable for the pool's lifetime: servers are only appended, never removed
 * (a server dropped from the configuration is set `disabled`), so the connection table may keep
 * indices. Every change that affects scheduling (weight, effective weight, admin state, health,
 * a new server) increments `version`; schedulers compare it on each pick and adapt on the very next
 * pick, without a restart. Connection counts do not change `version`: lc/wlc read them live.
 * Setters validate and throw `RangeError`; the counters (`onConnect`, ...) are for the packet path
 * and never throw on a valid index.
 */
export class ServerPool {
  #size = 0;
  #version = 0;
  #eligibleCount = 0;
  #weight = new Uint16Array(4);
  #effectiveWeight = new Uint16Array(4);
  #admin = new Uint8Array(4);
  #up = new Uint8Array(4);
  #eligible = new Uint8Array(4);
  #key = new Uint32Array(4);
  #activeConns = new Uint32Array(4);
  #inactiveConns = new Uint32Array(4);

  /** Creates a pool holding `specs` as servers 0..specs.length-1. */
  constructor(specs: readonly ServerSpec[] = []) {
    for (const spec of specs) this.add(spec);
  }

  /** Number of servers (indices 0..size-1). */
  get size(): number {
    return this.#size;
  }

  /** Increments on every change that affects scheduling; never on connection counts. */
  get version(): number {
    return this.#version;
  }

  /** Number of servers that may take a new connection now (see `isEligible`). */
  get eligibleCount(): number {
    return this.#eligibleCount;
  }

  /** Appends a server and returns its index. */
  add(spec: ServerSpec = {}): number {
    const weight = spec.weight ?? 1;
    checkWeight(weight);
    const admin = spec.admin ?? "active";
    checkAdmin(admin);
    if (this.#size === this.#weight.length) this.#grow(this.#size * 2);
    const i = this.#size++;
    this.#weight[i] = weight;
    this.#effectiveWeight[i] = weight;
    this.#admin[i] = ADMIN_CODES[admin];
    this.#up[i] = spec.up === false ? 0 : 1;
    this.#key[i] = spec.key === undefined ? i : spec.key >>> 0;
    this.#activeConns[i] = 0;
    this.#inactiveConns[i] = 0;
    this.#refresh(i);
    return i;
  }

  /** The administrator's weight of server `i` (0..65535); an unknown index reads as 0. */
  weight(i: number): number {
    return this.#weight[i] ?? 0;
  }

  /**
   * Sets the administrator's weight of server `i`; also resets its effective weight to `weight`,
   * because an operator's explicit change overrides whatever the adaptive controller had derived.
   */
  setWeight(i: number, weight: number): void {
    this.#check(i);
    checkWeight(weight);
    this.#weight[i] = weight;
    this.#effectiveWeight[i] = weight;
    this.#refresh(i);
  }

  /** The adaptive scheduler's weight for server `i`; equals `weight(i)` until set; unknown: 0. */
  effectiveWeight(i: number): number {
    return this.#effectiveWeight[i] ?? 0;
  }

  /** Sets the adaptive scheduler's weight for server `i` (0..65535); the hook for the controller. */
  setEffectiveWeight(i: number, weight: number): void {
    this.#check(i);
    checkWeight(weight);
    if (this.#effectiveWeight[i] === weight) return;
    this.#effectiveWeight[i] = weight;
    this.#version++;
  }

  /** The admin state of server `i`. */
  admin(i: number): AdminState {
    return ADMIN_NAMES[this.#admin[this.#check(i)]!]!;
  }

  /** Sets the admin state of server `i`; takes effect on the next pick. */
  setAdmin(i: number, admin: AdminState): void {
    this.#check(i);
    checkAdmin(admin);
    this.#admin[i] = ADMIN_CODES[admin];
    this.#refresh(i);
  }

  /** Whether the monitors consider server `i` up; an unknown index reads as down. */
  isUp(i: number): boolean {
    return this.#up[i] === 1;
  }

  /** Records the monitors' verdict for server `i`; takes effect on the next pick. */
  setUp(i: number, up: boolean): void {
    this.#check(i);
    this.#up[i] = up ? 1 : 0;
    this.#refresh(i);
  }

  /** The consistent-hash identity of server `i`. */
  key(i: number): number {
    return this.#key[this.#check(i)]!;
  }

  /** Whether server `i` may take a new connection: weight > 0, `active`, and up. No bounds check. */
  isEligible(i: number): boolean {
    return this.#eligible[i] === 1;
  }

  /**
   * Whether server `i` still serves existing connections: up and not `disabled` (so `drain` and
   * weight 0 qualify). Used by persistence to keep sticky clients of a draining server.
   */
  isServing(i: number): boolean {
    return this.#up[i] === 1 && this.#admin[i] !== ADMIN_CODES.disabled;
  }

  /** Active (established) connections to server `i`. No bounds check. */
  activeConns(i: number): number {
    return this.#activeConns[i]!;
  }

  /** Inactive (not established: handshake, closing, TIME_WAIT) connections to server `i`. */
  inactiveConns(i: number): number {
    return this.#inactiveConns[i]!;
  }

  /**
   * IPVS connection overhead of server `i`: active * 256 + inactive (ip_vs_dest_conn_overhead),
   * so that idle TIME_WAIT entries weigh far less than live connections.
   */
  overhead(i: number): number {
    return this.#activeConns[i]! * 256 + this.#inactiveConns[i]!;
  }

  /** Counts a new connection to server `i`, active unless `inactive` (e.g. TCP still in SYN). */
  onConnect(i: number, inactive = false): void {
    if (inactive) this.#inactiveConns[i]!++;
    else this.#activeConns[i]!++;
  }

  /** Moves one connection of server `i` from inactive to active (TCP reached ESTABLISHED). */
  onEstablished(i: number): void {
    if (this.#inactiveConns[i]! > 0) this.#inactiveConns[i]!--;
    this.#activeConns[i]!++;
  }

  /** Moves one connection of server `i` from active to inactive (TCP left ESTABLISHED: FIN, RST). */
  onInactive(i: number): void {
    if (this.#activeConns[i]! > 0) this.#activeConns[i]!--;
    this.#inactiveConns[i]!++;
  }

  /** Forgets one connection of server `i` that was active (or inactive when `inactive`). */
  onDisconnect(i: number, inactive = false): void {
    // Clamp at zero instead of wrapping: a counter that went to 4294967295 would make lc/wlc shun
    // the server for good, whereas a miscount of one is harmless.
    if (inactive) {
      if (this.#inactiveConns[i]! > 0) this.#inactiveConns[i]!--;
    } else if (this.#activeConns[i]! > 0) {
      this.#activeConns[i]!--;
    }
  }

  #check(i: number): number {
    if (!Number.isInteger(i) || i < 0 || i >= this.#size) {
      throw new RangeError(`Server index "${i}" is out of range: pool has ${this.#size} servers`);
    }
    return i;
  }

  #refresh(i: number): void {
    const eligible = this.#weight[i]! > 0 && this.#admin[i] === ADMIN_CODES.active && this.#up[i] === 1 ? 1 : 0;
    this.#eligibleCount += eligible - this.#eligible[i]!;
    this.#eligible[i] = eligible;
    this.#version++;
  }

  #grow(capacity: number): void {
    this.#weight = growU16(this.#weight, capacity);
    this.#effectiveWeight = growU16(this.#effectiveWeight, capacity);
    this.#admin = growU8(this.#admin, capacity);
    this.#up = growU8(this.#up, capacity);
    this.#eligible = growU8(this.#eligible, capacity);
    this.#key = growU32(this.#key, capacity);
    this.#activeConns = growU32(this.#activeConns, capacity);
    this.#inactiveConns = growU32(this.#inactiveConns, capacity);
  }
}

function checkWeight(weight: number): void {
  if (!Number.isInteger(weight) || weight < 0 || weight > MAX_WEIGHT) {
    throw new RangeError(`Weight "${weight}" is invalid: expected an integer 0..${MAX_WEIGHT}`);
  }
}

function checkAdmin(admin: string): void {
  if (!Object.hasOwn(ADMIN_CODES, admin)) {
    throw new RangeError(`Admin state "${admin}" is invalid: expected active, drain or disabled`);
  }
}

function growU8(old: Uint8Array, capacity: number): Uint8Array<ArrayBuffer> {
  const next = new Uint8Array(capacity);
  next.set(old);
  return next;
}

function growU16(old: Uint16Array, capacity: number): Uint16Array<ArrayBuffer> {
  const next = new Uint16Array(capacity);
  next.set(old);
  return next;
}

function growU32(old: Uint32Array, capacity: number): Uint32Array<ArrayBuffer> {
  const next = new Uint32Array(capacity);
  next.set(old);
  return next;
}
