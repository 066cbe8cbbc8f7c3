/**
 * The heartbeat pair for real (issue 5): two `dist/tandem run` nodes in their namespaces, three
 * nginx servers routing through the pair's floating gateway, a client probing the VIP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { pairConfig } from "./pair-config.ts";
import { requireBinary } from "./tandem-binary.ts";
import { startTandem, type TandemNode } from "./tandem-node.ts";
import { curl } from "./testbed/clients.ts";
import { createTestbed, type BedProcess, type Testbed } from "./testbed/topology.ts";
import { PAIR_GATEWAY_VIP } from "./pair-config.ts";

let bed: Testbed;
let vip: string;
const nodes = new Map<string, TandemNode>();

interface HaStatus {
  role: string;
  peer: { liveness: string; role: string | null };
  vipsHeld: boolean;
  drops: Record<string, number>;
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
  const toml = pairConfig(bed);
  const [d1, d2] = await Promise.all([startTandem(bed, "d1", toml), startTandem(bed, "d2", toml)]);
  nodes.set("d1", d1);
  nodes.set("d2", d2);
}, 60_000);

afterAll(async () => {
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
    const toml = pairConfig(bed);
    nodes.set("d1", await startTandem(bed, "d1", toml));
    await waitForRoles((a, b) => a?.role === "standby" && a.peer.liveness === "alive" && b?.role === "active", 10_000, "d1 standby, d2 active");
    expect(await vipOwnerMac()).toBe(await macOf("d2", "eth0"));
  });

  test("cutting one of two heartbeat links: no failover, a link-down warning", async () => {
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

  test("10,000 forged, replayed and mangled heartbeats from a third namespace: no role change, all counted", async () => {
    const before = await haOf("d2");
    // Random bytes, frames with our magic and a wrong MAC, frames of an unknown version: from server s1's namespace, aimed at d2's heartbeat port on the private segment.
    const script = `
      const sock = await Bun.udpSocket({});
      const rnd = (n) => crypto.getRandomValues(new Uint8Array(n));
      let sent = 0;
      for (let i = 0; i < 10000; i++) {
        const kind = i % 3;
        const b = kind === 0 ? rnd(40 + (i % 120)) : new Uint8Array([0x54,0x4e,0x48,0x42,1,1,0,55, ...rnd(8), ...rnd(55 + 32)]);
        if (kind === 2) b[5] = 9;
        sock.send(b, 694, "${bed.addresses.dispatchers[1]!.private}");
        sent++;
        if (i % 100 === 0) await Bun.sleep(2);
      }
      console.log(sent);
      sock.close();`;
    const r = await bed.execOk("s1", [process.execPath, "-e", script]);
    expect(r.stdout.trim()).toBe("10000");
    const after = await waitForRoles((_a, b) => b !== null && Object.values(b.drops).reduce((x, y) => x + y, 0) - Object.values(before.drops).reduce((x, y) => x + y, 0) >= 10_000, 5000, "drops counted");
    expect(after[1]!.role).toBe("active");
    expect(after[0]!.role).toBe("standby");
  });
});
