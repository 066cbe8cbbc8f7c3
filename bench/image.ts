/**
 * Appliance image benchmark (issue 4): what dist/tandem.img costs on disk and in RAM, and how long
 * it takes to serve. Figures: the raw image's file and allocated sizes, its `xz -T2 -6` size (the
 * download), wall seconds from starting QEMU to `tandem ready: node=d1` under TCG (`-cpu Nehalem
 * -m 256`, one VM) with BIOS and with UEFI, each counted only once one curl through the VIP
 * returns 200; the tandem process's RSS inside the serving VM (VmRSS, with the guest's
 * MemAvailable); and the smallest `-m` on a 16 MB grid (64 to 256) with which a BIOS boot still
 * serves, found by bisection starting at the 128 MB target. MB are MiB throughout (as `-m` is).
 *
 * Run: `just bench image` (root; installs the `netns`, `image` and `vm` Debian groups and builds
 * dist/tandem.img with `just image` when it is missing). Prints tables and, last on stdout, one
 * JSON line `{"bench":"image","img_mb":…,"img_xz_mb":…,"boot_bios_s":…,…}`; progress goes to
 * stderr. The measuring part is bounded by BENCH_LIMIT_MS; past it the bench reports what it has
 * and exits 1. Boot times are wall time on a shared host: the boot table shows the load average
 * and other QEMUs running at each boot, and QEMU's CPU share, so contention shows. Not part of `npm test`.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { curl } from "../test/integration/testbed/clients.ts";
import type { Firmware, QemuVm } from "../test/vm/qemu-vm.ts";
import { createVmBed, IMAGE, vmPairConfig, type VmBed } from "../test/vm/vm-bed.ts";
import { shell } from "../test/vm/vm-console.ts";

const ROOT = resolve(import.meta.dir, "..");
const MIB = 1024 * 1024;
/** Hard limit of the measuring part (after dependencies and the image build). */
const BENCH_LIMIT_MS = 25 * 60_000;
/** Longest wait for `tandem ready` in the 256 MB boots (a contended TCG host is slow). */
const MAIN_BOOT_TIMEOUT_MS = 300_000;
/** Longest wait for `tandem ready` in a memory probe (raised to twice the BIOS boot if that was slower). */
const PROBE_TIMEOUT_MS = 240_000;
const MAX_PROBE_TIMEOUT_MS = 360_000;
/** Time a boot needs beyond its console wait: bed setup, curl, the console shell, teardown. */
const BOOT_OVERHEAD_MS = 90_000;
/** At most this many memory probes besides the 256 MB BIOS boot. */
const MAX_MEM_PROBES = 5;
/** The `-m` grid the memory search walks, MB. */
const MEM_GRID = Array.from({ length: 13 }, (_, i) => 64 + 16 * i);
const MEM_TARGET_MB = 128;
const XZ_TARGET_MB = 64;
const READY = /tandem ready: node=d1/;
/** Console lines that end a boot as failed: the kernel's OOM killer or a panic, a stage 1 rescue, tandem dying. */
const FAILURE = /Out of memory|Kernel panic|tandem-init: stage 1 failed|tandem-init: CONFIG ERROR|tandem-supervise: tandem exited with code \d+/;
/** Whichever comes first: the ready line or a failure line. */
const OUTCOME = new RegExp(`${READY.source}|${FAILURE.source}`);

