/**
 * The heartbeat pair for real (issue 5): two `dist/tandem run` nodes in their namespaces, three
 * nginx servers routing through the pair's floating gateway, a client probing the VIP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { Subprocess } from "bun";
import { pairConfig } from "./pair-config.ts";
import { requireBinary } from "./tandem-binary.ts";
import { startTandem, type TandemNode } from "./tandem-node.ts";
import { curl } from "./testbed/clients.ts";
import { createTestbed, type BedProcess, type Testbed } from "./testbed/topology.ts";
import { PAIR_GATEWAY_VIP } from "./pair-config.ts";

let bed: Testbed;
let serial: Subprocess | undefined;
/** The two ends of the serial cable: a pty pair made by socat, one per node (both run on this host). */
const TTY = { d1: `/dev/tandem-test-${process.pid}-d1`, d2: `/dev/tandem-test-${process.pid}-d2` } as const;

/** The pair's config as node `node` reads it: heartbeats over the heartbeat segment and the serial cable; the client is the witness. */
function configFor(node: "d1" | "d2"): string {
  return pairConfig(bed, { pingNodes: [bed.addresses.clients[0]!.public], links: ['{ kind = "udp", interface = "heartbeat" }', `{ kind = "serial", device = "${TTY[node]}" }`] });
}
let vip: string;
const nodes = new Map<string, TandemNode>();

interface HaStatus {
  role: string;
  peer: { liveness: string; role: string | null };
  vipsHeld: boolean;
  drops: Record<string, number>;
}

/** Sync frames `node` dropped so far, by reason. */
async function syncDropsOf(node: string): Promise<Record<string, number>> {
  const s = (await nodes.get(node)!.status()) as unknown as { sync: { drops: Record<string, number> } };
  return s.sync.drops;
}

async function haOf(node: string): Promise<HaStatus> {
  const s = (await nodes.get(node)!.status()) as unknown as { ha: HaStatus };
  return s.ha;
}

