/**
 * One failover trial of `bench/failover.ts`, the same for tandem and keepalived: established
 * connections in flight (bench/failover-holder.ts) and a new-connection probe every 10 ms
 * (bench/failover-probe.ts) from the client, then the active node is killed the way the caller
 * simulates, and the trial measures the gap the client saw, the time to the standby's takeover
 * and how many established connections completed correctly.
 */
import { resolve } from "node:path";
import type { BedProcess, Testbed } from "../test/integration/testbed/topology.ts";

/** Established connections held across the kill. */
export const HELD_CONNECTIONS = 50;
/** nginx's rate limit of each held download, bytes/s: the bed's /big (256 KiB) lasts 4 s. */
export const HELD_BPS = 65_536;
/** Size of the bed's /big file for this bench. */
export const BIG_FILE_BYTES = 256 * 1024;
/** A new probe connection every PROBE_INTERVAL_MS, failed after PROBE_TIMEOUT_MS. */
export const PROBE_INTERVAL_MS = 10;
export const PROBE_TIMEOUT_MS = 250;

const HOLDER = resolve(import.meta.dir, "failover-holder.ts");
const PROBE = resolve(import.meta.dir, "failover-probe.ts");
/** Successful probes in a row that show a steady state, before the kill and after the takeover. */
const STEADY_PROBES = 50;
/** How long the holder waits for its connections after the go signal. */
const HOLD_LIMIT_MS = 12_000;
/** How long the trial waits for the takeover and for the probe to succeed again. */
const RECOVERY_LIMIT_MS = 20_000;
const POLL_MS = 5;
/**
 * The kill waits a random 0–PHASE_JITTER_MS after the probe is steady, so it lands anywhere in
 * the advert/heartbeat cycle (keepalived's default advert is 1 s): with a fixed delay every trial
 * would hit the same phase and detection would look constant.
 */
const PHASE_JITTER_MS = 1000;

/** What the caller does to the active node and how it sees the takeover. */
export interface TrialHooks {
  /** Kills the active node (kill -9 of its process, and whatever else the trial simulates); resolves when done. */
  kill(): Promise<void>;
  /**
   * Resolves with the epoch ms at which the standby became active (after `killAtMs`), or null
   * when it did not by `deadlineMs`.
   */
  takeover(killAtMs: number, deadlineMs: number): Promise<number | null>;
}

/** What one trial measured; null figures could not be taken (see `errors`). */
export interface TrialResult {
  /** When the kill was sent (epoch ms). */
  killAtMs: number;
  /** Longest interval between successive successful probes around the kill, ms; null without takeover or recovery. */
  gapMs: number | null;
  /** From the kill to the standby's takeover, ms. */
  detectMs: number | null;
  /** Held connections that completed correctly after the failover. */
  survived: number;
  held: number;
  /** Probes sent and failed over the whole trial. */
  probes: number;
  probeFailures: number;
  /** Why the held connections that failed did (distinct reasons with counts). */
  heldFailures: Record<string, number>;
  errors: string[];
}