function progress(message: string): void {
  process.stderr.write(`[image ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** First line of an error's message. */
function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0]!;
}

/** Runs a command from the repository root to completion, bounded by `timeoutMs`; stderr is shown. */
async function runLocal(argv: string[], timeoutMs: number): Promise<number> {
  const proc = Bun.spawn(argv, { cwd: ROOT, stdin: "ignore", stdout: "inherit", stderr: "inherit" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  try {
    return await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** Installs the Debian tools and builds dist/tandem.img when it is missing; throws when either fails. */
async function prepare(): Promise<void> {
  const deps = await runLocal(["test/deps.sh", "netns", "image", "vm"], 900_000);
  if (deps !== 0) throw new Error(`test/deps.sh netns image vm failed with exit code ${deps}`);
  if (existsSync(IMAGE)) return;
  progress(`${IMAGE} is missing: building it with just image`);
  const built = await runLocal(["node_modules/.bin/just", "image"], 1_800_000);
  if (built !== 0 || !existsSync(IMAGE)) throw new Error(`"just image" failed with exit code ${built}`);
}

/** Sizes of the raw image: file size, allocated size (du), and the xz -T2 -6 stream's size. */
interface ImageSizes {
  fileMb: number;
  allocatedMb: number;
  xzMb: number | null;
  xzS: number | null;
}

/** Measures the image on disk; the xz size is counted from xz's stdout, nothing is written. */
async function measureSizes(notes: string[]): Promise<ImageSizes> {
  const st = statSync(IMAGE);
  const sizes: ImageSizes = { fileMb: st.size / MIB, allocatedMb: (st.blocks * 512) / MIB, xzMb: null, xzS: null };
  progress(`xz -T2 -6 of ${(st.size / MIB).toFixed(0)} MB (${sizes.allocatedMb.toFixed(0)} MB allocated)`);
  const started = performance.now();
  const proc = Bun.spawn(["xz", "-T2", "-6", "-c", IMAGE], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), 900_000);
  try {
    let bytes = 0;
    for await (const chunk of proc.stdout) bytes += chunk.byteLength;
    const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) notes.push(`xz failed with exit code ${code}: ${stderr.trim()}`);
    else Object.assign(sizes, { xzMb: bytes / MIB, xzS: (performance.now() - started) / 1000 });
  } finally {
    clearTimeout(timer);
  }
  return sizes;
}

/** What the host was doing while a VM booted. */
interface HostLoad {
  /** 1-minute load average at the start and at the end. */
  loadStart: number;
  loadEnd: number;
  /** Most QEMUs of other processes seen running (at the start or the end). */
  otherQemus: number;
  /** QEMU's CPU time over the wall time to ready, percent (about 100 when TCG ran uncontended; guest idle time lowers it too). */
  qemuCpuPercent: number | null;
}

/** One boot: firmware, memory, whether it served, and the guest's memory figures. */
interface BootResult {
  label: string;
  firmware: Firmware;
  memoryMb: number;
  ok: boolean;
  /** Seconds from starting QEMU to `tandem ready` (null when it never came). */
  readyS: number | null;
  /** Why it failed ("" when ok). */
  reason: string;
  rssMb: number | null;
  hwmMb: number | null;
  memAvailableMb: number | null;
  memTotalMb: number | null;
  load: HostLoad | null;
}

function loadAverage(): number {
  return Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
}

/** QEMU processes on the host other than `ownPid`. */
function otherQemus(ownPid: number): number {
  let count = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === ownPid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0")[0]!.includes("qemu-system")) count++;
    } catch {
      // Gone meanwhile.
    }
  }
  return count;
}

/** User plus system CPU seconds of a process, or null when it is gone. */
function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // Fields 14 and 15 of /proc/PID/stat (utime, stime), in clock ticks of 1/100 s on Linux.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return null;
  }
}

/** A `Name:  N kB` field of /proc output, in MB, or null when absent. */
function kbField(out: string, name: string): number | null {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(out);
  return m ? Number(m[1]) / 1024 : null;
}

/** Reads tandem's VmRSS/VmHWM and the guest's MemTotal/MemAvailable through the console shell (MB). */
async function guestMemory(vm: QemuVm): Promise<Pick<BootResult, "rssMb" | "hwmMb" | "memAvailableMb" | "memTotalMb">> {
  const out = await shell(vm, "grep -E '^(VmRSS|VmHWM):' /proc/$(cat /run/tandem.pid)/status; grep -E '^(MemTotal|MemAvailable):' /proc/meminfo", { timeoutMs: 90_000 });
  const kb = (name: string) => kbField(out, name);
  if (kb("VmRSS") === null) throw new Error(`No VmRSS in the console output: "${out.trim()}"`);
  return { rssMb: kb("VmRSS"), hwmMb: kb("VmHWM"), memAvailableMb: kb("MemAvailable"), memTotalMb: kb("MemTotal") };
}

/**
 * After `tandem exited with code N` the supervisor prints the last lines of tandem's log, then
 * starts the next attempt: waits for that attempt's line (bounded) and notes the lines between.
 */
async function supervisorTail(vm: QemuVm, failure: string, after: number, label: string, notes: string[]): Promise<void> {
  if (!failure.includes("tandem exited with code")) return;
  // The log tail starts on the line after the exit line (which ends "; restarting in N s").
  const from = vm.consoleText(after).indexOf("\n") + after + 1;
  const next = await vm.waitForConsole(/tandem-supervise: starting tandem \(attempt \d+\)/, 20_000, { after: from }).catch(() => null);
  const tail = vm.consoleText(from).slice(0, next ? next.index - from : undefined).split("\n").map((l) => l.trim()).filter((l) => l !== "");
  if (tail.length) notes.push(`${label}: tandem's log tail: ${tail.join(" | ")}`);
}

/** On a failed boot, reads the guest's MemTotal/MemAvailable through the console shell if it still answers (best effort, bounded). */
async function diagnose(vm: QemuVm, result: BootResult, notes: string[]): Promise<void> {
  if (!vm.running) return;
  try {
    const out = await shell(vm, "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; cat /proc/loadavg", { timeoutMs: 30_000 });
    result.memTotalMb = kbField(out, "MemTotal");
    result.memAvailableMb = kbField(out, "MemAvailable");
    const load = /^\d+\.\d+ \d+\.\d+ \d+\.\d+/m.exec(out)?.[0];
    if (load) notes.push(`${result.label}: guest load average at the failure: ${load}`);
  } catch {
    notes.push(`${result.label}: the console shell did not answer within 30 s`);
  }
}

/**
 * Boots the image once in a fresh one-VM bed and checks it serves: waits (event-driven) for the
 * ready line or a failure line, whichever comes first, then curls the VIP once and reads the
 * guest's memory figures. The bed is always destroyed; cleanup problems go to `notes`.
 */
async function bootOnce(label: string, firmware: Firmware, memoryMb: number, timeoutMs: number, notes: string[]): Promise<BootResult> {
  const result: BootResult = { label, firmware, memoryMb, ok: false, readyS: null, reason: "", rssMb: null, hwmMb: null, memAvailableMb: null, memTotalMb: null, load: null };
  let vmBed: VmBed | undefined;
  let vm: QemuVm | undefined;
  progress(`${label}: ${firmware}, -m ${memoryMb}, waiting up to ${timeoutMs / 1000} s for "tandem ready"`);
  try {
    vmBed = await createVmBed({ vms: 1, servers: 1, clients: 1, firmware, memoryMb, toml: (bed) => vmPairConfig(bed), start: false });
    const loadStart = loadAverage();
    const started = performance.now();
    vm = await vmBed.startVm(1);
    const others = otherQemus(vm.pid);
    const outcome = await vm.waitForConsole(OUTCOME, timeoutMs).catch((error: unknown) => error as Error);
    const wallS = (performance.now() - started) / 1000;
    const cpuS = cpuSeconds(vm.pid);
    result.load = { loadStart, loadEnd: loadAverage(), otherQemus: Math.max(others, otherQemus(vm.pid)), qemuCpuPercent: cpuS === null ? null : (100 * cpuS) / wallS };
    if (outcome instanceof Error) {
      result.reason = /within \d+ ms/.test(outcome.message) ? `no "tandem ready" within ${timeoutMs / 1000} s` : firstLine(outcome);
      await diagnose(vm, result, notes);
      return result;
    }
    if (!READY.test(outcome[0])) {
      result.reason = `console: "${outcome[0]}"`;
      await supervisorTail(vm, outcome[0], outcome.end, label, notes);
      await diagnose(vm, result, notes);
      return result;
    }
    result.readyS = wallS;
    progress(`${label}: "tandem ready" after ${wallS.toFixed(1)} s; curl http://${vmBed.addresses.vip}/`);
    const r = await curl(vmBed.bed, `http://${vmBed.addresses.vip}/`, { timeoutMs: 20_000 });
    if (r.status !== 200) {
      result.reason = `curl http://${vmBed.addresses.vip}/ gave status ${r.status}${r.error ? `: ${r.error}` : ""}`;
      return result;
    }
    try {
      Object.assign(result, await guestMemory(vm));
    } catch (error) {
      notes.push(`${label}: cannot read the guest's memory figures: ${firstLine(error)}`);
    }
    // The OOM killer may strike after the ready line (on the first request, or while the shell runs).
    const late = FAILURE.exec(vm.consoleText());
    result.ok = late === null;
    result.reason = late ? `console after ready: "${late[0]}"` : "";
    return result;
  } catch (error) {
    result.reason = firstLine(error);
    return result;
  } finally {
    if (!result.ok && vm) progress(`${label} failed (${result.reason}); last console lines:\n${vm.consoleTail(15)}`);
    else progress(`${label}: ${result.ok ? "served" : `failed (${result.reason})`}`);
    const report = await vmBed?.destroy();
    for (const p of report?.problems ?? []) notes.push(`${label} cleanup: ${p}`);
  }
}

/** Outcome of the memory search. */
interface MemorySearch {
  /** Smallest `-m` seen to serve (null if none). */
  minMemMb: number | null;
  /** True when the grid point below minMemMb was seen to fail (or minMemMb is the grid's lowest). */
  exact: boolean;
  /** Whether 128 MB served (null if not probed). */
  targetOk: boolean | null;
}

/**
 * Bisects the 16 MB grid for the smallest `-m` that serves (BIOS), assuming more memory never
 * hurts: 256 MB is known to serve from the BIOS boot, 128 MB (the target) is probed first.
 * Bounded by MAX_MEM_PROBES and by the deadline; each probe is a fresh VM bed.
 */
async function searchMinMemory(bios256: BootResult, probes: BootResult[], timeoutMs: number, deadline: number, notes: string[]): Promise<MemorySearch> {
  if (!bios256.ok) {
    notes.push("memory search skipped: the 256 MB BIOS boot did not serve");
    return { minMemMb: null, exact: false, targetOk: null };
  }
  // Invariant: grid[hi] serves, grid[lo] fails (lo = -1: nothing below the grid is known to fail).
  let hi = MEM_GRID.indexOf(256);
  let lo = -1;
  let targetOk: boolean | null = null;
  for (let n = 0; hi - lo > 1 && n < MAX_MEM_PROBES; n++) {
    const mid = n === 0 ? MEM_GRID.indexOf(MEM_TARGET_MB) : Math.floor((lo + hi) / 2);
    if (Date.now() + timeoutMs + BOOT_OVERHEAD_MS > deadline) {
      notes.push(`memory search stopped before probing ${MEM_GRID[mid]} MB: the bench's ${BENCH_LIMIT_MS / 60_000} min limit is near`);
      break;
    }
    const probe = await bootOnce(`probe ${n + 1}`, "bios", MEM_GRID[mid]!, timeoutMs, notes);
    probes.push(probe);
    if (MEM_GRID[mid] === MEM_TARGET_MB) targetOk = probe.ok;
    if (probe.ok) hi = mid;
    else lo = mid;
  }
  return { minMemMb: MEM_GRID[hi]!, exact: hi - lo <= 1, targetOk };
}

const fmt = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? "n/a" : v.toFixed(digits));
const round = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? null : Math.round(v * 10 ** digits) / 10 ** digits);

