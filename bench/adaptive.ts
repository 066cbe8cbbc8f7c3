/**
 * Self-controlled distribution benchmark: Netkestra's Table 3 again. Three real servers of
 * different speeds (test/integration/testbed/paced-server.ts: one request at a time, exponential service times of
 * mean 1.5, 3 and 24 ms, so capacities of 667, 333 and 42 requests/s), the same closed-loop client
 * load for every scheduler (bench/adaptive-client.ts: 64 clients, one request per connection, as
 * the paper's HTTP/1.0 clients; see there why not wrk), tandem's real data plane in d1
 * (bench/adaptive-driver.ts), one phase per scheduler in the same run: adaptive for 80 s (weight
 * table every 10 s; figures for 0–20 s, converging, and 20–80 s), rr and wlc for 25 s (figures
 * for 5–25 s), and Netkestra's own ±1 rule for 80 s as the baseline (ADAPTIVE_BASELINE=0 skips
 * it; ADAPTIVE_QUICK=1 runs short phases to try the bench out). Prints the weight table,
 * throughput, mean and p99 per scheduler, and, last on stdout, one JSON line
 * `{"bench":"adaptive","converge_s":…,…}`; progress goes to stderr. Run: `just bench adaptive`
 * (root; installs the `netns` Debian group). Not part of npm test.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { BED_CONFIG_TAIL, bedConfigHead } from "../test/integration/dispatcher-config.ts";
import { createTestbed, type BedProcess, type Testbed } from "../test/integration/testbed/topology.ts";
import { loadFigures, loadTable, summaryJson, weightTable, type ClientRun, type DriverSample, type PhaseResult } from "./adaptive-report.ts";

const ROOT = resolve(import.meta.dir, "..");
/** Mean service time of each real server in ms (Table 3's servers differ by their loop costs). */
const SERVICE_MS = [1.5, 3, 24];
const SERVER_PORT = 8080;
const CLIENTS = 64;
const INTERVAL = "1s";
/** ADAPTIVE_QUICK=1: short phases and no baseline, for trying the bench out (not for figures). */
const QUICK = process.env.ADAPTIVE_QUICK === "1";
/** Adaptive and baseline phases: converging part, then the measured part (80 s in all, as Table 3). */
const ADAPTIVE_S = QUICK ? { warm: 10, measured: 10 } : { warm: 20, measured: 60 };
/** rr and wlc settle at once: a short warm-up, then the measured part. */
const STATIC_S = QUICK ? { warm: 3, measured: 5 } : { warm: 5, measured: 20 };
/** Pause between phases, so the slow server's queue from the last phase drains first. */
const DRAIN_MS = 3000;
const BASELINE = process.env.ADAPTIVE_BASELINE !== "0" && !QUICK;
const STOP_GRACE_MS = 10_000;

function progress(message: string): void {
  process.stderr.write(`[adaptive ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** tandem.toml for d1: one service on the VIP, port 80, over the three servers' :8080. */
function benchConfig(bed: Testbed, scheduler: string): string {
  const servers = bed.addresses.servers.map((s) => `  { address = "${s.private}", port = ${SERVER_PORT} },`).join("\n");
  return `${bedConfigHead(bed, { cluster: "bench", offload: true, maxConnections: 200000 })}
[[service]]
name = "app"
vip = "www"
port = 80
scheduler = "${scheduler}"
adaptive = { interval = "${INTERVAL}", smoothing = 0.3, min_share = 0.02 }
servers = [
${servers}
]

${BED_CONFIG_TAIL}`;
}

/** Waits until `proc` printed `line` on stdout; fails if it exits first or after `timeoutMs`. */
async function waitForLine(proc: BedProcess, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!proc.stdout().split("\n").includes(line)) {
    if (!proc.running) throw new Error(`${proc.label} exited with code "${await proc.exited}" before printing ${line}: ${proc.stderr().trim().split("\n").slice(-5).join(" | ")}`);
    if (Date.now() > deadline) throw new Error(`${proc.label} did not print ${line} within ${timeoutMs} ms: ${proc.stderr().trim().split("\n").slice(-5).join(" | ")}`);
    await Promise.race([proc.exited, Bun.sleep(20)]);
  }
}

async function startServers(bed: Testbed): Promise<void> {
  await Promise.all(bed.addresses.servers.map(async (s, i) => {
    const proc = bed.spawn(s.name, [process.execPath, join(ROOT, "test/integration/testbed/paced-server.ts"), s.private, String(SERVER_PORT), String(SERVICE_MS[i]), String(i + 1)], "adaptive-server");
    await waitForLine(proc, "LISTENING", 10_000);
    await bed.execOk(s.name, ["curl", "-sf", "--noproxy", "*", "--max-time", "2", `http://${s.private}:${SERVER_PORT}/ready`]);
  }));
}

function parseSamples(stdout: string): DriverSample[] {
  return stdout.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as DriverSample);
}

