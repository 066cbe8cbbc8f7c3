/**
 * Replay protection for authenticated heartbeats, after the anti-replay window of IPsec ESP
 * (RFC 4303 §3.4.3, with the bitmap kept as a ring as in RFC 6479).
 *
 * A sender numbers its heartbeats per (generation, link): `generation` changes when its process
 * restarts, and every link has its own sequence starting at 1. The same heartbeat is therefore
 * NOT sent on several links under one number; each link's copy carries its own link index and
 * seq, both inside the MAC. A copy captured on link A and injected on link B still says "link A"
 * and is checked against link A's window, where it is a replay. (Per-link numbering also lets the
 * caller judge each link's loss on its own, which one shared number across links would blur.)
 *
 * The guard keeps, per peer node, the newest generation seen and, per link within it, the highest
 * seq and a window of the WINDOW_SIZE numbers below it. A message is fresh when its seq is above
 * the highest, or inside the window and not yet seen. A newer generation is a restart: it forgets
 * every window of that node. An older generation is refused, so a captured heartbeat from before
 * the peer's restart can never be replayed; the peer must make generations grow across restarts
 * (a persisted counter, or its wall clock in ms at start if that never steps back).
 *
 * Memory is fixed: at most MAX_NODES nodes × MAX_LINKS links. A pair has one peer, so 8 leaves
 * ample room for renames; a node beyond that is refused as "unknown" instead of evicting one,
 * because eviction would reopen the windows of the evicted node to replays. Only authenticated
 * messages are ever recorded, so only holders of the cluster key can fill the table, and `forget`
 * frees a slot.
 */

/** What `ReplayGuard.check` says about a message. */
export type ReplayVerdict = "ok" | "replay" | "old-generation" | "unknown";

/** Width of each link's anti-replay window in sequence numbers (RFC 4303 §3.4.3 suggests 64). */
export const REPLAY_WINDOW_SIZE = 64;

/** Most peer nodes a guard tracks at once. */
export const REPLAY_MAX_NODES = 8;

/** Links per node (link indices 0 to 7). */
export const REPLAY_MAX_LINKS = 8;

const WORDS_PER_WINDOW = REPLAY_WINDOW_SIZE / 32;

/** Per-node state: the newest generation and, per link, the highest seq and the seen-bitmap ring. */
interface NodeState {
  name: string;
  generation: number;
  /** Highest accepted seq per link; 0 while the link has seen nothing (seqs start at 1). */
  readonly highest: Float64Array;
  /** Bit (seq mod WINDOW_SIZE) of link L is in word L * WORDS_PER_WINDOW + (bit >>> 5). */
  readonly seen: Uint32Array;
}

/**
 * Anti-replay windows for up to REPLAY_MAX_NODES peers. `check` only reads; `commit` (or `accept`)
 * records, and must only ever be given messages whose MAC verified, so that forged packets cannot
 * advance or fill a window. Link indices must be 0..7 and seq/generation safe integers (seq ≥ 1),
 * as `decodeHeartbeat` guarantees; anything else is a programming error and throws a RangeError.
 */
export class ReplayGuard {
  private readonly nodes: NodeState[] = [];

  /** Returns whether a message with these numbers would be fresh, without recording it. */
  check(node: string, generation: number, link: number, seq: number): ReplayVerdict {
    checkNumbers(generation, link, seq);
    const state = this.find(node);
    if (state === undefined) return this.nodes.length < REPLAY_MAX_NODES ? "ok" : "unknown";
    if (generation < state.generation) return "old-generation";
    if (generation > state.generation) return "ok";
    return isFresh(state, link, seq) ? "ok" : "replay";
  }