/** Left-aligns the first column and right-aligns the others. */
function renderTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()).join("\n");
}

/** Everything the report shows. */
interface Report {
  sizes: ImageSizes | null;
  bios: BootResult | null;
  uefi: BootResult | null;
  probes: BootResult[];
  search: MemorySearch;
  complete: boolean;
  notes: string[];
  elapsedS: number;
}

function summaryTable(r: Report): string {
  const s = r.sizes;
  const check = (ok: boolean | null) => (ok === null ? "n/a" : ok ? "met" : "MISSED");
  const served = (b: BootResult | null) => (b === null ? "n/a" : b.ok ? fmt(b.readyS, 1) : "failed");
  const minMem = r.search.minMemMb === null ? "n/a" : `${r.search.minMemMb}${r.search.exact ? "" : " (upper bound)"}`;
  return renderTable([
    ["figure", "value", "target", ""],
    ["image file size (MB)", fmt(s?.fileMb, 1), "", ""],
    ["image allocated, du (MB)", fmt(s?.allocatedMb, 1), "", ""],
    ["image xz -T2 -6 (MB)", fmt(s?.xzMb, 1), `<= ${XZ_TARGET_MB}`, check(s?.xzMb == null ? null : s.xzMb <= XZ_TARGET_MB)],
    ["xz time (s)", fmt(s?.xzS, 1), "", ""],
    ["BIOS boot to serving, -m 256 (s)", served(r.bios), "", ""],
    ["UEFI boot to serving, -m 256 (s)", served(r.uefi), "", ""],
    ["tandem RSS, serving, -m 256 (MB)", fmt(r.bios?.rssMb, 1), "", ""],
    ["tandem peak RSS, VmHWM (MB)", fmt(r.bios?.hwmMb, 1), "", ""],
    ["guest MemAvailable, -m 256 (MB)", fmt(r.bios?.memAvailableMb, 1), "", ""],
    ["guest MemTotal, -m 256 (MB)", fmt(r.bios?.memTotalMb, 1), "", ""],
    ["smallest -m that serves, BIOS (MB)", minMem, `<= ${MEM_TARGET_MB}`, check(r.search.targetOk)],
  ]);
}

