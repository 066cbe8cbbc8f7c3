/**
 * Data-plane benchmark (issue 3): one netns test bed, one client, one real server, and five paths
 * measured alternately in the same run, twice, best of the two rounds per figure: direct routing
 * through d1, kernel nftables DNAT in d1, HAProxy tcp mode in d1, tandem nat and tandem fullnat.
 * Figures: short-connection and keep-alive req/s (wrk, 1 KB), one TCP stream (iperf3), 64-byte
 * UDP packets/s at < 1 % loss, one-connection latency p50/p99 (and what each path adds to the
 * direct one), plus the connection table's RSS with 1M entries (bench/conntable-rss.ts).
 *
 * Run: `just bench dataplane` (root; installs the `netns` and `bench` Debian groups, needs
 * dist/tandem from `just build`). Prints a table and, last on stdout, one JSON line
 * `{"bench":"dataplane","short_vs_nft":…,…}`; progress goes to stderr. DATAPLANE_QUICK=1 runs
 * one short round (for trying the bench out, not for figures). Not part of `npm test`.
 */
import { resolve } from "node:path";
import { requireBinary } from "../test/integration/tandem-binary.ts";
import { iperf3Server } from "../test/integration/testbed/clients.ts";
import { createTestbed, type BedProcess, type Testbed } from "../test/integration/testbed/topology.ts";
import { FULL_DURATIONS, measurePath, type Durations, type PathFigures } from "./dataplane-measure.ts";
import { PATH_IDS, createPaths, prepareBed, type BenchNodes, type DataPath, type PathId } from "./dataplane-paths.ts";
import { renderReport } from "./dataplane-report.ts";

const ROOT = resolve(import.meta.dir, "..");
const QUICK = process.env.DATAPLANE_QUICK === "1";
const ROUNDS = QUICK ? 1 : 2;
const DURATIONS: Durations = QUICK ? { wrkS: 2, bulkS: 2, latencyS: 2, udpTrialS: 1, udpMaxTrials: 3 } : FULL_DURATIONS;
/** Hard limit of the measuring part; past it the bench stops and reports what it has. */
const MEASURE_LIMIT_MS = 9 * 60_000;
const NODES: BenchNodes = { client: "c1", dispatcher: "d1", server: "s1" };

/** Thrown when the bench runs past MEASURE_LIMIT_MS. */
class DeadlineError extends Error {}

