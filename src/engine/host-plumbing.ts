/**
 * Applies and removes the host plumbing planned by `planHostPlumbing`: sysctls through the
 * Sysctls port, routes, rules and proxy neighbours through one `ip -force -batch -` process, and a
 * journal that makes every change undoable, even after SIGKILL.
 *
 * The journal is written before anything changes (state "applying", everything about to be
 * added, previous sysctl values) and rewritten afterwards with exactly what was added (state
 * "applied"). Removal reads it back; when it is lost, rules and routes are still found through
 * tandem's own routing table, which nothing else may use.
 *
 * iproute2 quirk: `-force` keeps a batch going after a failed route or rule line, but a failed
 * `neigh` line exits the whole process (ipneigh.c calls exit(2)). So neighbour lines come last,
 * deletions only name entries that exist, and every result is checked by reading the state back.
 */

import {
  neighbourLine,
  routeLine,
  ruleLine,
  tunLinkLine,
  type HostPlumbing,
  type PlumbingRoute,
  type PlumbingRule,
  type ProxyNeighbour,
} from "../core/nat/plan-host-plumbing.ts";
import type { HostCommands, Sysctls, TextFiles } from "../core/ports.ts";

/** The ports the plumbing needs. */
export interface PlumbingHost {
  readonly commands: HostCommands;
  readonly sysctls: Sysctls;
  readonly files: TextFiles;
}

/** One change that did not take effect, with the kernel's or iproute2's reason. */
export interface PlumbingFailure {
  /** The `ip` batch line or "sysctl NAME=VALUE". */
  readonly command: string;
  readonly error: string;
}

/** The outcome of applying or removing: empty `failures` means everything took effect. */
export interface PlumbingReport {
  readonly failures: readonly PlumbingFailure[];
}

interface JournalSysctl {
  readonly name: string;
  readonly value: string;
  readonly previous: string;
}

/** The journal file's content (version 1). */
interface Journal {
  readonly version: 1;
  readonly state: "applying" | "applied";
  readonly tun: string;
  readonly routeTable: number;
  readonly sysctls: readonly JournalSysctl[];
  readonly routes: readonly PlumbingRoute[];
  readonly rules: readonly PlumbingRule[];
  readonly proxyNeighbours: readonly ProxyNeighbour[];
}

/** What `ip` reports as present, as comparable keys. */
interface HostState {
  readonly rules: Set<string>;
  readonly routes: Set<string>;
  readonly neighbours: Set<string>;
}

const routeKey = (r: PlumbingRoute) => `${r.table} ${r.destination.replace(/\/32$/, "")} ${r.device}`;
const ruleKey = (r: PlumbingRule) => `${r.priority} ${r.iif} ${r.from.replace(/\/32$/, "")} ${r.protocol} ${r.sourcePort ?? "-"} ${r.table}`;
const neighbourKey = (n: ProxyNeighbour) => `${n.address} ${n.device}`;

/**
 * Sets up `plan` on the host and records it in the journal at `journalPath` (written, atomically,
 * before the first change). Contract: the TUN device `plan.tun.name` is open (the kernel deletes
 * it, and with it the routes through it, when tandem's process ends); no journal exists (run
 * `removeHostPlumbing` first, so that the previous values it holds are restored, not
 * overwritten). Entries that already existed are left out of the journal and never removed.
 * Resolves with what failed; rejects only when nothing could be attempted.
 */
