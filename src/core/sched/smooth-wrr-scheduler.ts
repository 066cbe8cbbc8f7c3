import type { Flow, Scheduler } from "./scheduler.ts";
import type { ServerPool } from "./server-pool.ts";

/**
 * Smooth weighted round robin (nginx `ngx_http_upstream_get_peer`), used by `wrr` over the
 * administrator's weights and by `adaptive` over the pool's effective weights.
 *
 * Each pick adds every eligible server's weight to its credit, takes the server with the most
 * credit (lowest index on ties) and subtracts the total weight from it. Why this and not IPVS's
 * interleaved WRR: over every cycle of sum(weights) picks each server gets exactly its weight,
 * and the picks are spread as evenly as possible: 1:2 gives B,A,B repeating (Netkestra's A,B,B
 * spread, rotated), 1:3 gives B,A,B,B, while IPVS's gcd stepping sends runs of the heavier servers
 * first (3:5 gives B,B,A,B,A,B,A,B). Scaling all weights (1:2:3 vs 100:200:300) gives the same
 * sequence, so no gcd is needed. Cost is O(n) per pick with no allocation, fine for the tens of
 * servers a service has (see bench/sched-micro.ts).
 *
 * Live changes: when the pool's `version` moves (a weight, admin state or health changed), all
 * credits are reset, so the new weights start a fresh cycle on the next pick.
 */
export class SmoothWrrScheduler implements Scheduler {
  readonly kind: "wrr" | "adaptive";
  #pool: ServerPool | null = null;
  #version = -1;
  #credit = new Float64Array(0);

  /** A `wrr` scheduler, or `adaptive` when `useEffectiveWeights` (weights set by a controller). */
  constructor(useEffectiveWeights = false) {
    this.kind = useEffectiveWeights ? "adaptive" : "wrr";
  }

  /** See `Scheduler.pick`. */
  pick(pool: ServerPool, _flow: Flow): number {
    if (pool !== this.#pool || pool.version !== this.#version) this.#reset(pool);
    const picked = this.#pickBy(pool, this.kind === "adaptive");
    // An adaptive controller that drove every eligible server's effective weight to 0 must not
    // take the service down: fall back to the administrator's weights.
    return picked === -1 && this.kind === "adaptive" ? this.#pickBy(pool, false) : picked;
  }

  #pickBy(pool: ServerPool, effective: boolean): number {
    const credit = this.#credit;
    const n = pool.size;
    let total = 0;
    let best = -1;
    let bestCredit = 0;
    for (let i = 0; i < n; i++) {
      if (!pool.isEligible(i)) continue;
      const weight = effective ? pool.effectiveWeight(i) : pool.weight(i);
      if (weight === 0) continue;
      const c = credit[i]! + weight;
      credit[i] = c;
      total += weight;
      if (best === -1 || c > bestCredit) {
        best = i;
        bestCredit = c;
      }
    }
    if (best !== -1) credit[best] = bestCredit - total;
    return best;
  }

  #reset(pool: ServerPool): void {
    if (this.#credit.length < pool.size) this.#credit = new Float64Array(Math.max(pool.size, 8));
    else this.#credit.fill(0);
    this.#pool = pool;
    this.#version = pool.version;
  }
}
