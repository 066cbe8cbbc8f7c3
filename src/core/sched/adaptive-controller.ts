/**
 * Self-controlled distribution (`scheduler = "adaptive"`): from the response times measured per
 * server in each interval, derive the weights the `adaptive` smooth-WRR scheduler dispatches by.
 * Pure: one `adaptiveStep` per interval; the timers and the measuring live in the engine.
 * docs/adaptive.md explains the design, its parameters and how it compares with the paper's.
 *
 * Two control laws, both starting from the administrator's weights (shares ∝ weights):
 *
 * - `netkestra`, the paper's baseline: a 100-point weight table; each interval the server with
 *   the slowest smoothed response time loses one point (never below 1) and the fastest gains it.
 *   It moves one point per interval whatever the gap, so 33/33/33 → 64/32/4 takes 30 intervals.
 *
 * - `capacity` (the default) follows an estimate of each server's capacity, corrected by a trim.
 *   Capacity: with X the server's responses per second and rt their mean time, a single-queue
 *   server has rt = 1 / (μ − X) (M/M/1), so μ ≈ X + 1/rt. A saturated server (long queue, 1/rt →
 *   0) is measured by what it completes, an idle one by how fast it answers; either way the
 *   estimate depends far less on the share the server was given than its response time does, so
 *   following it gets near the answer in a step or two instead of creeping up on it through a
 *   feedback loop that overshoots. Shares ∝ capacity alone make every
 *   server equally busy, though, which with a fixed number of clients leaves equal queues
 *   everywhere, and the slow server's queue then takes longest to serve (least-connection ends
 *   there too). So each server carries a trim factor moving it towards "answers as fast as the
 *   traffic-weighted mean R": while the interval's mean rt is above R × (1 + deadband) the trim
 *   shrinks, below R / (1 + deadband) it grows, in RPROP steps (× 1.2 while the direction holds,
 *   × 0.5 when it flips, from 1 % up to `maxTrimStep`), and stays within [1 / maxTrim, maxTrim].
 *   Near equal response times a queue's rt swings steeply with its share; the step halving lets
 *   the trim settle there instead of oscillating, and the deadband keeps equal servers still.
 *
 * Shares are capacity × trim, normalised; no share is below `minShare` (a slow server keeps some
 * traffic, so it keeps being measured and wins its share back when it speeds up). Servers that are
 * not eligible (down, drained) or had no sample in the interval keep their share and stay out of
 * R; the measured ones share the rest. Weights are the shares scaled to `totalWeight` (1000: 0.1 %
 * resolution), each at least 1.
 */

/** Which control law `adaptiveStep` applies. */
export type AdaptiveMode = "capacity" | "netkestra";

/** Parameters of the controller; see the module comment for what each does. */
export interface AdaptiveParams {
  readonly mode: AdaptiveMode;
  /** Weight of an interval's measurement in the moving averages, (0, 1]; 1 = no smoothing. */
  readonly smoothing: number;
  /** Smallest share of an eligible, measured server, [0, 0.5]; capped at an equal split. */
  readonly minShare: number;
  /** capacity: relative gap to R within which a trim does not move, [0, 1) (0.5: from R / 1.5 to R × 1.5). */
  readonly deadband: number;
  /** capacity: largest trim step per interval, in log units, [0.01, 1] (0.05 ≈ ±5 %). */
  readonly maxTrimStep: number;
  /** capacity: a trim stays within [1 / maxTrim, maxTrim] (> 1). */
  readonly maxTrim: number;
  /** Sum of the weights handed to the scheduler, 100..65535. */
  readonly totalWeight: number;
}

/** The defaults: capacity, smoothing 0.3, floor 2 %, deadband 50 %, trim steps ≤ 0.05, trim ≤ ×4, 1000. */
export const DEFAULT_ADAPTIVE_PARAMS: AdaptiveParams = Object.freeze({
  mode: "capacity",
  smoothing: 0.3,
  minShare: 0.02,
  deadband: 0.5,
  maxTrimStep: 0.05,
  maxTrim: 4,
  totalWeight: 1000,
});