function bootTable(boots: BootResult[]): string {
  const rows = [["boot", "firmware", "-m", "result", "ready (s)", "RSS", "HWM", "MemAvail", "MemTotal", "load 1m", "other QEMUs", "QEMU CPU %"]];
  for (const b of boots) {
    rows.push([
      b.label, b.firmware, String(b.memoryMb), b.ok ? "serves" : "FAILS", fmt(b.readyS, 1), fmt(b.rssMb, 1), fmt(b.hwmMb, 1),
      fmt(b.memAvailableMb, 1), fmt(b.memTotalMb, 1), b.load ? `${b.load.loadStart.toFixed(2)}-${b.load.loadEnd.toFixed(2)}` : "n/a",
      b.load ? String(b.load.otherQemus) : "n/a", fmt(b.load?.qemuCpuPercent, 0),
    ]);
  }
  const failures = boots.filter((b) => !b.ok).map((b) => `${b.label} (-m ${b.memoryMb}): ${b.reason}`);
  return renderTable(rows) + (failures.length ? `\n${failures.map((f) => `failed ${f}`).join("\n")}` : "");
}

function reportJson(r: Report): string {
  const served = (b: BootResult | null) => (b?.ok ? round(b.readyS, 1) : null);
  const boots = [r.bios, r.uefi, ...r.probes].filter((b): b is BootResult => b !== null);
  return JSON.stringify({
    bench: "image",
    img_mb: round(r.sizes?.fileMb, 1),
    img_alloc_mb: round(r.sizes?.allocatedMb, 1),
    img_xz_mb: round(r.sizes?.xzMb, 1),
    img_xz_ok: r.sizes?.xzMb == null ? null : r.sizes.xzMb <= XZ_TARGET_MB,
    xz_s: round(r.sizes?.xzS, 1),
    boot_bios_s: served(r.bios),
    boot_uefi_s: served(r.uefi),
    rss_mb: round(r.bios?.rssMb, 1),
    rss_hwm_mb: round(r.bios?.hwmMb, 1),
    mem_available_mb: round(r.bios?.memAvailableMb, 1),
    min_mem_mb: r.search.minMemMb,
    min_mem_exact: r.search.exact,
    mem_128_ok: r.search.targetOk,
    boots: boots.map((b) => ({
      label: b.label, firmware: b.firmware, mem_mb: b.memoryMb, ok: b.ok, ready_s: round(b.readyS, 1), rss_mb: round(b.rssMb, 1),
      mem_available_mb: round(b.memAvailableMb, 1), load: b.load ? [round(b.load.loadStart, 2), round(b.load.loadEnd, 2)] : null,
      other_qemus: b.load?.otherQemus ?? null, qemu_cpu_pct: round(b.load?.qemuCpuPercent, 0), reason: b.reason || undefined,
    })),
    elapsed_s: Math.round(r.elapsedS),
    complete: r.complete,
    notes: r.notes,
  });
}

