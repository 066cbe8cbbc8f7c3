import type { Flow, Scheduler } from "./scheduler.ts";
import type { ServerPool } from "./server-pool.ts";

/**
 * Least connections (IPVS `lc`) and weighted least connections (IPVS `wlc`).
 *
 * Both rank servers by IPVS's overhead, active * 256 + inactive (`ip_vs_dest_conn_overhead`):
 * `lc` takes the smallest overhead; `wlc` the smallest overhead / weight, compared by cross
 * multiplication as `ip_vs_wlc_schedule` does (`a.overhead * b.weight < b.overhead * a.weight`),
 * so there is no division and no rounding. The products stay exact doubles while
 * overhead * 65535 < 2^53, i.e. below ~5 * 10^8 active connections per server.
 *
 * Ties: IPVS takes the first server in list order, which sends every connection of an idle pool
 * to server 0. Here the scan starts after the previous pick and takes the first strictly better
 * server, so equal servers are taken in round-robin order. O(n) per pick, no allocation.
 */
export class LeastConnectionScheduler implements Scheduler {
  readonly kind: "lc" | "wlc";
  #last = -1;

  /** An `lc` scheduler, or `wlc` when `weighted`. */
  constructor(weighted = false) {
    this.kind = weighted ? "wlc" : "lc";
  }

  /** See `Scheduler.pick`. */
  pick(pool: ServerPool, _flow: Flow): number {
    const n = pool.size;
    const weighted = this.kind === "wlc";
    let best = -1;
    let bestOverhead = 0;
    let bestWeight = 1;
    let i = this.#last;
    for (let step = 0; step < n; step++) {
      i = i + 1 >= n ? 0 : i + 1;
      if (!pool.isEligible(i)) continue;
      const overhead = pool.overhead(i);
      const weight = weighted ? pool.weight(i) : 1;
      if (best === -1 || overhead * bestWeight < bestOverhead * weight) {
        best = i;
        bestOverhead = overhead;
        bestWeight = weight;
      }
    }
    if (best !== -1) this.#last = best;
    return best;
  }
}
