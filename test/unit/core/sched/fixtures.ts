/** Shared helpers for the scheduler tests: flows, addresses, runs, a seeded address stream. */
import type { Flow, Scheduler } from "../../../../src/core/sched/scheduler.ts";
import type { ServerPool } from "../../../../src/core/sched/server-pool.ts";
import { mix32 } from "../../../../src/core/sched/hash.ts";

/** Parses dotted-quad IPv4 into a uint32. */
export function ip(text: string): number {
  const parts = text.split(".").map(Number);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** A flow from a client address (dotted quad or uint32) and port. */
export function flow(addr: string | number, srcPort = 40000): Flow {
  return { srcAddr: typeof addr === "string" ? ip(addr) : addr >>> 0, srcPort };
}

/** `count` picks from `scheduler` on `pool`, all for the same client. */
export function picks(scheduler: Scheduler, pool: ServerPool, count: number): number[] {
  const f = flow("192.0.2.1");
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(scheduler.pick(pool, f));
  return out;
}

/** How often each of servers 0..n-1 appears in `sequence`. */
export function histogram(sequence: readonly number[], n: number): number[] {
  const counts = new Array<number>(n).fill(0);
  for (const s of sequence) counts[s]!++;
  return counts;
}

/** The longest run of one server in `sequence`, cyclically (the sequence repeats). */
export function maxRun(sequence: readonly number[]): number {
  let best = 0;
  let run = 0;
  for (let i = 0; i < sequence.length * 2; i++) {
    const here = sequence[i % sequence.length];
    run = i > 0 && here === sequence[(i - 1) % sequence.length] ? run + 1 : 1;
    best = Math.max(best, Math.min(run, sequence.length));
  }
  return best;
}

/** A deterministic pseudo-random client address for `i` (distinct and well spread). */
export function clientAddr(i: number): number {
  return mix32(i + 0x1000);
}

/** Letters for server indices, to compare sequences readably: [0,1,1] -> "ABB". */
export function letters(sequence: readonly number[]): string {
  return sequence.map((s) => (s < 0 ? "-" : String.fromCharCode(65 + s))).join("");
}