  /**
   * Records an AUTHENTICATED message as seen. Call only after the MAC verified and `check` said
   * "ok"; a message `check` would refuse is ignored, so a commit never moves a window backwards.
   */
  commit(node: string, generation: number, link: number, seq: number): void {
    if (this.check(node, generation, link, seq) !== "ok") return;
    let state = this.find(node);
    if (state === undefined) {
      state = {
        name: node,
        generation,
        highest: new Float64Array(REPLAY_MAX_LINKS),
        seen: new Uint32Array(REPLAY_MAX_LINKS * WORDS_PER_WINDOW),
      };
      this.nodes.push(state);
    } else if (generation > state.generation) {
      // A restarted peer numbers every link from 1 again: its old windows mean nothing now.
      state.generation = generation;
      state.highest.fill(0);
      state.seen.fill(0);
    }
    record(state, link, seq);
  }

  /**
   * Checks and, when fresh, records in one step; returns the verdict. Call only for AUTHENTICATED
   * messages (MAC verified), or forged packets would poison the windows.
   */
  accept(node: string, generation: number, link: number, seq: number): ReplayVerdict {
    const verdict = this.check(node, generation, link, seq);
    if (verdict === "ok") this.commit(node, generation, link, seq);
    return verdict;
  }

  /** Forgets `node` (its generation and windows), freeing its slot; returns whether it was known. */
  forget(node: string): boolean {
    const index = this.nodes.findIndex((state) => state.name === node);
    if (index < 0) return false;
    this.nodes.splice(index, 1);
    return true;
  }

  /** Returns the newest generation recorded for `node`, or undefined if it is not tracked. */
  generationOf(node: string): number | undefined {
    return this.find(node)?.generation;
  }

  private find(node: string): NodeState | undefined {
    for (const state of this.nodes) if (state.name === node) return state;
    return undefined;
  }
}

function checkNumbers(generation: number, link: number, seq: number): void {
  if (!Number.isSafeInteger(generation) || generation < 0) throw new RangeError(`Replay guard got generation "${generation}": expected an integer from 0 to 2^53-1`);
  if (!Number.isInteger(link) || link < 0 || link >= REPLAY_MAX_LINKS) throw new RangeError(`Replay guard got link "${link}": expected 0 to ${REPLAY_MAX_LINKS - 1}`);
  if (!Number.isSafeInteger(seq) || seq < 1) throw new RangeError(`Replay guard got seq "${seq}": expected an integer from 1 to 2^53-1`);
}

function isFresh(state: NodeState, link: number, seq: number): boolean {
  const highest = state.highest[link]!;
  if (seq > highest) return true;
  // RFC 4303 §3.4.3: numbers at or below the window's left edge are rejected outright.
  if (seq <= highest - REPLAY_WINDOW_SIZE) return false;
  return !testBit(state.seen, link, seq);
}

function record(state: NodeState, link: number, seq: number): void {
  const highest = state.highest[link]!;
  if (seq > highest) {
    // Slide the window: the ring slots of the numbers skipped over are stale, clear them. Past a
    // whole window's worth, every slot is stale.
    const skipped = Math.min(seq - highest, REPLAY_WINDOW_SIZE);
    for (let n = 1; n <= skipped; n++) clearBit(state.seen, link, highest + n);
    state.highest[link] = seq;
  }
  setBit(state.seen, link, seq);
}

function bitIndex(seq: number): number {
  // seq may exceed 2^32, so take the remainder in floating point, not with bit operators.
  return seq % REPLAY_WINDOW_SIZE;
}

function testBit(seen: Uint32Array, link: number, seq: number): boolean {
  const bit = bitIndex(seq);
  return (seen[link * WORDS_PER_WINDOW + (bit >>> 5)]! & (1 << (bit & 31))) !== 0;
}

function setBit(seen: Uint32Array, link: number, seq: number): void {
  const bit = bitIndex(seq);
  seen[link * WORDS_PER_WINDOW + (bit >>> 5)]! |= 1 << (bit & 31);
}

function clearBit(seen: Uint32Array, link: number, seq: number): void {
  const bit = bitIndex(seq);
  seen[link * WORDS_PER_WINDOW + (bit >>> 5)]! &= ~(1 << (bit & 31));
}