/** Epoch milliseconds with sub-millisecond resolution, the probe's clock. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Runs one trial against `vip`:80 from `client`; every process it starts is stopped before it returns. */
export async function runTrial(bed: Testbed, client: string, vip: string, hooks: TrialHooks): Promise<TrialResult> {
  const errors: string[] = [];
  const holder = bed.spawn(client, [process.execPath, HOLDER, vip, "80", String(HELD_CONNECTIONS), String(HELD_BPS), bed.bigFile.sha256, String(bed.bigFile.bytes), String(HOLD_LIMIT_MS)], "holder");
  let probe: BedProcess | undefined;
  try {
    const ready = await waitFor(() => /^ready (\d+)$/m.exec(holder.stdout())?.[1], 10_000, holder, "held connections' first responses");
    if (Number(ready) < HELD_CONNECTIONS) errors.push(`only ${ready} of ${HELD_CONNECTIONS} held connections got a first 200 before the kill`);
    probe = bed.spawn(client, [process.execPath, PROBE, vip, "80", String(PROBE_INTERVAL_MS), String(PROBE_TIMEOUT_MS), "60000"], "probe");
    const p = probe;
    await waitFor(() => (parseProbes(p.stdout()).filter((x) => x.ok).length >= STEADY_PROBES ? true : undefined), 5000, p, `${STEADY_PROBES} successful probes before the kill`);
    await Bun.sleep(Math.random() * PHASE_JITTER_MS);
    const killAtMs = epochMs();
    await hooks.kill();
    const takeoverAtMs = await hooks.takeover(killAtMs, killAtMs + RECOVERY_LIMIT_MS);
    if (takeoverAtMs === null) errors.push(`no takeover within ${RECOVERY_LIMIT_MS} ms of the kill`);
    // Recovered: STEADY_PROBES successes that started after the takeover (or the kill).
    const from = takeoverAtMs ?? killAtMs;
    const recovered = await waitFor(() => (parseProbes(p.stdout()).filter((x) => x.ok && x.startMs > from).length >= STEADY_PROBES ? true : undefined), Math.max(0, killAtMs + RECOVERY_LIMIT_MS - epochMs()), p, "probes after the takeover").catch((e: Error) => {
      errors.push(e.message.split("\n")[0]!);
      return false;
    });
    await p.stop("SIGTERM", 3000);
    const probes = parseProbes(p.stdout());
    holder.signal("SIGUSR1");
    const held = await heldResults(holder, errors);
    return {
      killAtMs,
      // Without a takeover the probes' successes came from somewhere else: no gap to speak of.
      gapMs: recovered && takeoverAtMs !== null ? largestGapMs(probes, killAtMs) : null,
      detectMs: takeoverAtMs === null ? null : takeoverAtMs - killAtMs,
      survived: held.filter((r) => r.ok).length,
      held: HELD_CONNECTIONS,
      probes: probes.length,
      probeFailures: probes.filter((x) => !x.ok).length,
      heldFailures: countReasons(held),
      errors,
    };
  } finally {
    await probe?.stop("SIGTERM", 3000);
    await holder.stop("SIGTERM", 3000);
  }
}

/** One finished probe. */
interface Probe {
  ok: boolean;
  startMs: number;
  endMs: number;
  reason: string;
}

function parseProbes(text: string): Probe[] {
  return [...text.matchAll(/^(ok|fail) ([\d.]+) ([\d.]+)(?: (\S+))?$/gm)].map((m) => ({ ok: m[1] === "ok", startMs: Number(m[2]), endMs: Number(m[3]), reason: m[4] ?? "" }));
}

/**
 * The client-observed gap: the longest interval between the completions of successive
 * successful probes, over the successes from the last one before the kill onwards.
 */
export function largestGapMs(probes: readonly Probe[], killAtMs: number): number | null {
  const ends = probes.filter((p) => p.ok).map((p) => p.endMs).sort((a, b) => a - b);
  const lastBefore = ends.findLastIndex((t) => t <= killAtMs);
  if (lastBefore < 0 || lastBefore === ends.length - 1) return null;
  let gap = 0;
  for (let i = lastBefore + 1; i < ends.length; i++) gap = Math.max(gap, ends[i]! - ends[i - 1]!);
  return gap;
}

interface HeldResult {
  ok: boolean;
  server: string;
  stage: string;
  error: string;
}

async function heldResults(holder: BedProcess, errors: string[]): Promise<HeldResult[]> {
  const line = await waitFor(() => holder.stdout().split("\n").find((l) => l.startsWith('{"results"')), HOLD_LIMIT_MS + 5000, holder, "held connections' results").catch((e: Error) => {
    errors.push(e.message.split("\n")[0]!);
    return undefined;
  });
  if (line === undefined) return [];
  return (JSON.parse(line) as { results: HeldResult[] }).results;
}

/** Failure reasons with counts, numbers and addresses blanked so equal causes group together. */
function countReasons(results: readonly HeldResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) {
    if (r.ok) continue;
    const key = r.error.replace(/\b[0-9a-f]{64}\b/g, "<sha>").replace(/\d+/g, "N");
    out[key] = (out[key] ?? 0) + 1;
  }
  return out;
}

/**
 * Polls `get` every few ms until it returns a value; rejects after `timeoutMs`, or when `proc`
 * exited without the value appearing.
 */
async function waitFor<T>(get: () => T | undefined, timeoutMs: number, proc: BedProcess, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = get();
    if (v !== undefined) return v;
    if (!proc.running) {
      const last = get();
      if (last !== undefined) return last;
      throw new Error(`${proc.label} exited with code "${await proc.exited}" before ${what}: ${proc.stderr().trim().slice(-500)}`);
    }
    if (Date.now() > deadline) throw new Error(`No ${what} within ${timeoutMs} ms: ${proc.label} wrote ${JSON.stringify(proc.stdout().slice(-300))} ${JSON.stringify(proc.stderr().slice(-300))}`);
    await Bun.sleep(POLL_MS);
  }
}
