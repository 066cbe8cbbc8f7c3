/**
 * Micro benchmark of the schedulers: picks per second for each kind on pools of 8 and 64 servers,
 * plus persistence (rr behind a PersistenceTable) and the Maglev rebuild time. Prints a table and
 * one JSON line `{"bench":"sched-micro",...}`. Run: `bun bench/sched-micro.ts [picks]`.
 *
 * lc and wlc are measured with connection churn (each pick opens a connection, and the one opened
 * 1,000 picks earlier closes), because their cost and choices depend on live counts.
 */
import { mix32 } from "../src/core/sched/hash.ts";
import { createScheduler } from "../src/core/sched/create-scheduler.ts";
import { MaglevScheduler } from "../src/core/sched/maglev-scheduler.ts";
import { PersistenceTable } from "../src/core/sched/persistence-table.ts";
import { SCHEDULER_KINDS } from "../src/core/sched/scheduler.ts";
import type { Flow, Scheduler } from "../src/core/sched/scheduler.ts";
import { ServerPool } from "../src/core/sched/server-pool.ts";

const PICKS = Number(process.argv[2] ?? 2_000_000);
const SIZES = [8, 64];
const CHURN = 1000;
const CLIENTS = 65536;

function makePool(servers: number): ServerPool {
  const pool = new ServerPool();
  for (let i = 0; i < servers; i++) pool.add({ weight: 1 + (i % 4) });
  pool.setAdmin(1, "drain"); // one ineligible server, as in a real pool under maintenance
  return pool;
}

/** Client addresses precomputed so that the loop measures the scheduler, not the address stream. */
const addrs = new Uint32Array(CLIENTS);
for (let i = 0; i < CLIENTS; i++) addrs[i] = mix32(i + 1);

/** Runs `picks` picks and returns picks per second; `churn` adds connection accounting. */
function run(pool: ServerPool, pick: (f: Flow, now: number) => number, picks: number, churn: boolean): number {
  const f: Flow = { srcAddr: 0, srcPort: 0 };
  const ring = new Int32Array(CHURN).fill(-1);
  let sink = 0;
  const start = performance.now();
  for (let i = 0; i < picks; i++) {
    f.srcAddr = addrs[i & (CLIENTS - 1)]!;
    f.srcPort = i & 0xffff;
    const s = pick(f, i);
    sink += s;
    if (churn) {
      const slot = i % CHURN;
      const old = ring[slot]!;
      if (old >= 0) pool.onDisconnect(old);
      if (s >= 0) pool.onConnect(s);
      ring[slot] = s;
    }
  }
  const elapsedMs = performance.now() - start;
  if (sink === -42) console.log("unreachable"); // keeps the loop's result alive
  return (picks / elapsedMs) * 1000;
}

type Setup = () => { pool: ServerPool; pick: (f: Flow, now: number) => number };

function measure(servers: number, label: string, make: Setup, churn: boolean): number {
  const warm = make();
  run(warm.pool, warm.pick, Math.min(PICKS, 200_000), churn);
  const { pool, pick } = make();
  run(pool, pick, Math.min(PICKS, 200_000), churn);
  const rate = run(pool, pick, PICKS, churn);
  rows.push({ label, servers, rate });
  return rate;
}

const rows: { label: string; servers: number; rate: number }[] = [];
const summary: Record<string, number | string> = { bench: "sched-micro", picks: PICKS };

for (const servers of SIZES) {
  for (const kind of SCHEDULER_KINDS) {
    const churn = kind === "lc" || kind === "wlc";
    const rate = measure(servers, churn ? `${kind} (+churn)` : kind, () => {
      const pool = makePool(servers);
      const scheduler: Scheduler = createScheduler(kind);
      return { pool, pick: (f) => scheduler.pick(pool, f) };
    }, churn);
    summary[`${kind}_${servers}`] = Math.round(rate);
  }
  const rate = measure(servers, "rr + persistence", () => {
    const pool = makePool(servers);
    const scheduler = createScheduler("rr");
    const table = new PersistenceTable({ capacity: CLIENTS * 2, timeoutMs: 300_000 });
    return { pool, pick: (f, now) => table.pick(1, pool, scheduler, f, now) };
  }, false);
  summary[`persist_rr_${servers}`] = Math.round(rate);
}

// Maglev rebuild: the cost paid once per pool change (weight, state, health), not per pick.
const rebuildPool = makePool(64);
const maglev = new MaglevScheduler();
maglev.rebuild(rebuildPool);
const rebuilds = 20;
const rebuildStart = performance.now();
for (let i = 0; i < rebuilds; i++) {
  rebuildPool.setUp(2 + (i % 8), i % 2 === 0);
  maglev.rebuild(rebuildPool);
}
const rebuildMs = (performance.now() - rebuildStart) / rebuilds;
summary["sh_rebuild_ms_64"] = Number(rebuildMs.toFixed(3));

console.log(`scheduler micro benchmark, ${PICKS.toLocaleString("en")} picks per row`);
console.log(`${"scheduler".padEnd(20)}${"servers".padStart(8)}${"picks/s".padStart(14)}${"ns/pick".padStart(10)}`);
for (const { label, servers, rate } of rows) {
  const picksPerS = Math.round(rate).toLocaleString("en").padStart(14);
  console.log(`${label.padEnd(20)}${String(servers).padStart(8)}${picksPerS}${(1e9 / rate).toFixed(1).padStart(10)}`);
}
console.log(`sh (Maglev 65537) rebuild, 64 servers: ${rebuildMs.toFixed(2)} ms`);
console.log(JSON.stringify(summary));
