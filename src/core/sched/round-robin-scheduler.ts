import type { Flow, Scheduler } from "./scheduler.ts";
import type { ServerPool } from "./server-pool.ts";

/**
 * Round robin (IPVS `rr`): each pick takes the next eligible server after the previous pick,
 * ignoring weights (other than 0 meaning "no new connections").
 *
 * Skipping is unbiased because the cursor remembers the last server *picked*, not a slot: with
 * servers 0,1,2 and 1 down the sequence is 0,2,0,2, never 0,2,2 (which a scheme that moves the
 * cursor to the skipped slot, or restarts at a random index, would produce). O(1) amortised;
 * O(n) worst case when most servers are ineligible.
 */
export class RoundRobinScheduler implements Scheduler {
  readonly kind = "rr";
  #last = -1;

  /** See `Scheduler.pick`. */
  pick(pool: ServerPool, _flow: Flow): number {
    const n = pool.size;
    let i = this.#last;
    for (let step = 0; step < n; step++) {
      i = i + 1 >= n ? 0 : i + 1;
      if (pool.isEligible(i)) {
        this.#last = i;
        return i;
      }
    }
    return -1;
  }
}
