/**
 * applyHostPlumbing and removeHostPlumbing against the real kernel, as root, in three namespaces
 * this file creates and deletes: a dispatcher ("d", with devices pub0 and priv0 and the TUN), a
 * client on pub0's wire and a real server on priv0's. It checks the state with `ip -j`, checks
 * that proxy ARP, routes and policy rules really bring packets into the TUN, and that removal
 * (clean, or after a simulated SIGKILL, or with the journal lost) leaves nothing behind.
 */

import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfigText } from "../../src/core/config/load-config.ts";
import { planHostPlumbing, type HostPlumbing } from "../../src/core/nat/plan-host-plumbing.ts";
import { applyHostPlumbing, claimHostPlumbing, releaseHostPlumbing, removeHostPlumbing, type PlumbingHost } from "../../src/engine/host-plumbing.ts";
import { bunHostCommands, bunSysctls, bunTextFiles } from "../../src/platform/bun/host-commands.ts";
import { openTun, type TunDevice } from "../../src/platform/bun/tun-device.ts";
import { inNamespace, must, run } from "./netns-thread.ts";

const ID = `${process.pid}`;
const D = `tandem-pl-d-${ID}`;
const C = `tandem-pl-c-${ID}`;
const S = `tandem-pl-s-${ID}`;
const VIP = "10.210.0.10";
const CLIENT = "10.210.0.2";
const SERVER = "10.211.0.11";
const LIP = "10.211.0.200";
const TABLE = 7100;
const READ_DEADLINE_MS = 3000;

const CONFIG = `version = 1

[cluster]
name = "lab"

[[node]]
name = "d"
interfaces.public = { device = "pub0", address = "10.210.0.1/24" }
interfaces.private = { device = "priv0", address = "10.211.0.1/24" }

[[vip]]
name = "web"
address = "${VIP}"
interface = "public"

[[service]]
name = "http"
vip = "web"
port = 80
forwarding = "nat"
servers = [{ address = "${SERVER}" }, { address = "10.211.0.12", port = 8080 }]

[[service]]
name = "dns"
vip = "web"
port = 53
protocol = "udp"
forwarding = "fullnat"
local_addresses = ["${LIP}"]
servers = [{ address = "${SERVER}" }]
`;

/** Opens the TUN device with this thread inside the dispatcher namespace, then switches back. */
function openTunInDispatcher(name: string): TunDevice {
  return inNamespace(D, () => openTun({ name }));
}

const json = (ns: string, ...args: string[]) => JSON.parse(must(["ip", "-n", ns, "-j", ...args])) as Record<string, unknown>[];
const sysctl = (name: string) => must(["ip", "netns", "exec", D, "cat", `/proc/sys/${name}`]).trim();
const setSysctl = (name: string, value: string) => must(["ip", "netns", "exec", D, "sh", "-c", `echo ${value} > /proc/sys/${name}`]);

/** Everything of tandem's visible in the dispatcher namespace, in a comparable form. */
function tandemState() {
  return {
    rules: json(D, "rule", "show")
      .filter((r) => r.table === String(TABLE))
      .map((r) => `${r.priority} iif ${r.iif} from ${r.src} ${r.ipproto}${r.sport === undefined ? "" : ` sport ${r.sport}`}`)
      .sort(),
    tableRoutes: json(D, "route", "show", "table", String(TABLE)).map((r) => `${r.dst} dev ${r.dev}`),
    tunRoutes: json(D, "route", "show")
      .filter((r) => r.dev === "tandem0")
      .map((r) => `${r.dst}`)
      .sort(),
    proxies: must(["ip", "-n", D, "neigh", "show", "proxy"]).split("\n").map((l) => l.trim()).filter(Boolean).sort(),
  };
}

const NOTHING = { rules: [], tableRoutes: [], tunRoutes: [], proxies: [] };

const ORIGINAL_SYSCTLS: Record<string, string> = {
  "net/ipv4/ip_forward": "0",
  "net/ipv4/conf/all/rp_filter": "1",
  "net/ipv4/neigh/pub0/proxy_delay": "80",
  "net/ipv4/neigh/priv0/proxy_delay": "50",
};

let dir = "";
let plan: HostPlumbing;
let host: PlumbingHost;
let journal = "";