/** What the controller knows after an interval. Arrays are indexed by server. */
export interface AdaptiveState {
  /** Shares of traffic, summing to 1. */
  readonly shares: readonly number[];
  /** Integer weights for the scheduler (shares × totalWeight, each ≥ 1). */
  readonly weights: readonly number[];
  /** Smoothed response time in ms; null until the server's first sample. */
  readonly smoothedMs: readonly (number | null)[];
  /** capacity: smoothed capacity estimate in responses per second; null until the first sample. */
  readonly capacityPerS: readonly (number | null)[];
  /** capacity: each server's trim (natural log of the factor), its step size and last direction (-1, 0, 1). */
  readonly trim: readonly number[];
  readonly trimStep: readonly number[];
  readonly trimDirection: readonly number[];
  /** Intervals stepped so far. */
  readonly steps: number;
}

/** One server's measurements over the last interval. */
export interface AdaptiveSample {
  /** Response-time samples taken (live traffic and probes). */
  readonly count: number;
  /** Sum of those samples in ms. */
  readonly sumMs: number;
  /** Whether the server may take new connections (up, active, weight > 0). Default true. */
  readonly eligible?: boolean;
}

/** Points of Netkestra's weight table: shares move by 1/100 per interval. */
const NETKESTRA_POINTS = 100;
/** RPROP: a trim step grows by GROW while its direction holds and shrinks by SHRINK when it flips. */
const GROW = 1.2;
const SHRINK = 0.5;
/** Smallest trim step (log units, ≈ 1 %), so a settled trim can still follow a change. */
const MIN_TRIM_STEP = 0.01;
/** First trim step: small, because the capacity estimate does the large moves. */
const FIRST_TRIM_STEP = 0.02;
/** Response times below this count as this, so a 0 ms sample cannot divide by zero. */
const MIN_RT_MS = 0.01;

/**
 * The starting state: shares ∝ the administrator's `weights` (equal shares when they are all 0),
 * nothing measured yet. Throws RangeError for an empty list, a negative or non-finite weight, or
 * invalid `params`.
 */
export function initialAdaptiveState(weights: readonly number[], params: Partial<AdaptiveParams> = {}): AdaptiveState {
  const p = resolveAdaptiveParams(params);
  if (weights.length === 0) throw new RangeError("Cannot start an adaptive controller: no servers");
  for (const w of weights) {
    if (!Number.isFinite(w) || w < 0) throw new RangeError(`Weight "${w}" is invalid: expected a finite number ≥ 0`);
  }
  const total = weights.reduce((a, b) => a + b, 0);
  let shares = weights.map((w) => (total > 0 ? w / total : 1 / weights.length));
  if (p.mode === "netkestra") shares = apportion(shares, NETKESTRA_POINTS).map((points) => points / NETKESTRA_POINTS);
  const none = weights.map(() => null);
  const zero = weights.map(() => 0);
  return {
    shares, weights: apportion(shares, p.totalWeight), smoothedMs: none, capacityPerS: none,
    trim: zero, trimStep: weights.map(() => FIRST_TRIM_STEP), trimDirection: zero, steps: 0,
  };
}

