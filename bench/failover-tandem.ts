/**
 * tandem's side of `bench/failover.ts`: the heartbeat pair of the failover test
 * (test/integration/pair-config.ts: keepalive 100 ms, deadtime 500 ms, the client as witness)
 * in a fresh two-dispatcher bed. Measures the sync lag under ~5,000 new connections/s through
 * the VIP, then node-death trials (kill -9 of the active node and its links go down, the
 * simulation keepalived gets too; the pair is rebuilt after each, the dead node returning as the
 * standby), then one kill -9 of the active process alone (links up, as in failover.test.ts).
 */
import { PAIR_GATEWAY_VIP, pairConfig } from "../test/integration/pair-config.ts";
import { startTandem, type TandemNode } from "../test/integration/tandem-node.ts";
import { curl } from "../test/integration/testbed/clients.ts";
import { createTestbed, type Testbed } from "../test/integration/testbed/topology.ts";
import { pacedNewConnections } from "./failover-load.ts";
import { BIG_FILE_BYTES, epochMs, runTrial, type TrialResult } from "./failover-trial.ts";

/** New connections per second the sync lag is measured at. */
export const LAG_TARGET_RATE = 5000;
const LAG_LOAD_S = 5;
const WARMUP_S = 1;
const ROLE_TIMEOUT_MS = 15_000;
const SYNCED_TIMEOUT_MS = 10_000;
const POLL_MS = 10;

/** The `sync.lag` object of GET /api/v1/status (percentiles over the most recent samples). */
export interface SyncLag {
  /** Samples ever taken. */
  readonly samples: number;
  /** Samples the percentiles are computed over (the most recent). */
  readonly window: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly maxMs: number | null;
  readonly [other: string]: unknown;
}

/** The sync lag run: the achieved load and the active node's lag figures before and after it. */
export interface LagRun {
  readonly achievedRate: number;
  readonly requests: number;
  readonly errors: number;
  readonly before: SyncLag | null;
  readonly after: SyncLag | null;
}

/** Everything the tandem phase measured. */
export interface TandemFigures {
  lag: LagRun | null;
  /** Node death, one per round: kill -9 of the active node and its links down. */
  dead: TrialResult[];
  /** Per node-death trial: from the kill to the standby's "peer is dead" log line, ms (null if not found). */
  peerDeadMs: (number | null)[];
  /** kill -9 of the active process only (links up). */
  killOnly: TrialResult | null;
  /** Whether the standby reported `ha.flags.synced` before each trial. */
  standbySynced: boolean[];
}

interface HaView {
  role: string;
  vipsHeld: boolean;
  flags: { synced: boolean };
}

type Status = { ha: HaView | null; sync?: { lag?: SyncLag }; dispatcher?: { sync?: { lag?: SyncLag } } };

/**
 * Runs the tandem phase (`rounds` node-death trials) in its own bed, destroyed before it returns.
 * Failures become notes, and what was measured before one is kept.
 */
