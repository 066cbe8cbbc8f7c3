/** Commands the main thread sends to the packet Worker. */
export const ControlOp = {
  Stop: 1,
  SetWeight: 2,
  SetAdmin: 3,
  SetUp: 4,
  /** The adaptive controller's weight of a server: (service, server, weight). */
  SetAdaptiveWeight: 5,
} as const;

/** Numeric admin states for `SetAdmin` (strings cannot cross an Int32Array). */
export const ADMIN_STATES = ["active", "drain", "disabled"] as const;

const SLOTS = 1024;
const WORDS = 4;
const HEADER = 2; // [written, read]

/**
 * A single-producer, single-consumer command ring in a SharedArrayBuffer: the main thread
 * `send`s, the packet Worker `drain`s between batches with one atomic load when idle. It lets the
 * packet loop run without ever yielding to its event loop (a 0 ms timer costs about a millisecond
 * of lost forwarding in Bun). Contract: `send` returns false when the ring is full.
 */
export class ControlRing {
  readonly buffer: SharedArrayBuffer;
  private readonly words: Int32Array;

  constructor(buffer?: SharedArrayBuffer) {
    this.buffer = buffer ?? new SharedArrayBuffer((HEADER + SLOTS * WORDS) * 4);
    this.words = new Int32Array(this.buffer);
  }

  /** Queues one command (op and up to three integer arguments); false when full. */
  send(op: number, a = 0, b = 0, c = 0): boolean {
    const w = this.words;
    const written = Atomics.load(w, 0);
    if (written - Atomics.load(w, 1) >= SLOTS) return false;
    const at = HEADER + (written % SLOTS) * WORDS;
    w[at] = op;
    w[at + 1] = a;
    w[at + 2] = b;
    w[at + 3] = c;
    Atomics.store(w, 0, written + 1);
    return true;
  }

  /** Hands each queued command to `apply` in order; returns how many there were. */
  drain(apply: (op: number, a: number, b: number, c: number) => void): number {
    const w = this.words;
    const written = Atomics.load(w, 0);
    let read = Atomics.load(w, 1);
    const n = written - read;
    while (read < written) {
      const at = HEADER + (read % SLOTS) * WORDS;
      apply(w[at]!, w[at + 1]!, w[at + 2]!, w[at + 3]!);
      read++;
    }
    if (n > 0) Atomics.store(w, 1, read);
    return n;
  }
}