/** Fills in defaults and validates; throws RangeError naming the first bad parameter. */
export function resolveAdaptiveParams(params: Partial<AdaptiveParams> = {}): AdaptiveParams {
  const p = { ...DEFAULT_ADAPTIVE_PARAMS, ...params };
  if (p.mode !== "capacity" && p.mode !== "netkestra") throw new RangeError(`Adaptive mode "${String(p.mode)}" is unknown: expected capacity or netkestra`);
  const check = (name: string, value: number, ok: boolean, expected: string) => {
    if (!Number.isFinite(value) || !ok) throw new RangeError(`Adaptive parameter ${name} "${value}" is invalid: expected ${expected}`);
  };
  check("smoothing", p.smoothing, p.smoothing > 0 && p.smoothing <= 1, "0 < smoothing ≤ 1");
  check("minShare", p.minShare, p.minShare >= 0 && p.minShare <= 0.5, "0 ≤ minShare ≤ 0.5");
  check("deadband", p.deadband, p.deadband >= 0 && p.deadband < 1, "0 ≤ deadband < 1");
  check("maxTrimStep", p.maxTrimStep, p.maxTrimStep >= MIN_TRIM_STEP && p.maxTrimStep <= 1, `${MIN_TRIM_STEP} ≤ maxTrimStep ≤ 1`);
  check("maxTrim", p.maxTrim, p.maxTrim > 1, "maxTrim > 1");
  check("totalWeight", p.totalWeight, Number.isInteger(p.totalWeight) && p.totalWeight >= 100 && p.totalWeight <= 65535, "an integer 100..65535");
  return p;
}

/**
 * One interval of `intervalMs`: folds `samples` (one per server, in the state's order) into the
 * smoothed response times and capacities, then moves the shares by `params.mode`'s law. Returns a
 * new state; never throws on any measurement (negative, NaN or infinite figures count as none).
 */
export function adaptiveStep(state: AdaptiveState, samples: readonly AdaptiveSample[], intervalMs: number, params: Partial<AdaptiveParams> = {}): AdaptiveState {
  const p = resolveAdaptiveParams(params);
  const smoothedMs = state.smoothedMs.slice();
  const capacityPerS = state.capacityPerS.slice();
  const seconds = intervalMs > 0 && Number.isFinite(intervalMs) ? intervalMs / 1000 : 1;
  const measured: number[] = [];
  const latestMs = state.shares.map(() => 0);
  for (let i = 0; i < state.shares.length; i++) {
    const s = samples[i];
    if (s === undefined || !(s.count > 0) || !Number.isFinite(s.count) || !(s.sumMs >= 0) || !Number.isFinite(s.sumMs)) continue;
    const meanMs = Math.max(MIN_RT_MS, s.sumMs / s.count);
    latestMs[i] = meanMs;
    smoothedMs[i] = smooth(smoothedMs[i] ?? null, meanMs, p.smoothing);
    // M/M/1: rt = 1 / (μ − X), so μ = X + 1 / rt (X in responses per second, rt in seconds).
    capacityPerS[i] = smooth(capacityPerS[i] ?? null, s.count / seconds + 1000 / meanMs, p.smoothing);
    if (s.eligible !== false) measured.push(i);
  }
  const next: AdaptiveState = { ...state, smoothedMs, capacityPerS, steps: state.steps + 1 };
  if (measured.length < 2) return next;
  if (p.mode === "netkestra") {
    const shares = netkestraShares(state.shares, smoothedMs, measured);
    return { ...next, shares, weights: apportion(shares, p.totalWeight) };
  }
  // The trims follow this interval's means, not the smoothed ones: the sign is all they use, and
  // the moving average's lag of a few intervals made them overshoot (see docs/adaptive.md).
  return capacityShares(next, latestMs, measured, p);
}

function smooth(old: number | null, sample: number, alpha: number): number {
  return old === null ? sample : alpha * sample + (1 - alpha) * old;
}

