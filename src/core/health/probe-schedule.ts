/**
 * When to probe: a fixed interval plus random jitter, so that the probes of many servers (and of
 * two appliances) drift apart instead of marching in step. Randomness is injected so that tests
 * and the engine's fake clock stay deterministic.
 */

import type { Monitor } from "../config/resolve-config.ts";

/** A source of uniform numbers in [0, 1), such as `Math.random`. */
export type RandomUnit = () => number;

// A value in [0, 1) whatever the source returns: out-of-range or NaN values are a bug elsewhere, not a reason to probe never or twice at once.
function unit(random: RandomUnit): number {
  const r = random();
  if (r >= 0 && r < 1) return r;
  return r >= 1 ? 1 - 2 ** -53 : 0;
}

/** Delay from one probe's start to the next: `interval` plus a uniform whole number of ms in [0, `jitter`]. */
export function nextProbeDelayMs(monitor: Pick<Monitor, "interval" | "jitter">, random: RandomUnit): number {
  return monitor.interval + Math.floor(unit(random) * (monitor.jitter + 1));
}

/**
 * Delay before the first probe of target `index` of `count`: each target gets its own slice of
 * whole milliseconds of one interval and a random point within it, so N first probes spread over
 * [0, `interval`) instead of all starting at once. Throws RangeError unless 0 <= index < count.
 */
export function initialProbeDelayMs(monitor: Pick<Monitor, "interval">, index: number, count: number, random: RandomUnit): number {
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`Invalid probe slot "${index}" of "${count}": expected a whole number from 0 to count - 1`);
  }
  // Integer bounds, so that rounding can never push a delay into the next slice or interval.
  const lo = Math.floor((index * monitor.interval) / count);
  const hi = Math.floor(((index + 1) * monitor.interval) / count);
  return hi <= lo ? lo : Math.min(hi - 1, lo + Math.floor(unit(random) * (hi - lo)));
}