export async function applyHostPlumbing(plan: HostPlumbing, host: PlumbingHost, journalPath: string, options: ApplyOptions = {}): Promise<PlumbingReport> {
  if (options.claim === false) plan = { ...plan, routes: plan.routes.filter((r) => !isClaimRoute(r)), proxyNeighbours: [] };
  if ((await host.files.read(journalPath)) !== undefined) {
    throw new Error(`Cannot set up host networking: journal "${journalPath}" of an earlier run exists: remove its leftovers first`);
  }
  if ((await host.sysctls.read(`net/ipv4/conf/${plan.tun.name}/rp_filter`)) === undefined) {
    throw new Error(`Cannot set up host networking: TUN device "${plan.tun.name}" does not exist: open it first`);
  }
  const failures: PlumbingFailure[] = [];
  const sysctls: JournalSysctl[] = [];
  for (const s of plan.sysctls) {
    const previous = await host.sysctls.read(s.name);
    if (previous !== undefined) sysctls.push({ name: s.name, value: s.value, previous });
    else if (!s.optional) failures.push({ command: `sysctl ${s.name}=${s.value}`, error: "no such parameter" });
  }
  const before = await readHostState(host.commands, [plan.routeTable]);
  const journal: Journal = {
    version: 1,
    state: "applying",
    tun: plan.tun.name,
    routeTable: plan.routeTable,
    sysctls,
    routes: plan.routes.filter((r) => !before.routes.has(routeKey(r))),
    rules: plan.rules.filter((r) => !before.rules.has(ruleKey(r))),
    proxyNeighbours: plan.proxyNeighbours.filter((n) => !before.neighbours.has(neighbourKey(n))),
  };
  await writeJournal(host.files, journalPath, journal);

  for (const s of sysctls) {
    try {
      await host.sysctls.write(s.name, s.value);
    } catch (error) {
      failures.push({ command: `sysctl ${s.name}=${s.value}`, error: (error as Error).message });
    }
  }
  const lines = [
    tunLinkLine(plan),
    ...journal.routes.map((r) => routeLine("add", r)),
    ...journal.rules.map((r) => ruleLine("add", r)),
    ...journal.proxyNeighbours.map((n) => neighbourLine("add", n)),
  ];
  const errors = await runBatch(host.commands, lines);
  const linkError = errors.get(1);
  if (linkError !== undefined) failures.push({ command: lines[0]!, error: linkError });

  const after = await readHostState(host.commands, [plan.routeTable]);
  const missing = (line: string, present: boolean) => {
    if (!present) failures.push({ command: line, error: errors.get(lines.indexOf(line) + 1) ?? "not present afterwards" });
    return present;
  };
  const routes = journal.routes.filter((r) => missing(routeLine("add", r), after.routes.has(routeKey(r))));
  const rules = journal.rules.filter((r) => missing(ruleLine("add", r), after.rules.has(ruleKey(r))));
  const proxyNeighbours: ProxyNeighbour[] = [];
  for (const n of journal.proxyNeighbours) {
    // A failed neigh line ends the batch, so the ones after it never ran: retry those alone.
    const ok = after.neighbours.has(neighbourKey(n)) || (await retryAlone(host.commands, neighbourLine("add", n), failures));
    if (ok) proxyNeighbours.push(n);
  }
  await writeJournal(host.files, journalPath, { ...journal, state: "applied", routes, rules, proxyNeighbours });
  return { failures };
}

/** Options of `applyHostPlumbing`. */
export interface ApplyOptions {
  /**
   * Whether to claim the VIPs and fullnat local addresses too (default true): their main-table
   * routes into the TUN and their proxy neighbours. A standby applies the rest only, and
   * `claimHostPlumbing` adds them at takeover.
   */
  readonly claim?: boolean;
}

/** The routes that make this node the owner of an address: main-table host routes into the TUN. */
function isClaimRoute(route: PlumbingRoute): boolean {
  return route.table === "main";
}

/**
 * Takeover: adds the plan's claim part (main-table routes of the VIPs and fullnat local addresses
 * into the TUN, then their proxy neighbours, so the node answers ARP only once packets can flow)
 * and records it in the journal. Contract: the journal of `applyHostPlumbing` exists; entries
 * already present are fine; resolves with what failed (the journal holds what took effect).
 */
