/**
 * Connection-state sync for real (issue 5, acceptance 2, 3 and 7): two `dist/tandem run` nodes,
 * three nginx servers routing through the pair's floating gateway, a client with long downloads
 * and idle keep-alive connections through both services (nat :80 and fullnat :81). Established
 * connections must survive a kill -9 of the active node, a failback, and a planned switchover.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { fileURLToPath } from "node:url";
import { pairConfig, PAIR_GATEWAY_VIP } from "./pair-config.ts";
import { requireBinary, TANDEM } from "./tandem-binary.ts";
import { startTandem, type TandemNode } from "./tandem-node.ts";
import { wrk } from "./testbed/clients.ts";
import { createTestbed, type BedProcess, type Testbed } from "./testbed/topology.ts";

/** Above 100 MB, so that a rate-limited download spans the failover. */
const BIG_BYTES = 112 * 1024 * 1024;
const HOLDER = fileURLToPath(new URL("./testbed/keepalive-holder.ts", import.meta.url));
/** Idle keep-alive connections per service. */
const IDLE_CONNS = 20;

let bed: Testbed;
let vip: string;
const nodes = new Map<string, TandemNode>();

interface SyncStatus {
  mode: string;
  synced: boolean;
  lag: { samples: number; unacked: number; p50Ms: number | null; p99Ms: number | null };
  fullResyncs: { sent: number; received: number };
  drops: Record<string, number>;
}
interface NodeStatus {
  ha: { role: string; vipsHeld: boolean; peer: { liveness: string } };
  sync: SyncStatus;
  dispatcher: { connections: number; services: { name: string; servers: { bytesOut: number }[] }[] };
}

function configFor(autoFailback = false): string {
  return pairConfig(bed, { pingNodes: [bed.addresses.clients[0]!.public], autoFailback });
}

async function statusOf(node: string): Promise<NodeStatus | null> {
  const n = nodes.get(node);
  if (!n?.proc.running) return null;
  return (n.status() as Promise<unknown> as Promise<NodeStatus>).catch(() => null);
}

/** Polls both nodes until `done` holds (bounded); returns the last statuses. */
async function waitFor(done: (d1: NodeStatus | null, d2: NodeStatus | null) => boolean, timeoutMs: number, what: string): Promise<[NodeStatus | null, NodeStatus | null]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [a, b] = await Promise.all([statusOf("d1"), statusOf("d2")]);
    if (done(a, b)) return [a, b];
    if (Date.now() > deadline) {
      const brief = (s: NodeStatus | null) => (s ? JSON.stringify({ ha: s.ha.role, sync: { mode: s.sync?.mode, synced: s.sync?.synced, lag: s.sync?.lag }, conns: s.dispatcher.connections }) : "down");
      throw new Error(`${what}: not within ${timeoutMs} ms: d1 ${brief(a)} d2 ${brief(b)}`);
    }
    await Bun.sleep(50);
  }
}

/** The traffic that must survive: per service, one rate-limited download of the big file and IDLE_CONNS idle keep-alive connections. */
interface Traffic {
  readonly holders: BedProcess[];
  readonly downloads: { port: number; proc: BedProcess }[];
}

async function startTraffic(bps: number): Promise<Traffic> {
  const holders = [80, 81].map((port) => bed.spawn("c1", [process.execPath, HOLDER, vip, String(port), String(IDLE_CONNS), "20000"], `holder-${port}`));
  for (const h of holders) {
    const deadline = Date.now() + 10_000;
    while (!/^ready \d+/m.test(h.stdout())) {
      if (!h.running || Date.now() > deadline) throw new Error(`keep-alive holder did not get its first answers: ${h.stdout()} ${h.stderr()}`);
      await Bun.sleep(20);
    }
    expect(h.stdout()).toContain(`ready ${IDLE_CONNS}`);
  }
  const downloads = [80, 81].map((port) => ({
    port,
    proc: bed.spawn("c1", ["sh", "-c", `curl -sS --fail --max-time 60 "http://${vip}:${port}/slow?bps=${bps}" | sha256sum`], `download-${port}`),
  }));
  return { holders, downloads };
}

/** Bytes the servers have sent through `node` so far (a download in flight grows it). */
function bytesOut(s: NodeStatus | null): number {
  return s?.dispatcher.services.reduce((a, svc) => a + svc.servers.reduce((b, r) => b + r.bytesOut, 0), 0) ?? 0;
}

/** Wakes the idle connections for their second request and checks every result and download. */
async function checkTraffic(t: Traffic): Promise<void> {
  for (const h of t.holders) h.signal("SIGUSR1");
  for (const h of t.holders) {
    await h.exited;
    const line = h.stdout().split("\n").find((l) => l.startsWith("{"));
    const results = (JSON.parse(line ?? '{"results":[]}') as { results: { ok: boolean; error: string }[] }).results;
    expect(results.filter((r) => !r.ok).map((r) => r.error)).toEqual([]);
    expect(results.length).toBe(IDLE_CONNS);
  }
  for (const d of t.downloads) {
    await d.proc.exited;
    expect({ port: d.port, sha256: d.proc.stdout().trim().split(/\s+/)[0], stderr: d.proc.stderr().trim() }).toEqual({ port: d.port, sha256: bed.bigFile.sha256, stderr: "" });
  }
}

