/**
 * The scheduler port: picks a real server for a new connection. Implementations live beside this
 * file; `createScheduler` builds one by kind.
 */
import type { ServerPool } from "./server-pool.ts";

/**
 * What a scheduler may know about a new connection. The dispatcher passes one reused object, so
 * a scheduler must not keep a reference to it.
 */
export interface Flow {
  /** Client source IPv4 address as a uint32 (network byte order read big-endian). */
  srcAddr: number;
  /** Client source port (0 for ICMP). */
  srcPort: number;
}

/**
 * Picks a server for each new connection. Contract: `pick` returns the index of a server for which
 * `pool.isEligible(index)` holds, or -1 when no server is eligible; it never allocates and never
 * throws. An instance keeps per-pool state (cursors, smooth-WRR credits, a Maglev table): use one
 * instance per pool. Changes to the pool (weights, admin states, health) apply from the next pick.
 */
export interface Scheduler {
  /** The scheduler's kind, as configured. */
  readonly kind: SchedulerKind;
  /** The index of the server for a new connection of `flow`, or -1 when none is eligible. */
  pick(pool: ServerPool, flow: Flow): number;
}

/** The scheduling algorithms a virtual service can use (`scheduler = "..."` in the config). */
export type SchedulerKind = "rr" | "wrr" | "lc" | "wlc" | "sh" | "adaptive";

/** Every scheduler kind, for validation and listings. */
export const SCHEDULER_KINDS: readonly SchedulerKind[] = ["rr", "wrr", "lc", "wlc", "sh", "adaptive"];