export async function claimHostPlumbing(plan: HostPlumbing, host: PlumbingHost, journalPath: string): Promise<PlumbingReport> {
  const journal = await readJournal(host.files, journalPath);
  const failures: PlumbingFailure[] = [];
  const before = await readHostState(host.commands, []);
  const routes = plan.routes.filter((r) => isClaimRoute(r) && !before.routes.has(routeKey(r)));
  const neighbours = plan.proxyNeighbours.filter((n) => !before.neighbours.has(neighbourKey(n)));
  // Recorded before the change, so that a kill in between still leaves them to be removed.
  await writeJournal(host.files, journalPath, { ...journal, routes: unique([...journal.routes, ...routes], routeKey), proxyNeighbours: unique([...journal.proxyNeighbours, ...neighbours], neighbourKey) });
  const lines = [...routes.map((r) => routeLine("add", r)), ...neighbours.map((n) => neighbourLine("add", n))];
  const errors = await runBatch(host.commands, lines);
  const after = await readHostState(host.commands, []);
  for (const r of routes) {
    if (!after.routes.has(routeKey(r))) failures.push({ command: routeLine("add", r), error: errors.get(lines.indexOf(routeLine("add", r)) + 1) ?? "not present afterwards" });
  }
  for (const n of neighbours) {
    if (!after.neighbours.has(neighbourKey(n))) await retryAlone(host.commands, neighbourLine("add", n), failures);
  }
  return { failures };
}

/**
 * Release: removes the plan's claim part (proxy neighbours first, so ARP stops before the
 * routes go) and drops it from the journal; the rest stays, ready for the next takeover.
 * Contract: idempotent; missing entries are fine; what cannot be removed stays in the journal.
 */
export async function releaseHostPlumbing(plan: HostPlumbing, host: PlumbingHost, journalPath: string): Promise<PlumbingReport> {
  const journal = await readJournal(host.files, journalPath);
  const failures: PlumbingFailure[] = [];
  const claimRoutes = unique([...plan.routes.filter(isClaimRoute), ...journal.routes.filter(isClaimRoute)], routeKey);
  const neighbours = unique([...plan.proxyNeighbours, ...journal.proxyNeighbours], neighbourKey);
  const before = await readHostState(host.commands, []);
  const neighbourLines = neighbours.filter((n) => before.neighbours.has(neighbourKey(n))).map((n) => neighbourLine("del", n));
  const routeLines = claimRoutes.filter((r) => before.routes.has(routeKey(r))).map((r) => routeLine("del", r));
  await runBatch(host.commands, neighbourLines);
  await runBatch(host.commands, routeLines);
  const after = await readHostState(host.commands, []);
  const neighboursLeft: ProxyNeighbour[] = [];
  for (const n of neighbours) {
    if (after.neighbours.has(neighbourKey(n)) && !(await retryAlone(host.commands, neighbourLine("del", n), failures))) neighboursLeft.push(n);
  }
  const routesLeft = claimRoutes.filter((r) => after.routes.has(routeKey(r)));
  for (const r of routesLeft) failures.push({ command: routeLine("del", r), error: "still present afterwards" });
  const keptRoutes = journal.routes.filter((r) => !isClaimRoute(r));
  await writeJournal(host.files, journalPath, { ...journal, routes: [...keptRoutes, ...routesLeft], proxyNeighbours: neighboursLeft });
  return { failures };
}

async function readJournal(files: TextFiles, journalPath: string): Promise<Journal> {
  const text = await files.read(journalPath);
  const journal = text === undefined ? undefined : parseJournal(text);
  if (!journal) throw new Error(`Cannot change the VIP routes: journal "${journalPath}" is ${text === undefined ? "missing" : "not a tandem plumbing journal"}`);
  return journal;
}

/** Where removal finds what to remove when the journal is missing or incomplete. */
export interface RemoveFallback {
  /** The plan about to be applied: its routes and proxy neighbours are removed too. */
  readonly plan?: HostPlumbing;
  /** tandem's routing table: every rule pointing at it, and the table itself, are flushed. */
  readonly routeTable?: number;
}

