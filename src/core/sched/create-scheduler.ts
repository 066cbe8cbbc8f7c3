import { LeastConnectionScheduler } from "./least-connection-scheduler.ts";
import { MaglevScheduler } from "./maglev-scheduler.ts";
import { RoundRobinScheduler } from "./round-robin-scheduler.ts";
import type { Scheduler, SchedulerKind } from "./scheduler.ts";
import { SmoothWrrScheduler } from "./smooth-wrr-scheduler.ts";

/** Options for `createScheduler`; each applies only to the kinds named. */
export interface SchedulerOptions {
  /** `sh`: prime size of the Maglev lookup table (e.g. 4093 or 65537). Default 65537. */
  readonly shTableSize?: number;
  /** `sh`: also hash the client's source port (IPVS `sh-port`). Default false. */
  readonly shHashPort?: boolean;
}

/**
 * Builds a fresh scheduler of `kind`, to be used for one pool. `adaptive` is, for now, smooth WRR
 * over the pool's effective weights (`ServerPool.setEffectiveWeight`): the hook through which
 * Netkestra's self-controlled distribution (a later issue) will steer it. Throws `RangeError`
 * for an unknown kind or invalid options.
 */
export function createScheduler(kind: SchedulerKind, options: SchedulerOptions = {}): Scheduler {
  switch (kind) {
    case "rr":
      return new RoundRobinScheduler();
    case "wrr":
      return new SmoothWrrScheduler(false);
    case "adaptive":
      return new SmoothWrrScheduler(true);
    case "lc":
      return new LeastConnectionScheduler(false);
    case "wlc":
      return new LeastConnectionScheduler(true);
    case "sh":
      return new MaglevScheduler({ tableSize: options.shTableSize, hashPort: options.shHashPort });
    default:
      throw new RangeError(`Scheduler "${String(kind)}" is unknown: expected rr, wrr, lc, wlc, sh or adaptive`);
  }
}
