/**
 * Failover benchmark: tandem's heartbeat pair against keepalived (VRRP) in the same kind of
 * netns bed (a fresh one each), on four figures:
 *
 * - Failover gap: a client opens a new TCP connection to VIP:80 every 10 ms (250 ms timeout,
 *   `GET /ready` must answer 200); the gap is the longest interval between the completions of
 *   successive successful probes from the last one before the kill on.
 * - Detection: from the kill to the standby's role change (tandem: its "Became active" log line,
 *   ms timestamps; keepalived: when its "Entering MASTER STATE" line appears).
 * - Established connections surviving: 50 keep-alive connections, each downloading 256 KiB at
 *   64 KiB/s across the kill (sha256 checked), then a second request on the same socket.
 * - Sync lag p50/p99: the active node's `sync.lag` in GET /api/v1/status after 5,000 new
 *   connections/s through the VIP for 5 s (wrk, Connection: close, paced by
 *   bench/failover-load.ts; the achieved rate is shown).
 *
 * "The active node dies" means, for both: kill -9 of its process(es), then its three links go
 * down (a dead box neither answers ARP for the VIP nor sends anything). Each setup gets ROUNDS
 * such trials (median gap and detection, range, survivors summed); tandem also gets one kill -9
 * of the process alone, links up, as in test/integration/failover.test.ts.
 *
 * Run: `just bench failover` (root; installs the `netns` and `bench` Debian groups, needs
 * dist/tandem from `just build`), about 3 minutes. Prints a table and, last on stdout, one JSON
 * line `{"bench":"failover","gap_ms":…,…}`; progress goes to stderr. FAILOVER_ROUNDS=1 runs one
 * trial per setup. Not part of `npm test`.
 */
import { resolve } from "node:path";
import { requireBinary } from "../test/integration/tandem-binary.ts";
import { keepalivedPhase, type KeepalivedVariant } from "./failover-keepalived.ts";
import { renderFailoverReport } from "./failover-report.ts";
import { tandemPhase, type TandemFigures } from "./failover-tandem.ts";
import type { TrialResult } from "./failover-trial.ts";

const ROOT = resolve(import.meta.dir, "..");
/** Node-death trials per setup (FAILOVER_ROUNDS overrides; 1 to try the bench out). */
const ROUNDS = Math.max(1, Math.min(9, Number(process.env.FAILOVER_ROUNDS ?? 3) || 3));

function progress(message: string): void {
  process.stderr.write(`[failover ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Installs the Debian groups the bench needs (test/deps.sh), output on our stderr. */
async function installDeps(): Promise<void> {
  const proc = Bun.spawn(["test/deps.sh", "netns", "bench"], { cwd: ROOT, stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 600_000);
  const code = await proc.exited;
  clearTimeout(timer);
  if (code !== 0) throw new Error(`test/deps.sh netns bench failed with exit code ${code}`);
}

async function main(): Promise<number> {
  await installDeps();
  requireBinary();
  const notes: string[] = [];
  const started = Date.now();
  let tandem: TandemFigures = { lag: null, dead: [], peerDeadMs: [], killOnly: null, standbySynced: [] };
  let keepalived: Record<KeepalivedVariant, TrialResult[]> = { default: [], fast: [] };
  try {
    tandem = await tandemPhase(ROUNDS, notes, progress);
  } catch (error) {
    notes.push(`tandem: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  }
  try {
    keepalived = await keepalivedPhase(ROUNDS, notes, progress);
  } catch (error) {
    notes.push(`keepalived: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  }
  progress(`done in ${Math.round((Date.now() - started) / 1000)} s`);
  const { table, json } = renderFailoverReport({ tandem, keepalived, rounds: ROUNDS, notes });
  console.log(table);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(json);
  const complete = tandem.dead.length === ROUNDS && keepalived.default.length === ROUNDS && keepalived.fast.length === ROUNDS;
  return complete ? 0 : 1;
}

process.exitCode = await main();