/**
 * Removes everything the journal at `journalPath` records (routes, rules, proxy neighbours),
 * flushes tandem's routing table and every rule pointing at it, restores the recorded sysctl
 * values, and deletes the journal. Run it on exit and at start-up (leftovers of a killed
 * predecessor); `fallback` covers a lost journal, except for sysctl values, which only the
 * journal knows. Contract: idempotent, missing entries are fine; when something cannot be
 * removed it is reported and the journal keeps it, for the next attempt.
 */
export async function removeHostPlumbing(journalPath: string, host: PlumbingHost, fallback: RemoveFallback = {}): Promise<PlumbingReport> {
  const failures: PlumbingFailure[] = [];
  const text = await host.files.read(journalPath);
  let journal: Journal | undefined;
  if (text !== undefined) {
    journal = parseJournal(text);
    if (!journal) failures.push({ command: `read journal "${journalPath}"`, error: "not a tandem plumbing journal; sysctls left as they are" });
  }
  const tables = [...new Set([journal?.routeTable, fallback.plan?.routeTable, fallback.routeTable].filter((t) => t !== undefined))];
  const routes = unique([...(journal?.routes ?? []), ...(fallback.plan?.routes ?? [])], routeKey).filter((r) => r.table === "main");
  const neighbours = unique([...(journal?.proxyNeighbours ?? []), ...(fallback.plan?.proxyNeighbours ?? [])], neighbourKey);

  const before = await readHostState(host.commands, tables);
  const lines = [
    ...tables.flatMap((t) => [`rule flush table ${t}`, `route flush table ${t}`]),
    ...routes.filter((r) => before.routes.has(routeKey(r))).map((r) => routeLine("del", r)),
    // Only existing neighbours: deleting a missing one would end the batch (see above).
    ...neighbours.filter((n) => before.neighbours.has(neighbourKey(n))).map((n) => neighbourLine("del", n)),
  ];
  const errors = await runBatch(host.commands, lines);

  const after = await readHostState(host.commands, tables);
  for (const key of after.rules) failures.push({ command: `rule del ${key}`, error: errorFor(errors, lines, "rule flush") });
  for (const key of after.routes) {
    if (!key.startsWith("main ")) failures.push({ command: `route del ${key}`, error: errorFor(errors, lines, "route flush") });
  }
  const routesLeft = routes.filter((r) => after.routes.has(routeKey(r)));
  for (const r of routesLeft) failures.push({ command: routeLine("del", r), error: errorFor(errors, lines, routeLine("del", r)) });
  const neighboursLeft: ProxyNeighbour[] = [];
  for (const n of neighbours) {
    if (after.neighbours.has(neighbourKey(n)) && !(await retryAlone(host.commands, neighbourLine("del", n), failures))) neighboursLeft.push(n);
  }

  const sysctlsLeft: JournalSysctl[] = [];
  for (const s of [...(journal?.sysctls ?? [])].reverse()) {
    // A parameter of a device that is gone (the TUN) needs no restoring.
    if ((await host.sysctls.read(s.name)) === undefined) continue;
    try {
      await host.sysctls.write(s.name, s.previous);
    } catch (error) {
      failures.push({ command: `sysctl ${s.name}=${s.previous}`, error: (error as Error).message });
      sysctlsLeft.push(s);
    }
  }
  if (failures.length === 0 || !journal) {
    await host.files.remove(journalPath);
  } else {
    const rest: Journal = { ...journal, routes: routesLeft, rules: [], proxyNeighbours: neighboursLeft, sysctls: sysctlsLeft.reverse() };
    await writeJournal(host.files, journalPath, rest);
  }
  return { failures };
}

function unique<T>(items: readonly T[], key: (item: T) => string): T[] {
  const seen = new Map<string, T>();
  for (const item of items) if (!seen.has(key(item))) seen.set(key(item), item);
  return [...seen.values()];
}