export async function tandemPhase(rounds: number, notes: string[], progress: (m: string) => void): Promise<TandemFigures> {
  const figures: TandemFigures = { lag: null, dead: [], peerDeadMs: [], killOnly: null, standbySynced: [] };
  progress("tandem: building the bed (2 dispatchers, 3 servers, 1 client)");
  const bed = await createTestbed({ dispatchers: 2, servers: 3, serverGateway: PAIR_GATEWAY_VIP, accessLog: false, bigFileBytes: BIG_FILE_BYTES });
  const nodes = new Map<string, TandemNode>();
  try {
    const config = pairConfig(bed, { pingNodes: [bed.addresses.clients[0]!.public] });
    const [d1, d2] = await Promise.all([startTandem(bed, "d1", config), startTandem(bed, "d2", config)]);
    nodes.set("d1", d1);
    nodes.set("d2", d2);
    await ready(bed, nodes, "d1", "d2", figures, notes, progress);

    progress(`tandem: sync lag at ~${LAG_TARGET_RATE} new connections/s for ${LAG_LOAD_S} s`);
    figures.lag = await attempt(notes, "sync lag", () => measureLag(bed, d1, notes));

    // Node-death trials alternate: the killed node comes back as the standby of the next one.
    let [active, standby] = ["d1", "d2"];
    for (let round = 1; round <= rounds; round++) {
      progress(`tandem: node death ${round}/${rounds} (kill -9 of ${active}, its links down)`);
      const [a, s] = [active, standby];
      const trial = await attempt(notes, `tandem node death ${round}`, () => runTrial(bed, "c1", bed.addresses.vip, {
        kill: () => killNode(bed, nodes.get(a)!, true),
        takeover: (at, deadline) => takeoverAt(nodes.get(s)!, at, deadline),
      }));
      if (trial?.errors.length) logTails(nodes, progress);
      if (trial) {
        figures.dead.push(trial);
        figures.peerDeadMs.push(loggedAfter(nodes.get(s)!, /event=peer-dead/, trial.killAtMs));
      }
      progress(`tandem: ${a} back as the standby`);
      await bed.execOk(a, ["sh", "-c", "ip link set eth0 up && ip link set eth1 up && ip link set eth2 up"]);
      nodes.set(a, await startTandem(bed, a, config));
      await ready(bed, nodes, s, a, figures, notes, progress);
      [active, standby] = [s, a];
    }

    progress(`tandem: kill -9 of the active process only (${active}, links stay up)`);
    const [a, s] = [active, standby];
    figures.killOnly = await attempt(notes, "tandem kill only", () => runTrial(bed, "c1", bed.addresses.vip, {
      kill: () => killNode(bed, nodes.get(a)!, false),
      takeover: (at, deadline) => takeoverAt(nodes.get(s)!, at, deadline),
    }));
  } catch (error) {
    // The pair did not come back (or not at all): keep what was measured so far.
    notes.push(`tandem: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
    logTails(nodes, progress);
  } finally {
    progress("tandem: destroying the bed");
    const report = await bed.destroy();
    for (const p of report.problems) notes.push(`cleanup: ${p}`);
  }
  return figures;
}

/** Waits for `active` active with the VIPs, `standby` standby without them, then (bounded) for the standby's synced flag. */
async function ready(bed: Testbed, nodes: Map<string, TandemNode>, active: string, standby: string, figures: TandemFigures, notes: string[], progress: (m: string) => void): Promise<void> {
  const ha = async (n: string) => ((await nodes.get(n)!.status().catch(() => ({ ha: null }))) as unknown as Status).ha;
  const deadline = Date.now() + ROLE_TIMEOUT_MS;
  for (;;) {
    const [a, s] = await Promise.all([ha(active), ha(standby)]);
    // The standby must also hold no VIP: otherwise the client may be served by it, and killing
    // the "active" node would measure nothing.
    if (a?.role === "active" && a.vipsHeld && s?.role === "standby" && !s.vipsHeld) break;
    if (Date.now() > deadline) throw new Error(`The pair did not settle with "${active}" active and "${standby}" standby within ${ROLE_TIMEOUT_MS} ms: ${JSON.stringify([a, s])}`);
    await Bun.sleep(50);
  }
  const syncedBy = Date.now() + SYNCED_TIMEOUT_MS;
  let synced = false;
  while (!synced && Date.now() < syncedBy) {
    synced = (await ha(standby))?.flags.synced === true;
    if (!synced) await Bun.sleep(100);
  }
  figures.standbySynced.push(synced);
  if (!synced) notes.push(`tandem: standby "${standby}" did not report ha.flags.synced within ${SYNCED_TIMEOUT_MS} ms; the trial ran anyway`);
  if (!synced) logTails(nodes, progress);
  const r = await curl(bed, `http://${bed.addresses.vip}/`, { timeoutMs: 5000 });
  if (r.status !== 200) throw new Error(`The VIP does not serve through "${active}": ${r.status} ${r.error}`);
}

/**
 * LAG_TARGET_RATE new connections/s (paced wrk, Connection: close) for LAG_LOAD_S s, after a
 * 1 s warm-up at the same rate; `sync.lag` is read before and after the measured run.
 */
async function measureLag(bed: Testbed, active: TandemNode, notes: string[]): Promise<LagRun> {
  const url = `http://${bed.addresses.vip}/1k`;
  await pacedNewConnections(bed, "c1", url, LAG_TARGET_RATE, WARMUP_S);
  const before = lagOf((await active.status()) as unknown as Status);
  const run = await pacedNewConnections(bed, "c1", url, LAG_TARGET_RATE, LAG_LOAD_S);
  const after = lagOf((await active.status()) as unknown as Status);
  if (!after) notes.push("tandem: GET /api/v1/status has no sync.lag (the sync engine does not report it yet): sync lag not measured");
  else if (after.samples === (before?.samples ?? 0)) notes.push("tandem: sync.lag took no samples during the load run: no new connection reached the standby's table");
  else if (after.samples - (before?.samples ?? 0) < after.window) notes.push(`tandem: only ${after.samples - (before?.samples ?? 0)} of the ${after.window} samples in sync.lag's window come from the load run`);
  if (run.ratePerS < LAG_TARGET_RATE * 0.95) notes.push(`tandem: the lag run reached ${Math.round(run.ratePerS)} of the ${LAG_TARGET_RATE} new connections/s offered`);
  return { achievedRate: run.ratePerS, requests: run.requests, errors: run.errors, before, after };
}

/** `sync.lag` of a status (top-level `sync`, or under `dispatcher.sync`), or null when absent. */
function lagOf(status: Status): SyncLag | null {
  const lag = status.sync?.lag ?? status.dispatcher?.sync?.lag;
  return lag && typeof lag.samples === "number" ? lag : null;
}

/** kill -9 of the node's process by PID; with `linksDown`, its three links go down right after (a dead box). */
async function killNode(bed: Testbed, node: TandemNode, linksDown: boolean): Promise<void> {
  node.proc.signal("SIGKILL");
  if (linksDown) await bed.execOk(node.node, ["sh", "-c", "ip link set eth0 down; ip link set eth1 down; ip link set eth2 down"]);
  await node.proc.exited;
}

/** The time of `node`'s "Became active" log line (logged with ms timestamps) after `killAtMs`. */
async function takeoverAt(node: TandemNode, killAtMs: number, deadlineMs: number): Promise<number | null> {
  while (epochMs() < deadlineMs) {
    const at = loggedAfter(node, /event=role-change .*\bto=active\b/, killAtMs);
    if (at !== null) return killAtMs + at;
    await Bun.sleep(POLL_MS);
  }
  return null;
}

/** How long after `killAtMs` the node first logged a line matching `pattern`, from the line's timestamp; null if it did not. */
function loggedAfter(node: TandemNode, pattern: RegExp, killAtMs: number): number | null {
  for (const line of node.proc.stderr().split("\n")) {
    if (!pattern.test(line)) continue;
    const at = Date.parse(line.slice(0, line.indexOf(" ")));
    // Log timestamps are whole ms: a line in the kill's own millisecond still counts.
    if (at >= Math.floor(killAtMs)) return at - killAtMs;
  }
  return null;
}

/** Shows the last log lines of both nodes on stderr, for a trial that went wrong. */
function logTails(nodes: Map<string, TandemNode>, progress: (m: string) => void): void {
  for (const [name, node] of nodes) progress(`last log lines of ${name}:\n${node.proc.stderr().trim().split("\n").slice(-25).join("\n")}`);
}

async function attempt<T>(notes: string[], what: string, fn: () => Promise<T>): Promise<T | null> {
  try {
    return await fn();
  } catch (error) {
    notes.push(`${what}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
    return null;
  }
}
