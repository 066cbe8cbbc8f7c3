/**
 * The report of `bench/failover.ts`: each setup's trials reduced to medians (gap, detection) and
 * totals (surviving connections), the table (tandem beside keepalived's two runs and the
 * targets) and the final JSON line.
 */
import type { KeepalivedVariant } from "./failover-keepalived.ts";
import type { TandemFigures } from "./failover-tandem.ts";
import type { TrialResult } from "./failover-trial.ts";

/** The targets. */
export const TARGETS = { gapMs: 1000, survivedPct: 100, syncLagP99Ms: 100 } as const;

/** Everything the report needs. */
export interface FailoverReportInput {
  readonly tandem: TandemFigures;
  readonly keepalived: Record<KeepalivedVariant, TrialResult[]>;
  readonly rounds: number;
  readonly notes: readonly string[];
}

/** One setup's trials reduced: median gap and detection, their range, surviving connections over all trials. */
export interface TrialSummary {
  readonly trials: number;
  /** Trials without a takeover or without the probe recovering (their gap counts as endless). */
  readonly failed: number;
  readonly gapMs: number | null;
  readonly gapMinMs: number | null;
  readonly gapMaxMs: number | null;
  readonly detectMs: number | null;
  readonly survived: number;
  readonly held: number;
  readonly survivedPct: number | null;
}

/** Median of the values (Infinity allowed), null when there are none or it is not finite. */
export function median(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  const m = v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return Number.isFinite(m) ? m : null;
}

/** Reduces a setup's trials; a failed trial's gap counts as endless in the median (so most failing gives null). */
export function summarize(trials: readonly TrialResult[]): TrialSummary {
  const known = trials.map((t) => t.gapMs).filter((g): g is number => g !== null);
  const held = trials.reduce((n, t) => n + t.held, 0);
  const survived = trials.reduce((n, t) => n + t.survived, 0);
  return {
    trials: trials.length,
    failed: trials.length - known.length,
    gapMs: median(trials.map((t) => t.gapMs ?? Infinity)),
    gapMinMs: known.length ? Math.min(...known) : null,
    gapMaxMs: known.length ? Math.max(...known) : null,
    detectMs: median(trials.map((t) => t.detectMs ?? Infinity)),
    survived,
    held,
    survivedPct: held ? (100 * survived) / held : null,
  };
}

const r0 = (v: number | null | undefined) => (v === null || v === undefined ? null : Math.round(v));
const r1 = (v: number | null | undefined) => (v === null || v === undefined ? null : Math.round(v * 10) / 10);

/** The table and the JSON line (neither printed yet). */
export function renderFailoverReport(input: FailoverReportInput): { table: string; json: string } {
  const { tandem, keepalived } = input;
  const dead = summarize(tandem.dead);
  const killOnly = summarize(tandem.killOnly ? [tandem.killOnly] : []);
  const kd = summarize(keepalived.default);
  const kf = summarize(keepalived.fast);
  const lag = tandem.lag?.after ?? null;
  const ms = (v: number | null) => (v === null ? "n/a" : `${Math.round(v)}`);
  const range = (s: TrialSummary) => (s.gapMinMs === null ? "n/a" : `${Math.round(s.gapMinMs)}–${Math.round(s.gapMaxMs!)}`) + (s.failed ? ` (${s.failed} failed)` : "");
  const surv = (s: TrialSummary) => (s.survivedPct === null ? "n/a" : `${s.survivedPct.toFixed(0)} % (${s.survived}/${s.held})`);
  const header = ["figure", "tandem", "keepalived 1 s", "keepalived 0.1 s", "target"];
  const rows: string[][] = [
    header,
    [`failover gap, node death, median (ms)`, ms(dead.gapMs), ms(kd.gapMs), ms(kf.gapMs), `<= ${TARGETS.gapMs}`],
    [`  range over ${input.rounds} trials (ms)`, range(dead), range(kd), range(kf), ""],
    ["detection, kill -> standby active (ms)", ms(dead.detectMs), ms(kd.detectMs), ms(kf.detectMs), ""],
    ["  of which: peer declared dead (ms)", ms(median(tandem.peerDeadMs)), "", "", ""],
    ["established conns surviving", surv(dead), surv(kd), surv(kf), `${TARGETS.survivedPct} %`],
    ["failover gap, kill -9 only (ms)", ms(killOnly.gapMs), "", "", `<= ${TARGETS.gapMs}`],
    ["  conns surviving, kill -9 only", surv(killOnly), "", "", `${TARGETS.survivedPct} %`],
    ["sync lag p50 (ms)", lag?.p50Ms == null ? "n/a" : lag.p50Ms.toFixed(1), "", "", ""],
    ["sync lag p99 (ms)", lag?.p99Ms == null ? "n/a" : lag.p99Ms.toFixed(1), "", "", `<= ${TARGETS.syncLagP99Ms}`],
    ["  new conns/s during the lag run", ms(tandem.lag?.achievedRate ?? null), "", "", "~5000"],
  ];
  const widths = header.map((_, i) => Math.max(...rows.map((l) => (l[i] ?? "").length)));
  const table = rows.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()).join("\n");

  const trial = (t: TrialResult) => ({
    gap_ms: r1(t.gapMs), detect_ms: r1(t.detectMs), survived: t.survived, held: t.held, probes: t.probes, probe_failures: t.probeFailures,
    held_failures: t.heldFailures, errors: t.errors,
  });
  const json = {
    bench: "failover",
    gap_ms: r1(dead.gapMs),
    detect_ms: r1(dead.detectMs),
    peer_dead_ms: r1(median(tandem.peerDeadMs)),
    survived_pct: r1(dead.survivedPct),
    sync_lag_p50_ms: r1(lag?.p50Ms),
    sync_lag_p99_ms: r1(lag?.p99Ms),
    keepalived_gap_ms: r1(kd.gapMs),
    keepalived_fast_gap_ms: r1(kf.gapMs),
    keepalived_detect_ms: r1(kd.detectMs),
    keepalived_fast_detect_ms: r1(kf.detectMs),
    keepalived_survived_pct: r1(kd.survivedPct),
    keepalived_fast_survived_pct: r1(kf.survivedPct),
    kill_only_gap_ms: r1(killOnly.gapMs),
    kill_only_detect_ms: r1(killOnly.detectMs),
    kill_only_survived_pct: r1(killOnly.survivedPct),
    sync_lag_rate_cps: r0(tandem.lag?.achievedRate),
    sync_lag: tandem.lag === null ? null : { requests: tandem.lag.requests, errors: tandem.lag.errors, before: tandem.lag.before, after: tandem.lag.after },
    rounds: input.rounds,
    failed_trials: { tandem: dead.failed, keepalived_default: kd.failed, keepalived_fast: kf.failed, tandem_kill_only: killOnly.failed },
    standby_synced: tandem.standbySynced,
    targets_met: {
      gap: dead.trials > 0 && dead.failed === 0 && dead.gapMaxMs !== null && dead.gapMaxMs <= TARGETS.gapMs,
      survived: dead.held > 0 && dead.survived === dead.held,
      sync_lag_p99: lag?.p99Ms != null && lag.p99Ms <= TARGETS.syncLagP99Ms,
    },
    trials: {
      tandem_dead: tandem.dead.map(trial),
      tandem_kill_only: tandem.killOnly ? [trial(tandem.killOnly)] : [],
      keepalived_default: keepalived.default.map(trial),
      keepalived_fast: keepalived.fast.map(trial),
    },
    notes: input.notes,
  };
  return { table, json: JSON.stringify(json) };
}