/** Polls both nodes' status until `done` holds (bounded); returns the last statuses. */
async function waitForRoles(done: (d1: HaStatus | null, d2: HaStatus | null) => boolean, timeoutMs: number, what: string): Promise<[HaStatus | null, HaStatus | null]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const read = (n: string) => (nodes.get(n)?.proc.running ? haOf(n).catch(() => null) : Promise.resolve(null));
    const [a, b] = await Promise.all([read("d1"), read("d2")]);
    if (done(a, b)) return [a, b];
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms: d1 ${JSON.stringify(a)} d2 ${JSON.stringify(b)}`);
    await Bun.sleep(50);
  }
}

/** The MAC the client's kernel holds for the VIP after a fresh ARP exchange. */
async function vipOwnerMac(): Promise<string | undefined> {
  await bed.execOk("c1", ["ip", "neigh", "flush", "to", vip]);
  await bed.exec("c1", ["ping", "-c", "1", "-W", "1", vip]);
  const out = (await bed.execOk("c1", ["ip", "-j", "neigh", "show", "to", vip])).stdout;
  const entry = (JSON.parse(out) as { lladdr?: string; state?: string[] }[]).find((e) => e.lladdr);
  return entry?.lladdr;
}

async function setLinks(node: string, devices: string[], state: "up" | "down"): Promise<void> {
  for (const dev of devices) await bed.execOk(node, ["ip", "link", "set", dev, state]);
}

async function macOf(node: string, dev: string): Promise<string> {
  return JSON.parse((await bed.execOk(node, ["ip", "-j", "link", "show", "dev", dev])).stdout)[0].address;
}

/** Replies of `ping -D -i 0.01` as epoch seconds; the largest gap between consecutive replies in ms. */
function largestGapMs(probe: BedProcess): { gapMs: number; replies: number } {
  const times = [...probe.stdout().matchAll(/^\[(\d+\.\d+)\] \d+ bytes from/gm)].map((m) => Number(m[1]));
  let gap = 0;
  for (let i = 1; i < times.length; i++) gap = Math.max(gap, (times[i]! - times[i - 1]!) * 1000);
  return { gapMs: gap, replies: times.length };
}

beforeAll(async () => {
  requireBinary();
  bed = await createTestbed({ dispatchers: 2, servers: 3, serverGateway: PAIR_GATEWAY_VIP });
  vip = bed.addresses.vip;
  serial = Bun.spawn(["socat", `pty,raw,echo=0,link=${TTY.d1}`, `pty,raw,echo=0,link=${TTY.d2}`], { stdout: "ignore", stderr: "pipe" });
  const deadline = Date.now() + 5000;
  while (!(existsSync(TTY.d1) && existsSync(TTY.d2))) {
    if (Date.now() > deadline || serial.exitCode !== null) throw new Error(`socat made no pty pair: ${await new Response(serial.stderr as ReadableStream<Uint8Array>).text()}`);
    await Bun.sleep(10);
  }
  const [d1, d2] = await Promise.all([startTandem(bed, "d1", configFor("d1")), startTandem(bed, "d2", configFor("d2"))]);
  nodes.set("d1", d1);
  nodes.set("d2", d2);
}, 60_000);

afterAll(async () => {
  if (serial && serial.exitCode === null) {
    serial.kill("SIGKILL");
    await serial.exited;
  }
  const report = await bed?.destroy();
  if (report?.problems.length) throw new Error(`Test bed cleanup: ${report.problems.join("; ")}`);
}, 60_000);

describe("heartbeat pair", () => {
  test("the pair elects d1 (priority 200) active and d2 standby; the client's ARP for the VIP finds d1", async () => {
    await waitForRoles((a, b) => a?.role === "active" && b?.role === "standby" && a.vipsHeld && !b.vipsHeld, 10_000, "d1 active, d2 standby");
    expect(await vipOwnerMac()).toBe(await macOf("d1", "eth0"));
    const r = await curl(bed, `http://${vip}/`);
    expect(r.status).toBe(200);
  });

  test("kill -9 of the active node: d2 serves the VIP, with a gap of at most 1 s seen by a client probing every 10 ms", async () => {
    // The standby holds nothing: no proxy ARP entry and no route for the VIP (else it would serve too).
    const proxies = (await bed.execOk("d2", ["ip", "neigh", "show", "proxy"])).stdout;
    const routes = (await bed.execOk("d2", ["ip", "route", "show", "table", "all", "to", vip])).stdout;
    if (proxies.includes(vip) || routes.trim() !== "") {
      console.log(`d2 (standby) holds the VIP: proxy ${JSON.stringify(proxies)} routes ${JSON.stringify(routes)}\n${nodes.get("d2")!.proc.stderr().split("\n").filter((l) => /claim|release|Became|plumbing/i.test(l)).join("\n")}`);
    }
    expect(proxies).not.toContain(vip);
    const probe = bed.spawn("c1", ["ping", "-D", "-n", "-i", "0.01", "-W", "1", vip], "probe");
    try {
      // A steady stream of replies first, so that the gap is measured from a working state.
      const start = Date.now();
      while (largestGapMs(probe).replies < 50) {
        if (Date.now() - start > 5000) throw new Error(`The probe got no steady replies: ${probe.stdout().slice(-500)}`);
        await Bun.sleep(20);
      }
      nodes.get("d1")!.proc.signal("SIGKILL");
      await nodes.get("d1")!.proc.exited;
      await waitForRoles((_a, b) => b?.role === "active" && b.vipsHeld, 5000, "d2 active");
      const before = largestGapMs(probe).replies;
      while (largestGapMs(probe).replies < before + 50) {
        if (Date.now() - start > 15_000) throw new Error(`The VIP did not answer again: ${probe.stdout().slice(-500)}`);
        await Bun.sleep(20);
      }
    } finally {
      await probe.stop("SIGINT");
    }
    const { gapMs } = largestGapMs(probe);
    console.log(`failover gap seen by the client (ICMP to the VIP every 10 ms): ${gapMs.toFixed(0)} ms`);
    expect(gapMs).toBeLessThanOrEqual(1000);
    expect(await vipOwnerMac()).toBe(await macOf("d2", "eth0"));
    const r = await curl(bed, `http://${vip}/`);
    expect(r.status).toBe(200);
    const full = await curl(bed, `http://${vip}:81/`);
    expect(full.status).toBe(200);
  });

  test("the old active node returns: without auto_failback it stays standby and d2 keeps the VIP", async () => {
    nodes.set("d1", await startTandem(bed, "d1", configFor("d1")));
    await waitForRoles((a, b) => a?.role === "standby" && a.peer.liveness === "alive" && b?.role === "active", 10_000, "d1 standby, d2 active");
    expect(await vipOwnerMac()).toBe(await macOf("d2", "eth0"));
  });

  test("cutting the UDP heartbeat link: no failover, a link-down warning; the serial cable alone keeps the pair healthy", async () => {
    const d1 = nodes.get("d1")!;
    const from = d1.lineCount();
    await bed.execOk("d1", ["ip", "link", "set", "eth2", "down"]);
    try {
      await d1.waitForLog(/event=link-down/, 5000, from);
      const [a, b] = await waitForRoles((a, b) => a !== null && b !== null, 1000, "status");
      expect(a!.role).toBe("standby");
      expect(b!.role).toBe("active");
      expect(a!.peer.liveness).toBe("alive");
    } finally {
      await bed.execOk("d1", ["ip", "link", "set", "eth2", "up"]);
    }
  });

  test("cutting every heartbeat link while both reach the witness: the standby finds the VIP still served and holds back; after healing still exactly one holder", async () => {
    const d1 = nodes.get("d1")!;
    const from = d1.lineCount();
    // Both heartbeat links go: the UDP cable (eth2) is pulled and the serial cable stops (socat
    // frozen), but every VIP interface stays up and both nodes reach the witness.
    const cut = async (op: "add" | "del") => {
      serial!.kill(op === "add" ? "SIGSTOP" : "SIGCONT");
    };
    await setLinks("d1", ["eth2"], "down");
    await cut("add");
    try {
      await d1.waitForLog(/Takeover held back .*still answers ARP/, 5000, from);
      const [a, b] = await waitForRoles((a, b) => a !== null && b !== null, 1000, "status");
      expect(a!.peer.liveness).toBe("dead");
      expect(a!.vipsHeld).toBe(false);
      expect(b!.vipsHeld).toBe(true);
      expect(await vipOwnerMac()).toBe(await macOf("d2", "eth0"));
    } finally {
      await cut("del");
      await setLinks("d1", ["eth2"], "up");
    }
    await waitForRoles((a, b) => a?.peer.liveness === "alive" && b?.peer.liveness === "alive", 5000, "links healed");
    const [a, b] = await waitForRoles((a, b) => a !== null && b !== null, 1000, "status");
    expect([a!.vipsHeld, b!.vipsHeld]).toEqual([false, true]);
    expect(await vipOwnerMac()).toBe(await macOf("d2", "eth0"));
  });

  test("a node isolated from the witness (and from its peer) never takes over", async () => {
    const d1 = nodes.get("d1")!;
    const from = d1.lineCount();
    await setLinks("d1", ["eth0", "eth1", "eth2"], "down");
    serial!.kill("SIGSTOP");
    try {
      await d1.waitForLog(/event=takeover-refused/, 5000, from);
      // Three more deadtimes: still standby, VIPs untouched.
      await Bun.sleep(1500);
      const [a, b] = await waitForRoles((a, b) => a !== null && b !== null, 1000, "status");
      expect(a!.role).toBe("standby");
      expect(a!.vipsHeld).toBe(false);
      expect(b!.role).toBe("active");
    } finally {
      serial!.kill("SIGCONT");
      await setLinks("d1", ["eth0", "eth1", "eth2"], "up");
    }
    await waitForRoles((a, b) => a?.peer.liveness === "alive" && b?.peer.liveness === "alive" && a.role === "standby" && b.role === "active", 5000, "links healed");
    expect(await vipOwnerMac()).toBe(await macOf("d2", "eth0"));
  });

  test("10,000 forged, replayed and mangled heartbeats and 10,000 sync frames from a third namespace: no role change, all counted", async () => {
    const before = await haOf("d2");
    const syncBefore = await syncDropsOf("d2");
    const d1 = (await nodes.get("d1")!.status()) as unknown as { ha: { generation: number; links: { index: number; sent: number }[] } };
    // Replays of seq 1 are outside the 64-wide window only once d1 sent more than 64 on link 0.
    await waitForRoles((a) => (a as unknown as { links: { sent: number }[] } | null)?.links[0]!.sent! > 80, 15_000, "d1 sent 80 heartbeats");
    // A third namespace on the heartbeat segment: the bed's switch, given an address for the test.
    const sw = bed.switchNs;
    await bed.execOk(sw, ["ip", "addr", "add", "10.202.0.250/24", "dev", "br-hb"]);
    try {
      const script = `
        const m = await import(${JSON.stringify(new URL("../../src/core/ha/heartbeat-message.ts", import.meta.url).pathname)});
        const f = await import(${JSON.stringify(new URL("../../src/core/sync/sync-frame.ts", import.meta.url).pathname)});
        const auth = m.createHeartbeatAuth(new Uint8Array(await Bun.file(${JSON.stringify(`${bed.runDir}/authkey`)}).arrayBuffer()), "pair");
        const sock = await Bun.udpSocket({});
        const rnd = (n) => crypto.getRandomValues(new Uint8Array(n));
        const out = new Uint8Array(1500);
        const gen = ${d1.ha.generation};
        const hb = (generation, seq) => ({ cluster: "pair", node: "d1", generation, link: 0, seq, wallMs: Date.now(), role: "active", priority: 255, flags: 0, vips: 1, syncPosition: 0 });
        // A sync status of node index NODE and generation GEN, seq SEQ, asking for a full resync.
        const status = (node, generation, seq) => {
          const n = f.encodeSyncStatus({ seq, ackedSeq: -1, ackedGeneration: 0, position: -1, requestId: 7, flags: f.SyncStatusFlag.NeedFull }, out);
          return out.slice(0, f.sealSyncFrame(auth, m.FrameType.SyncStatus, out, node, generation, n));
        };
        for (let i = 0; i < 10000; i++) {
          let b;
          if (i % 4 === 0) b = rnd(1 + (i % 200));                              // garbage
          else if (i % 4 === 1) { const n = m.encodeHeartbeat(hb(gen, 5), auth, out); b = out.slice(0, n); b[20 + (i % 30)] ^= 1; } // mangled: MAC fails
          else if (i % 4 === 2) b = out.slice(0, m.encodeHeartbeat(hb(gen, 1), auth, out));      // replay of seq 1
          else b = out.slice(0, m.encodeHeartbeat(hb(gen - 1, 1000000 + i), auth, out)); // an older generation
          sock.send(b, 694, "${bed.addresses.dispatchers[1]!.heartbeat}");
          if (i % 100 === 0) await Bun.sleep(2);
        }
        for (let i = 0; i < 10000; i++) {
          let b;
          if (i % 5 === 0) b = rnd(1 + (i % 300));                              // garbage
          else if (i % 5 === 1) { b = status(0, gen, 1); b[30 + (i % 40)] ^= 4; } // mangled: MAC fails
          else if (i % 5 === 2) b = status(0, gen, 1);                          // replay of d1's first status
          else if (i % 5 === 3) b = status(0, gen - 1, 1000000 + i);            // an older generation of d1
          else b = status(5, gen, 1000000 + i);                                  // a node the config does not have
          sock.send(b, 8694, "${bed.addresses.dispatchers[1]!.heartbeat}");
          if (i % 100 === 0) await Bun.sleep(2);
        }
        sock.close();
        console.log("sent");`;
      const r = await bed.execOk(sw, [process.execPath, "-e", script]);
      expect(r.stdout.trim()).toBe("sent");
    } finally {
      await bed.execOk(sw, ["ip", "addr", "del", "10.202.0.250/24", "dev", "br-hb"]);
    }
    const total = (h: Record<string, number>) => Object.values(h).reduce((x, y) => x + y, 0);
    const [a, b] = await waitForRoles((_a, b) => b !== null && total(b.drops) - total(before.drops) >= 10_000, 5000, "heartbeat drops counted");
    console.log(`d2 heartbeat drops after the flood: ${JSON.stringify(b!.drops)}`);
    expect(total(b!.drops) - total(before.drops)).toBe(10_000);
    expect(b!.drops.replay! - (before.drops.replay ?? 0)).toBe(2500);
    expect(b!.drops["old-generation"]! - (before.drops["old-generation"] ?? 0)).toBe(2500);
    const deadline = Date.now() + 5000;
    let sync = await syncDropsOf("d2");
    while (total(sync) - total(syncBefore) < 10_000 && Date.now() < deadline) {
      await Bun.sleep(50);
      sync = await syncDropsOf("d2");
    }
    console.log(`d2 sync drops after the flood: ${JSON.stringify(sync)}`);
    expect(total(sync) - total(syncBefore)).toBe(10_000);
    for (const reason of ["replay", "old-generation", "unknown-node", "bad-mac"]) expect({ reason, n: (sync[reason] ?? 0) - (syncBefore[reason] ?? 0) }).toEqual({ reason, n: 2000 });
    expect(b!.role).toBe("active");
    expect(a!.role).toBe("standby");
    // The burst becomes a few events (one at its start, then a summary per 10 s), not 20,000.
    const bursts = nodes.get("d2")!.proc.stderr().split("\n").filter((l) => l.includes("event=forged-burst"));
    expect(bursts.length).toBeGreaterThanOrEqual(2);
    expect(bursts.length).toBeLessThanOrEqual(6);
  }, 30_000);
});
