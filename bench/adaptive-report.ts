/**
 * Figures and report of `bench/adaptive.ts`, apart from the running: the per-second samples the
 * driver printed become shares, the 10-second weight table (Netkestra's Table 3), the convergence
 * time, and one JSON summary line. Pure functions of plain data.
 */

/** One line the driver printed (see bench/adaptive-driver.ts), plus its wall-clock time. */
export interface DriverSample {
  /** Wall-clock ms when the driver printed it. */
  readonly atMs: number;
  readonly weights: readonly number[];
  readonly connections: readonly number[];
  readonly rtSumMs: readonly number[];
  readonly rtCount: readonly number[];
}

/** What bench/adaptive-client.ts wrote: every response's completion time and latency. */
export interface ClientRun {
  readonly startMs: number;
  readonly endMs: number;
  /** [wall-clock completion ms, latency ms] per response. */
  readonly done: readonly (readonly [number, number])[];
  readonly errors: number;
}

/** The client's figures over one window of the load. */
export interface LoadFigures {
  readonly requestsPerS: number;
  readonly meanMs: number;
  readonly p99Ms: number;
  /** Failed connections over the whole run. */
  readonly errors: number;
  readonly fromS: number;
  readonly seconds: number;
}

/** Throughput, mean and p99 of the responses completed in [fromS, untilS) seconds of load. */
export function loadFigures(run: ClientRun, fromS: number, untilS: number): LoadFigures | null {
  const a = run.startMs + fromS * 1000;
  const b = run.startMs + untilS * 1000;
  const latencies = run.done.filter(([t]) => t >= a && t < b).map(([, l]) => l).sort((x, y) => x - y);
  if (latencies.length === 0) return null;
  return {
    requestsPerS: latencies.length / (untilS - fromS),
    meanMs: latencies.reduce((sum, l) => sum + l, 0) / latencies.length,
    p99Ms: latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)]!,
    errors: run.errors,
    fromS,
    seconds: untilS - fromS,
  };
}

/** Everything one scheduler's phase produced. */
export interface PhaseResult {
  readonly name: string;
  /** Wall-clock ms when the client load started. */
  readonly loadStartMs: number;
  readonly samples: readonly DriverSample[];
  /** Load before the measured part (adaptive: the convergence time), or null. */
  readonly warm: LoadFigures | null;
  readonly measured: LoadFigures | null;
  readonly notes: readonly string[];
}

/** Convergence tolerance in share points (the issue's target: within 5 points of the final shares). */
export const CONVERGE_POINTS = 5;

/** Shares in percent of `weights`. */
export function shares(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w) => (total > 0 ? (100 * w) / total : 0));
}

/** The last sample at or before `tS` seconds of load (the first one for earlier times), or undefined. */
export function sampleAt(phase: PhaseResult, tS: number): DriverSample | undefined {
  const limit = phase.loadStartMs + tS * 1000;
  let found: DriverSample | undefined;
  for (const s of phase.samples) if (s.atMs <= limit || found === undefined) found = s;
  return found;
}

/** Samples during the load's first `untilS` seconds, with their time in seconds of load. */
function during(phase: PhaseResult, untilS: number): { tS: number; shares: number[] }[] {
  return phase.samples
    .map((s) => ({ tS: (s.atMs - phase.loadStartMs) / 1000, shares: shares(s.weights) }))
    .filter((s) => s.tS >= 0 && s.tS <= untilS + 0.5);
}

/** Mean weight shares over [fromS, untilS] seconds of load: the "final shares". */
export function finalShares(phase: PhaseResult, fromS: number, untilS: number): number[] | null {
  const rows = during(phase, untilS).filter((s) => s.tS >= fromS);
  if (rows.length === 0) return null;
  return rows[0]!.shares.map((_, i) => rows.reduce((a, r) => a + r.shares[i]!, 0) / rows.length);
}

/**
 * Seconds of load until the weight shares came within `CONVERGE_POINTS` of `final` and stayed there
 * until `untilS` (whole seconds, as sampled); null when they never settled.
 */
export function convergeSeconds(phase: PhaseResult, final: readonly number[], untilS: number): number | null {
  const rows = during(phase, untilS);
  let settledFrom: number | null = null;
  for (const r of rows) {
    const off = Math.max(...r.shares.map((s, i) => Math.abs(s - final[i]!)));
    if (off > CONVERGE_POINTS) settledFrom = null;
    else settledFrom ??= r.tS;
  }
  return settledFrom === null ? null : Math.max(0, Math.round(settledFrom));
}

function fmtShares(values: readonly number[] | null | undefined): string {
  return values ? values.map((v) => v.toFixed(0)).join("/") : "-";
}