function progress(message: string): void {
  process.stderr.write(`[dataplane ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Runs a command from the repository root to completion, bounded by `timeoutMs`. */
async function runLocal(argv: string[], timeoutMs: number, inherit = false): Promise<{ code: number; stdout: string; stderr: string }> {
  const proc = Bun.spawn(argv, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: inherit ? "inherit" : "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), proc.stderr ? new Response(proc.stderr).text() : "", proc.exited]);
    return { code, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** RSS with 1M connection entries, from bench/conntable-rss.ts's JSON line. */
async function conntableRss(): Promise<number> {
  const r = await runLocal([process.execPath, "bench/conntable-rss.ts"], 180_000);
  const line = r.stdout.split("\n").find((l) => l.startsWith('{"bench":"conntable"'));
  if (r.code !== 0 || !line) throw new Error(`bench/conntable-rss.ts failed with exit code ${r.code}: ${r.stderr.trim()}`);
  return (JSON.parse(line) as { rss_mb_1m_conns: number }).rss_mb_1m_conns;
}

/** Resident memory of a process in MB (VmRSS), or null if it is gone. */
async function processRssMb(pid: number): Promise<number | null> {
  try {
    const status = await Bun.file(`/proc/${pid}/status`).text();
    const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
    return kb === undefined ? null : Number(kb) / 1024;
  } catch {
    return null;
  }
}

/** State the measuring loop fills in. */
interface Run {
  readonly rounds: Record<PathId, PathFigures[]>;
  readonly tandemProcessRssMb: number[];
  readonly readyLines: string[];
  readonly notes: string[];
  complete: boolean;
}

/** Brings one path up, measures it, and always takes it down again. */
async function measureOne(bed: Testbed, path: DataPath, run: Run, checkDeadline: () => void): Promise<PathFigures> {
  try {
    const target = await path.start();
    if (target.note) run.readyLines.push(target.note);
    const figures = await measurePath(bed, NODES.client, target, DURATIONS, checkDeadline);
    if (target.tandem) {
      const rss = await processRssMb(target.tandem.node.proc.pid);
      if (rss !== null) run.tandemProcessRssMb.push(Math.round(rss));
    }
    return figures;
  } finally {
    // A failed stop must not lose the figures; it is reported, and the next path may suffer from it.
    await path.stop().catch((error: unknown) => run.notes.push(`${path.id} stop: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`));
  }
}

/** Keeps an iperf3 server running in the real server (a failed test can leave it dead). */
async function ensureIperf(bed: Testbed, current: BedProcess | undefined): Promise<BedProcess> {
  if (current?.running) return current;
  return iperf3Server(bed, NODES.server);
}

async function measureAll(bed: Testbed, run: Run): Promise<void> {
  const startedAt = Date.now();
  const checkDeadline = () => {
    if (Date.now() - startedAt > MEASURE_LIMIT_MS) throw new DeadlineError(`Bench stopped: measuring took longer than ${MEASURE_LIMIT_MS / 1000} s`);
  };
  await prepareBed(bed, NODES);
  const paths = createPaths(bed, NODES);
  let iperf: BedProcess | undefined;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const path of paths) {
      iperf = await ensureIperf(bed, iperf);
      progress(`round ${round}/${ROUNDS}: ${path.id}`);
      try {
        const figures = await measureOne(bed, path, run, checkDeadline);
        for (const e of figures.errors) run.notes.push(`round ${round} ${path.id}: ${e}`);
        run.rounds[path.id].push(figures);
      } catch (error) {
        if (error instanceof DeadlineError) throw error;
        run.notes.push(`round ${round} ${path.id}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
        progress(`round ${round}: ${path.id} failed: ${String(error)}`);
      }
    }
  }
}

async function main(): Promise<number> {
  const deps = await runLocal(["test/deps.sh", "netns", "bench"], 600_000, true);
  if (deps.code !== 0) throw new Error(`test/deps.sh netns bench failed with exit code ${deps.code}`);
  requireBinary();
  progress("connection table RSS with 1M entries (bench/conntable-rss.ts)");
  let rssMb1mConns: number | null = null;
  const notes: string[] = [];
  try {
    rssMb1mConns = await conntableRss();
  } catch (error) {
    notes.push(String(error));
  }
  const run: Run = { rounds: Object.fromEntries(PATH_IDS.map((id) => [id, []])) as unknown as Record<PathId, PathFigures[]>, tandemProcessRssMb: [], readyLines: [], notes, complete: true };
  progress("building the test bed");
  const bed = await createTestbed({ clients: 1, servers: 1, accessLog: false, bigFileBytes: 1024 * 1024 });
  try {
    await measureAll(bed, run);
  } catch (error) {
    if (!(error instanceof DeadlineError)) throw error;
    run.complete = false;
    notes.push(error.message);
  } finally {
    progress("destroying the test bed");
    const report = await bed.destroy();
    for (const p of report.problems) notes.push(`cleanup: ${p}`);
  }
  const offload = run.readyLines.length > 0 && run.readyLines.every((l) => /offload[=:" ]+true/.test(l));
  const { table, json } = renderReport({ ...run, rssMb1mConns, offload, complete: run.complete });
  console.log(table);
  if (run.readyLines[0]) console.log(`tandem: ${run.readyLines[0]}`);
  for (const n of notes) console.log(`note: ${n}`);
  console.log(json);
  return run.complete ? 0 : 1;
}

process.exitCode = await main();