/** capacity: trims step towards equal response times; shares ∝ capacity × trim, then the floor. */
function capacityShares(state: AdaptiveState, rt: readonly number[], measured: readonly number[], p: AdaptiveParams): AdaptiveState {
  const shares = state.shares.slice();
  const trim = state.trim.slice();
  const trimStep = state.trimStep.slice();
  const trimDirection = state.trimDirection.slice();
  let mass = 0;
  let weighted = 0;
  for (const i of measured) {
    mass += shares[i]!;
    weighted += shares[i]! * rt[i]!;
  }
  if (!(mass > 0)) return state;
  const reference = weighted / mass;
  const band = Math.log1p(p.deadband);
  for (const i of measured) {
    const gap = Math.log(reference / rt[i]!);
    const dir = Math.abs(gap) <= band ? 0 : Math.sign(gap);
    if (dir !== 0 && dir === trimDirection[i]) trimStep[i] = Math.min(p.maxTrimStep, trimStep[i]! * GROW);
    else if (dir !== 0 && dir === -trimDirection[i]!) trimStep[i] = Math.max(MIN_TRIM_STEP, trimStep[i]! * SHRINK);
    if (dir !== 0) trimDirection[i] = dir;
    trim[i] = trim[i]! + dir * trimStep[i]!;
  }
  // Only the trims' ratios matter: centre them (share-weighted) so they cannot drift to the bound together.
  let centre = 0;
  for (const i of measured) centre += (shares[i]! / mass) * trim[i]!;
  const bound = Math.log(p.maxTrim);
  let total = 0;
  for (const i of measured) {
    trim[i] = Math.max(-bound, Math.min(bound, trim[i]! - centre));
    total += state.capacityPerS[i]! * Math.exp(trim[i]!);
  }
  for (const i of measured) shares[i] = (state.capacityPerS[i]! * Math.exp(trim[i]!) * mass) / total;
  applyFloor(shares, measured, Math.min(p.minShare, mass / measured.length));
  return { ...state, shares, weights: apportion(shares, p.totalWeight), trim, trimStep, trimDirection };
}

/**
 * Raises every share in `group` below `floor` to it, taking the difference from the others in the
 * group in proportion to what they hold above the floor (the group's total stays the same).
 */
function applyFloor(shares: number[], group: readonly number[], floor: number): void {
  if (floor <= 0) return;
  let deficit = 0;
  let spare = 0;
  for (const i of group) {
    if (shares[i]! < floor) deficit += floor - shares[i]!;
    else spare += shares[i]! - floor;
  }
  if (deficit <= 0 || spare <= 0) return;
  for (const i of group) {
    shares[i] = shares[i]! < floor ? floor : floor + ((shares[i]! - floor) * (spare - deficit)) / spare;
  }
}

/** netkestra: one point from the slowest measured server (kept ≥ 1 point) to the fastest. */
function netkestraShares(old: readonly number[], rt: readonly (number | null)[], measured: readonly number[]): number[] {
  const points = apportion(old, NETKESTRA_POINTS);
  let slow = measured[0]!;
  let fast = measured[0]!;
  for (const i of measured) {
    if (rt[i]! > rt[slow]!) slow = i;
    if (rt[i]! < rt[fast]!) fast = i;
  }
  if (rt[slow]! > rt[fast]! && points[slow]! > 1) {
    points[slow]!--;
    points[fast]!++;
  }
  return points.map((p) => p / NETKESTRA_POINTS);
}

/**
 * Whole numbers ≥ 1 in proportion to `shares`, summing to `total` where the minimum of 1 allows
 * (largest remainders; ties to the lower index, so the result is deterministic).
 */
function apportion(shares: readonly number[], total: number): number[] {
  const exact = shares.map((s) => Math.max(0, s) * total);
  const out = exact.map((x) => Math.max(1, Math.floor(x)));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((_, i) => i).sort((a, b) => exact[b]! - Math.floor(exact[b]!) - (exact[a]! - Math.floor(exact[a]!)) || a - b);
  for (let k = 0; left > 0 && k < order.length; k++, left--) out[order[k]!]!++;
  // The minimum of 1 may overshoot the total: take it back from the largest.
  while (left < 0) {
    let big = 0;
    for (let i = 1; i < out.length; i++) if (out[i]! > out[big]!) big = i;
    if (out[big]! <= 1) break;
    out[big]!--;
    left++;
  }
  return out;
}