/** Connection shares (%) and mean response times (ms) per server between two samples. */
function window(a: DriverSample | undefined, b: DriverSample | undefined): { conns: number[] | null; rtMs: (number | null)[] | null } {
  if (!a || !b || a === b) return { conns: null, rtMs: null };
  const d = b.connections.map((c, i) => c - a.connections[i]!);
  const rt = b.rtSumMs.map((s, i) => {
    const n = b.rtCount[i]! - a.rtCount[i]!;
    return n > 0 ? (s - a.rtSumMs[i]!) / n : null;
  });
  return { conns: shares(d), rtMs: rt };
}

/** The 10-second table of one or more phases: weight shares, dispatched connection shares and response times. */
export function weightTable(phases: readonly PhaseResult[], untilS: number): string {
  const lines: string[] = [];
  const head = ["time".padEnd(6)];
  for (const p of phases) head.push(`${p.name} weights %`.padEnd(22), `${p.name} conns %`.padEnd(20), `${p.name} rt ms`.padEnd(20));
  lines.push(head.join(" "));
  for (let t = 0; t <= untilS; t += 10) {
    const row = [`${t} s`.padEnd(6)];
    for (const p of phases) {
      const here = sampleAt(p, t);
      const w = window(t === 0 ? undefined : sampleAt(p, t - 10), here);
      row.push(fmtShares(here ? shares(here.weights) : null).padEnd(22), fmtShares(w.conns).padEnd(20), (w.rtMs ? w.rtMs.map((x) => (x === null ? "-" : x.toFixed(0))).join("/") : "-").padEnd(20));
    }
    lines.push(row.join(" "));
  }
  return lines.join("\n");
}

/**
 * The per-scheduler table: the client's throughput, mean and p99 in each window, beside tandem's
 * view of the same window (connection shares and mean response time per server).
 */
export function loadTable(phases: readonly PhaseResult[]): string {
  const lines = [`${"scheduler".padEnd(24)} ${"req/s".padStart(6)} ${"mean ms".padStart(8)} ${"p99 ms".padStart(8)} ${"errors".padStart(6)}   ${"conns %".padEnd(10)} server rt ms`];
  const row = (p: PhaseResult, f: LoadFigures | null, fallback: string) => {
    const label = `${p.name} (${f ? `${f.fromS}–${f.fromS + f.seconds} s` : fallback})`;
    if (!f) return lines.push(`${label.padEnd(24)} ${"failed".padStart(6)}`);
    const w = window(sampleAt(p, f.fromS), sampleAt(p, f.fromS + f.seconds));
    const rt = w.rtMs ? w.rtMs.map((x) => (x === null ? "-" : x.toFixed(0))).join("/") : "-";
    return lines.push(`${label.padEnd(24)} ${f.requestsPerS.toFixed(0).padStart(6)} ${f.meanMs.toFixed(1).padStart(8)} ${f.p99Ms.toFixed(1).padStart(8)} ${String(f.errors).padStart(6)}   ${fmtShares(w.conns).padEnd(10)} ${rt}`);
  };
  for (const p of phases) {
    if (p.warm) row(p, p.warm, "warm-up");
    row(p, p.measured, "measured");
  }
  return lines.join("\n");
}

function round(x: number | null | undefined, digits = 1): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The JSON summary line: `{"bench":"adaptive","converge_s":…,"final_shares":[…],…}`. */
export function summaryJson(phases: readonly PhaseResult[], extra: Record<string, unknown>, durationS: number, finalFromS: number): string {
  const by = (name: string) => phases.find((p) => p.name === name);
  const adaptive = by("adaptive");
  const final = adaptive ? finalShares(adaptive, finalFromS, durationS) : null;
  const out: Record<string, unknown> = { bench: "adaptive" };
  out.converge_s = adaptive && final ? convergeSeconds(adaptive, final, durationS) : null;
  out.final_shares = final?.map((s) => round(s)) ?? null;
  for (const name of ["rr", "wlc", "adaptive", "netkestra"]) {
    const p = by(name);
    if (!p) continue;
    out[`p99_ms_${name}`] = round(p.measured?.p99Ms);
    out[`mean_ms_${name}`] = round(p.measured?.meanMs);
    out[`rps_${name}`] = round(p.measured?.requestsPerS, 0);
  }
  const baseline = by("netkestra");
  if (baseline) {
    const f = finalShares(baseline, finalFromS, durationS);
    out.converge_s_netkestra = f ? convergeSeconds(baseline, f, durationS) : null;
    out.final_shares_netkestra = f?.map((s) => round(s)) ?? null;
  }
  // The convergence part is reported apart, so the comparison with rr and wlc is between steady states.
  if (adaptive?.warm) out.p99_ms_adaptive_converging = round(adaptive.warm.p99Ms);
  return JSON.stringify({ ...out, ...extra });
}