beforeAll(() => {
  for (const ns of [D, C, S]) run(["ip", "netns", "del", ns]);
  for (const ns of [D, C, S]) {
    must(["ip", "netns", "add", ns]);
    must(["ip", "-n", ns, "link", "set", "lo", "up"]);
  }
  must(["ip", "-n", D, "link", "add", "pub0", "type", "veth", "peer", "name", "eth0", "netns", C]);
  must(["ip", "-n", D, "link", "add", "priv0", "type", "veth", "peer", "name", "eth0", "netns", S]);
  must(["ip", "-n", D, "addr", "add", "10.210.0.1/24", "dev", "pub0"]);
  must(["ip", "-n", D, "addr", "add", "10.211.0.1/24", "dev", "priv0"]);
  must(["ip", "-n", C, "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
  must(["ip", "-n", S, "addr", "add", `${SERVER}/24`, "dev", "eth0"]);
  for (const [ns, dev] of [[D, "pub0"], [D, "priv0"], [C, "eth0"], [S, "eth0"]] as const) must(["ip", "-n", ns, "link", "set", dev, "up"]);
  must(["ip", "-n", S, "route", "add", "default", "via", "10.211.0.1"]);
  dir = mkdtempSync(join(tmpdir(), "tandem-plumbing-"));
  const loaded = loadConfigText(CONFIG, "t.toml");
  if (!loaded.config) throw new Error(`Test config is invalid: ${JSON.stringify(loaded.issues)}`);
  plan = planHostPlumbing(loaded.config, "d");
  host = { commands: bunHostCommands({ netns: D }), sysctls: bunSysctls({ netns: D }), files: bunTextFiles() };
  journal = join(dir, "plumbing.json");
});

afterAll(() => {
  for (const ns of [D, C, S]) run(["ip", "netns", "del", ns]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  // Values unlike the ones tandem sets, so that restoring them is observable.
  for (const [name, value] of Object.entries(ORIGINAL_SYSCTLS)) setSysctl(name, value);
  rmSync(journal, { force: true });
});

/** Reads packets until one satisfies `match`; fails after READ_DEADLINE_MS. */
function readUntil(dev: TunDevice, buf: Uint8Array, match: (n: number) => boolean): number {
  const deadline = performance.now() + READ_DEADLINE_MS;
  for (;;) {
    const n = dev.read(buf);
    if (n < 0) throw new Error(`TUN device "${dev.name}" is gone`);
    if (n > 0 && match(n)) return n;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`No matching packet on "${dev.name}" within ${READ_DEADLINE_MS} ms`);
    if (n === 0) dev.waitReadable(Math.ceil(left));
  }
}

const dotted = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
const isIcmpEcho = (b: Uint8Array, src: string, dst: string) =>
  b[0]! >> 4 === 4 && b[9] === 1 && dotted(b, 12) === src && dotted(b, 16) === dst && b[(b[0]! & 0xf) * 4] === 8;

describe("host plumbing", () => {
  test("apply sets up routes, rules, proxy neighbours and sysctls; remove takes all of it away and restores the sysctls", async () => {
    const tun = openTunInDispatcher("tandem0");
    try {
      const applied = await applyHostPlumbing(plan, host, journal);
      expect(applied.failures).toEqual([]);
      expect(tandemState()).toEqual({
        rules: [
          `${TABLE} iif priv0 from 10.211.0.11 icmp`,
          `${TABLE} iif priv0 from 10.211.0.11 tcp sport 80`,
          `${TABLE} iif priv0 from 10.211.0.12 icmp`,
          `${TABLE} iif priv0 from 10.211.0.12 tcp sport 8080`,
        ],
        tableRoutes: ["default dev tandem0"],
        tunRoutes: [LIP, VIP].sort(),
        proxies: [`${LIP} dev priv0 proxy`, `${VIP} dev pub0 proxy`].sort(),
      });
      expect(sysctl("net/ipv4/ip_forward")).toBe("1");
      expect(sysctl("net/ipv4/conf/all/rp_filter")).toBe("0");
      expect(sysctl("net/ipv4/conf/tandem0/rp_filter")).toBe("0");
      expect(sysctl("net/ipv4/neigh/pub0/proxy_delay")).toBe("0");
      expect(sysctl("net/ipv4/neigh/priv0/proxy_delay")).toBe("0");
      const link = json(D, "link", "show", "dev", "tandem0")[0]!;
      expect(link.mtu).toBe(1500);
      expect(link.flags).toContain("UP");
      const recorded = JSON.parse(await Bun.file(journal).text());
      expect(recorded.state).toBe("applied");
      expect(recorded.sysctls).toContainEqual({ name: "net/ipv4/conf/all/rp_filter", value: "0", previous: "1" });

      const removed = await removeHostPlumbing(journal, host);
      expect(removed.failures).toEqual([]);
      expect(tandemState()).toEqual(NOTHING);
      for (const [name, value] of Object.entries(ORIGINAL_SYSCTLS)) expect(sysctl(name)).toBe(value);
      expect(await Bun.file(journal).exists()).toBe(false);
      // Idempotent: a second removal finds nothing to do and no journal.
      expect((await removeHostPlumbing(journal, host, { plan })).failures).toEqual([]);
    } finally {
      tun.close();
      await removeHostPlumbing(journal, host, { plan });
    }
  });

  test("the client's ARP for the VIP is answered and its ping enters the TUN; a server's ICMP is steered into the TUN", async () => {
    const tun = openTunInDispatcher("tandem0");
    const buf = new Uint8Array(2048);
    try {
      expect((await applyHostPlumbing(plan, host, journal)).failures).toEqual([]);
      // Nobody answers the echo (the dispatcher is not running), so ping itself fails: the proof
      // is the resolved neighbour entry and the request read from the TUN.
      const ping = Bun.spawn(["ip", "netns", "exec", C, "ping", "-c1", "-W1", VIP], { stdout: "ignore", stderr: "ignore" });
      try {
        readUntil(tun, buf, () => isIcmpEcho(buf, CLIENT, VIP));
      } finally {
        ping.kill();
      }
      const pub0 = json(D, "link", "show", "dev", "pub0")[0]!.address;
      const neighbour = json(C, "neigh", "show", VIP).find((n) => n.dst === VIP);
      expect(neighbour?.lladdr).toBe(pub0);

      // nat: the server's own traffic (here an ICMP echo to the client) follows the policy rule
      // into the TUN instead of being forwarded straight to the client.
      const serverPing = Bun.spawn(["ip", "netns", "exec", S, "ping", "-c1", "-W1", CLIENT], { stdout: "ignore", stderr: "ignore" });
      try {
        readUntil(tun, buf, () => isIcmpEcho(buf, SERVER, CLIENT));
      } finally {
        serverPing.kill();
      }
    } finally {
      tun.close();
      await removeHostPlumbing(journal, host, { plan });
    }
  });

  test("a standby applies everything but the VIPs; claim adds their routes and proxy neighbours, release takes them away again, and a kill in between leaves nothing behind", async () => {
    const tun = openTunInDispatcher("tandem0");
    try {
      expect((await applyHostPlumbing(plan, host, journal, { claim: false })).failures).toEqual([]);
      const standby = tandemState();
      expect(standby.rules.length).toBe(4);
      expect(standby.tableRoutes).toEqual(["default dev tandem0"]);
      expect(standby.tunRoutes).toEqual([]);
      expect(standby.proxies).toEqual([]);

      expect((await claimHostPlumbing(plan, host, journal)).failures).toEqual([]);
      expect(tandemState().tunRoutes).toEqual([LIP, VIP].sort());
      expect(tandemState().proxies).toEqual([`${LIP} dev priv0 proxy`, `${VIP} dev pub0 proxy`].sort());
      // Claiming twice is harmless.
      expect((await claimHostPlumbing(plan, host, journal)).failures).toEqual([]);

      expect((await releaseHostPlumbing(plan, host, journal)).failures).toEqual([]);
      expect(tandemState()).toEqual(standby);
      expect((await releaseHostPlumbing(plan, host, journal)).failures).toEqual([]);

      // Claimed, then "killed": the journal alone is enough to remove all of it.
      expect((await claimHostPlumbing(plan, host, journal)).failures).toEqual([]);
      const recorded = JSON.parse(await Bun.file(journal).text());
      expect(recorded.proxyNeighbours.length).toBe(2);
      expect((await removeHostPlumbing(journal, host)).failures).toEqual([]);
      expect(tandemState()).toEqual(NOTHING);
    } finally {
      tun.close();
      await removeHostPlumbing(journal, host, { plan });
    }
  });

  test("after a simulated SIGKILL the start-up cleanup removes every leftover from the journal and restores the sysctls", async () => {
    const tun = openTunInDispatcher("tandem0");
    try {
      expect((await applyHostPlumbing(plan, host, journal)).failures).toEqual([]);
    } finally {
      // The kernel closes the fd of a killed process: the TUN and its routes vanish with it.
      tun.close();
    }
    const leftovers = tandemState();
    expect(leftovers.rules.length).toBe(4);
    expect(leftovers.proxies.length).toBe(2);
    expect(leftovers.tunRoutes).toEqual([]);
    // A new process starts with nothing in memory but the journal path.
    const fresh: PlumbingHost = { commands: bunHostCommands({ netns: D }), sysctls: bunSysctls({ netns: D }), files: bunTextFiles() };
    await expect(applyHostPlumbing(plan, fresh, journal)).rejects.toThrow(`journal "${journal}" of an earlier run exists`);
    const cleaned = await removeHostPlumbing(journal, fresh, { plan });
    expect(cleaned.failures).toEqual([]);
    expect(tandemState()).toEqual(NOTHING);
    for (const [name, value] of Object.entries(ORIGINAL_SYSCTLS)) expect(sysctl(name)).toBe(value);
    expect(await Bun.file(journal).exists()).toBe(false);
  });

  test("with the journal lost, the start-up cleanup still flushes tandem's table and rules and the plan's proxy neighbours", async () => {
    const tun = openTunInDispatcher("tandem0");
    try {
      expect((await applyHostPlumbing(plan, host, journal)).failures).toEqual([]);
    } finally {
      tun.close();
    }
    rmSync(journal);
    expect((await removeHostPlumbing(journal, host, { plan })).failures).toEqual([]);
    expect(tandemState()).toEqual(NOTHING);
  });

  test("a SIGKILL between the journal and the first change leaves a journal the cleanup handles", async () => {
    // The journal of an apply killed right after writing it: state "applying", nothing added yet.
    const entries = { routes: plan.routes, rules: plan.rules, proxyNeighbours: plan.proxyNeighbours };
    const sysctls = [{ name: "net/ipv4/ip_forward", value: "1", previous: "0" }];
    writeFileSync(journal, JSON.stringify({ version: 1, state: "applying", tun: "tandem0", routeTable: TABLE, sysctls, ...entries }));
    setSysctl("net/ipv4/ip_forward", "1");
    expect((await removeHostPlumbing(journal, host)).failures).toEqual([]);
    expect(tandemState()).toEqual(NOTHING);
    expect(sysctl("net/ipv4/ip_forward")).toBe("0");
  });

  test("apply refuses to start without the TUN device, before changing anything", async () => {
    await expect(applyHostPlumbing(plan, host, journal)).rejects.toThrow('TUN device "tandem0" does not exist: open it first');
    expect(await Bun.file(journal).exists()).toBe(false);
    expect(sysctl("net/ipv4/ip_forward")).toBe("0");
  });

  test("a line the kernel refuses is reported and left out of the journal while the rest is applied", async () => {
    const tun = openTunInDispatcher("tandem0");
    try {
      const broken: HostPlumbing = { ...plan, proxyNeighbours: [{ address: "10.210.0.99", device: "nosuch0" }, ...plan.proxyNeighbours] };
      const report = await applyHostPlumbing(broken, host, journal);
      expect(report.failures.map((f) => f.command)).toEqual(["neigh add proxy 10.210.0.99 dev nosuch0"]);
      expect(report.failures[0]!.error).toContain("nosuch0");
      expect(tandemState().proxies).toEqual([`${LIP} dev priv0 proxy`, `${VIP} dev pub0 proxy`].sort());
      const recorded = JSON.parse(await Bun.file(journal).text());
      expect(recorded.proxyNeighbours).toEqual(plan.proxyNeighbours);
    } finally {
      tun.close();
      await removeHostPlumbing(journal, host, { plan });
    }
    expect(tandemState()).toEqual(NOTHING);
  });
});