/** Waits until the active node's new connections are all acknowledged by the standby's table. */
async function waitSynced(active: "d1" | "d2"): Promise<void> {
  const standby = active === "d1" ? "d2" : "d1";
  await waitFor((a, b) => {
    const [act, stb] = active === "d1" ? [a, b] : [b, a];
    return act?.ha.role === "active" && stb?.ha.role === "standby" && stb.sync.synced && act.sync.lag.unacked === 0;
  }, 15_000, `${standby} synced with ${active}`);
}

beforeAll(async () => {
  requireBinary();
  bed = await createTestbed({ dispatchers: 2, servers: 3, serverGateway: PAIR_GATEWAY_VIP, bigFileBytes: BIG_BYTES });
  vip = bed.addresses.vip;
  const [d1, d2] = await Promise.all([startTandem(bed, "d1", configFor()), startTandem(bed, "d2", configFor())]);
  nodes.set("d1", d1);
  nodes.set("d2", d2);
}, 60_000);

afterAll(async () => {
  const report = await bed?.destroy();
  if (report?.problems.length) throw new Error(`Test bed cleanup: ${report.problems.join("; ")}`);
}, 60_000);

describe("connection-state sync", () => {
  test("the standby fills its shadow table from the active: a full resync when it joins, then every new connection", async () => {
    await waitFor((a, b) => a?.ha.role === "active" && b?.ha.role === "standby" && b.sync.synced, 15_000, "d1 active, d2 standby and synced");
    const [a0, b0] = await waitFor((a, b) => a !== null && b !== null, 1000, "status");
    expect(a0!.sync.fullResyncs.sent).toBeGreaterThanOrEqual(1);
    expect(b0!.sync.fullResyncs.received).toBeGreaterThanOrEqual(1);
    const holder = bed.spawn("c1", [process.execPath, HOLDER, vip, "81", "30", "20000"], "holder-sync");
    try {
      const deadline = Date.now() + 10_000;
      while (!/^ready 30/m.test(holder.stdout()) && Date.now() < deadline && holder.running) await Bun.sleep(20);
      expect(holder.stdout()).toContain("ready 30");
      // The 30 connections land in the standby's table, and the active measures each one's lag.
      const [a, b] = await waitFor((a, b) => (b?.dispatcher.connections ?? 0) >= 30 && a!.sync.lag.samples >= a0!.sync.lag.samples + 30 && a!.sync.lag.unacked === 0, 10_000, "30 connections on d2");
      console.log(`sync lag on d1 so far: p50 ${a!.sync.lag.p50Ms} ms, p99 ${a!.sync.lag.p99Ms} ms over ${a!.sync.lag.samples} new connections; d2 holds ${b!.dispatcher.connections}`);
      expect(b!.sync.mode).toBe("receive");
      expect(a!.sync.mode).toBe("send");
    } finally {
      await holder.stop("SIGKILL");
    }
  }, 40_000);

  test("kill -9 of the active mid-transfer: a 117 MB download and 20 idle keep-alive connections per service (nat and fullnat) complete correctly via the standby", async () => {
    await waitSynced("d1");
    // 117 MB at 20 MB/s: about 6 s, the kill comes after about 1.5 s.
    const traffic = await startTraffic(20_000_000);
    await waitSynced("d1");
    await waitFor((a) => bytesOut(a) > 60_000_000, 15_000, "the downloads under way on d1");
    nodes.get("d1")!.proc.signal("SIGKILL");
    await nodes.get("d1")!.proc.exited;
    await waitFor((_a, b) => b?.ha.role === "active" && b.ha.vipsHeld, 5000, "d2 active");
    await checkTraffic(traffic);
  }, 90_000);

  test("d1 returns with auto_failback: it takes the VIPs back only once synced, and no connection is lost", async () => {
    const traffic = await startTraffic(15_000_000);
    const d1 = await startTandem(bed, "d1", configFor(true));
    nodes.set("d1", d1);
    await waitFor((a, b) => a?.ha.role === "active" && a.ha.vipsHeld && b?.ha.role === "standby", 30_000, "d1 active again, d2 standby");
    const log = d1.proc.stderr().split("\n");
    const synced = log.findIndex((l) => l.includes("event=sync-synced"));
    const active = log.findIndex((l) => l.includes("event=role-change") && l.includes("to=active"));
    expect(synced).toBeGreaterThanOrEqual(0);
    expect(active).toBeGreaterThan(synced);
    await checkTraffic(traffic);
  }, 90_000);

  test("`tandem standby` on the active node during a wrk run (nat and fullnat): zero socket errors", async () => {
    await waitSynced("d1");
    const d1 = nodes.get("d1")!;
    const runs = [80, 81].map((port) => wrk(bed, `http://${vip}:${port}/1k`, { connections: 16, durationS: 6 }));
    await waitFor((a) => (a?.dispatcher.connections ?? 0) >= 32, 5000, "wrk's connections on d1");
    await waitSynced("d1");
    const cli = await bed.exec("d1", [TANDEM, "standby", "--config", d1.configPath, "--node", "d1"], { timeoutMs: 40_000 });
    expect({ code: cli.code, stderr: cli.stderr }).toEqual({ code: 0, stderr: "" });
    await waitFor((a, b) => a?.ha.role === "standby" && b?.ha.role === "active" && b.ha.vipsHeld, 10_000, "d2 active after the switchover");
    for (const [i, r] of (await Promise.all(runs)).entries()) {
      console.log(`wrk through ${i === 0 ? "nat" : "fullnat"} across the switchover: ${r.requests} requests, errors ${JSON.stringify(r.errors)}`);
      expect(r.requests).toBeGreaterThan(1000);
      expect(r.errors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0, non2xx3xx: 0 });
    }
  }, 60_000);
});