function errorFor(errors: Map<number, string>, lines: readonly string[], prefix: string): string {
  const index = lines.findIndex((l) => l.startsWith(prefix));
  return (index >= 0 ? errors.get(index + 1) : undefined) ?? "still present afterwards";
}

async function writeJournal(files: TextFiles, path: string, journal: Journal): Promise<void> {
  await files.replace(path, `${JSON.stringify(journal, null, 1)}\n`);
}

function parseJournal(text: string): Journal | undefined {
  try {
    const j = JSON.parse(text) as Journal;
    const lists = [j.sysctls, j.routes, j.rules, j.proxyNeighbours];
    if (j.version !== 1 || typeof j.routeTable !== "number" || typeof j.tun !== "string" || !lists.every(Array.isArray)) return undefined;
    return j;
  } catch {
    return undefined;
  }
}

/**
 * Runs `lines` through one `ip -force -batch -` and maps batch line numbers (from 1) to the error
 * iproute2 printed for them ("RTNETLINK answers: File exists" then "Command failed -:N").
 */
async function runBatch(commands: HostCommands, lines: readonly string[]): Promise<Map<number, string>> {
  const errors = new Map<number, string>();
  if (lines.length === 0) return errors;
  const result = await commands.run(["ip", "-force", "-batch", "-"], `${lines.join("\n")}\n`);
  let pending: string[] = [];
  for (const line of result.stderr.split("\n")) {
    const failed = /^Command failed -:(\d+)$/.exec(line.trim());
    if (failed) {
      errors.set(Number(failed[1]), pending.join("; ") || "failed");
      pending = [];
    } else if (line.trim() !== "") {
      pending.push(line.trim());
    }
  }
  // Text after the last marker comes from a line that ended the batch (a failed neigh line).
  if (pending.length > 0) errors.set(0, pending.join("; "));
  return errors;
}

async function retryAlone(commands: HostCommands, line: string, failures: PlumbingFailure[]): Promise<boolean> {
  const result = await commands.run(["ip", ...line.split(" ")]);
  if (result.code === 0) return true;
  failures.push({ command: line, error: result.stderr.trim() || `ip exited with status ${result.code}` });
  return false;
}

/** Reads rules and routes of `tables`, the main table's routes and all proxy neighbours in one `ip -j -batch`. */
async function readHostState(commands: HostCommands, tables: readonly number[]): Promise<HostState> {
  const lines = [...tables.flatMap((t) => [`rule show table ${t}`, `route show table ${t}`]), "route show table main", "neigh show proxy"];
  const result = await commands.run(["ip", "-j", "-force", "-batch", "-"], `${lines.join("\n")}\n`);
  const outputs = result.stdout.split("\n").filter((l) => l.trim() !== "");
  if (outputs.length !== lines.length) {
    throw new Error(`Cannot read the host's routes and rules: "ip -j -batch" printed ${outputs.length} results for ${lines.length} commands: ${result.stderr.trim()}`);
  }
  const parsed = outputs.map((o) => JSON.parse(o) as Record<string, unknown>[]);
  const state: HostState = { rules: new Set(), routes: new Set(), neighbours: new Set() };
  tables.forEach((table, i) => {
    for (const r of parsed[2 * i]!) {
      const src = r.src === "all" || r.src === undefined ? "0.0.0.0/0" : r.srclen === undefined ? String(r.src) : `${r.src}/${r.srclen}`;
      state.rules.add(`${r.priority} ${r.iif ?? "-"} ${src} ${r.ipproto ?? "-"} ${r.sport ?? "-"} ${r.table}`);
    }
    for (const r of parsed[2 * i + 1]!) state.routes.add(`${table} ${r.dst} ${r.dev}`);
  });
  for (const r of parsed[2 * tables.length]!) state.routes.add(`main ${r.dst} ${r.dev}`);
  for (const n of parsed[2 * tables.length + 1]!) state.neighbours.add(`${n.dst} ${n.dev}`);
  return state;
}