/** Runs a step unless the deadline leaves too little time for it; records the skip in `notes`. */
function fits(deadline: number, needMs: number, what: string, notes: string[]): boolean {
  if (Date.now() + needMs <= deadline) return true;
  notes.push(`${what} skipped: the bench's ${BENCH_LIMIT_MS / 60_000} min limit is near`);
  return false;
}

async function main(): Promise<number> {
  await prepare();
  const startedAt = Date.now();
  const deadline = startedAt + BENCH_LIMIT_MS;
  const notes: string[] = [];
  const r: Report = { sizes: null, bios: null, uefi: null, probes: [], search: { minMemMb: null, exact: false, targetOk: null }, complete: true, notes, elapsedS: 0 };
  r.sizes = await measureSizes(notes);
  const mainNeedMs = MAIN_BOOT_TIMEOUT_MS + BOOT_OVERHEAD_MS;
  if (fits(deadline, mainNeedMs, "BIOS boot", notes)) r.bios = await bootOnce("bios", "bios", 256, MAIN_BOOT_TIMEOUT_MS, notes);
  if (fits(deadline, mainNeedMs, "UEFI boot", notes)) r.uefi = await bootOnce("uefi", "uefi", 256, MAIN_BOOT_TIMEOUT_MS, notes);
  const biosReadyMs = (r.bios?.readyS ?? 0) * 1000;
  const probeTimeoutMs = Math.min(MAX_PROBE_TIMEOUT_MS, Math.max(PROBE_TIMEOUT_MS, Math.round(2 * biosReadyMs)));
  if (r.bios) r.search = await searchMinMemory(r.bios, r.probes, probeTimeoutMs, deadline, notes);
  r.elapsedS = (Date.now() - startedAt) / 1000;
  // Complete: every figure was measured (a target missed is a result, not an incomplete run).
  r.complete = r.sizes.xzMb !== null && r.bios?.ok === true && r.uefi?.ok === true && r.search.exact;
  console.log(summaryTable(r));
  console.log("");
  console.log(bootTable([r.bios, r.uefi, ...r.probes].filter((b): b is BootResult => b !== null)));
  for (const n of notes) console.log(`note: ${n}`);
  console.log(reportJson(r));
  return r.complete ? 0 : 1;
}

process.exitCode = await main();