/** Runs the closed-loop client in c1 for `seconds`; returns its raw samples (null on failure, with a note). */
async function runClient(bed: Testbed, name: string, seconds: number, notes: string[]): Promise<ClientRun | null> {
  const output = join(bed.runDir, `client-${name}.json`);
  const client = bed.spawn("c1", [process.execPath, join(ROOT, "bench/adaptive-client.ts"), bed.addresses.vip, "80", String(CLIENTS), String(seconds), output], `client-${name}`);
  const timer = setTimeout(() => client.signal("SIGKILL"), (seconds + 30) * 1000);
  const code = await client.exited;
  clearTimeout(timer);
  if (code !== 0 || !existsSync(output)) {
    notes.push(`${name}: the client exited with code ${code}: ${client.stderr().trim().split("\n").slice(-3).join(" | ")}`);
    return null;
  }
  return JSON.parse(readFileSync(output, "utf8")) as ClientRun;
}

/** One scheduler: start the driver, run the load, stop the driver by PID; figures come per window. */
async function runPhase(bed: Testbed, name: string, scheduler: string, mode: string, seconds: { warm: number; measured: number }): Promise<PhaseResult> {
  progress(`${name}: starting tandem (scheduler ${scheduler}${scheduler === "adaptive" ? `, ${mode}` : ""})`);
  const configPath = join(bed.runDir, `adaptive-${name}.toml`);
  writeFileSync(configPath, benchConfig(bed, scheduler));
  const driver = bed.spawn("d1", [process.execPath, join(ROOT, "bench/adaptive-driver.ts"), configPath, "d1", mode], `driver-${name}`);
  const notes: string[] = [];
  let run: ClientRun | null = null;
  try {
    await waitForLine(driver, "READY", 20_000);
    progress(`${name}: ${seconds.warm + seconds.measured} s of load`);
    run = await runClient(bed, name, seconds.warm + seconds.measured, notes);
  } finally {
    await driver.stop("SIGTERM", STOP_GRACE_MS);
  }
  const code = await driver.exited;
  if (code !== 0) notes.push(`${name}: the driver exited with code ${code}: ${driver.stderr().trim().split("\n").slice(-3).join(" | ")}`);
  const samples = parseSamples(driver.stdout());
  const loadStartMs = run?.startMs ?? Date.now();
  const warm = run ? loadFigures(run, 0, seconds.warm) : null;
  const measured = run ? loadFigures(run, seconds.warm, seconds.warm + seconds.measured) : null;
  return { name, loadStartMs, samples, warm: scheduler === "adaptive" ? warm : null, measured, notes };
}

async function main(): Promise<number> {
  const deps = Bun.spawnSync([join(ROOT, "test/deps.sh"), "netns"], { stdout: "inherit", stderr: "inherit" });
  if (deps.exitCode !== 0) throw new Error(`test/deps.sh netns failed with exit code ${deps.exitCode}`);
  const loadBefore = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  progress(`building the test bed (load average ${loadBefore})`);
  const bed = await createTestbed({ clients: 1, servers: 3, accessLog: false, bigFileBytes: 1024 });
  const phases: PhaseResult[] = [];
  try {
    await bed.execOk("d1", ["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1"]);
    await startServers(bed);
    const plan: [string, string, string, { warm: number; measured: number }][] = [
      ["adaptive", "adaptive", "capacity", ADAPTIVE_S],
      ["rr", "rr", "capacity", STATIC_S],
      ["wlc", "wlc", "capacity", STATIC_S],
      ...(BASELINE ? [["netkestra", "adaptive", "netkestra", ADAPTIVE_S] as [string, string, string, { warm: number; measured: number }]] : []),
    ];
    for (const [name, scheduler, mode, seconds] of plan) {
      phases.push(await runPhase(bed, name, scheduler, mode, seconds));
      await Bun.sleep(DRAIN_MS);
    }
  } finally {
    progress("destroying the test bed");
    const report = await bed.destroy();
    for (const p of report.problems) process.stderr.write(`cleanup: ${p}\n`);
  }
  const loadAfter = (await Bun.file("/proc/loadavg").text()).split(" ").slice(0, 3).join(" ");
  const durationS = ADAPTIVE_S.warm + ADAPTIVE_S.measured;
  const tables = phases.filter((p) => p.name === "adaptive" || p.name === "netkestra");
  console.log(`Servers: ${SERVICE_MS.map((ms) => `${ms} ms`).join(", ")} mean service time (capacity ${SERVICE_MS.map((ms) => Math.round(1000 / ms)).join("/")} req/s); ${CLIENTS} clients, one request per connection; interval ${INTERVAL}.`);
  console.log("\nWeight shares every 10 s (Table 3), dispatched connection shares and mean response times (tandem's measurement) in the 10 s before:");
  console.log(weightTable(tables, durationS));
  console.log("\nClient view (bench/adaptive-client.ts, per window of the load):");
  console.log(loadTable(phases));
  console.log(`load average: ${loadBefore} before, ${loadAfter} after (2 CPUs shared with whatever else runs)`);
  for (const p of phases) for (const n of p.notes) console.log(`note: ${n}`);
  console.log(summaryJson(phases, { server_ms: SERVICE_MS, clients: CLIENTS, interval_s: 1, final_from_s: durationS - 20 }, durationS, durationS - 20));
  return phases.every((p) => p.measured !== null) ? 0 : 1;
}

process.exitCode = await main();
