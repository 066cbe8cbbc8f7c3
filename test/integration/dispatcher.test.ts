/**
 * The dispatcher for real: `dist/tandem run` with a TOML file in a dispatcher namespace, three
 * nginx + dnsmasq servers, and real curl, wrk and dig clients (issue 3's acceptance list).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { bedConfig } from "./dispatcher-config.ts";
import { requireBinary } from "./tandem-binary.ts";
import { startTandem, type TandemNode } from "./tandem-node.ts";
import { curl, dig, ping, wrk } from "./testbed/clients.ts";
import { createTestbed, type Testbed } from "./testbed/topology.ts";

const BIG = 200 * 1024 * 1024;
let bed: Testbed;
let tandem: TandemNode;
let vip: string;
let clientAddr: string;

beforeAll(async () => {
  requireBinary();
  bed = await createTestbed({ servers: 3, bigFileBytes: BIG });
  vip = bed.addresses.vip;
  clientAddr = bed.addresses.clients[0]!.public;
  tandem = await startTandem(bed, "d1", bedConfig(bed));
  await tandem.waitForLog(/ Dispatcher ready /);
}, 60_000);

afterAll(async () => {
  const report = await bed?.destroy();
  if (report?.problems.length) throw new Error(`Test bed cleanup: ${report.problems.join("; ")}`);
}, 60_000);

/** The X-Server names of `n` sequential requests, each on its own connection. */
async function serversOf(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await curl(bed, url);
    expect(r.status).toBe(200);
    out.push(r.server ?? "none");
  }
  return out;
}

describe("HTTP through the VIP", () => {
  test("nat: 30 sequential requests go s1,s2,s3 in order and servers see the client's address", async () => {
    for (const s of ["s1", "s2", "s3"]) bed.clearAccessLog(s);
    const seen = await serversOf(`http://${vip}/`, 30);
    const first = ["s1", "s2", "s3"].indexOf(seen[0]!);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `s${((first + i) % 3) + 1}`));
    for (const s of ["s1", "s2", "s3"]) {
      const log = bed.accessLog(s);
      expect(log).toHaveLength(10);
      expect(new Set(log.map((e) => e.remoteAddr))).toEqual(new Set([clientAddr]));
    }
  });

  test("fullnat: 30 sequential requests go round robin and servers see the dispatcher's local address", async () => {
    for (const s of ["s1", "s2", "s3"]) bed.clearAccessLog(s);
    const seen = await serversOf(`http://${vip}:81/`, 30);
    const first = ["s1", "s2", "s3"].indexOf(seen[0]!);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `s${((first + i) % 3) + 1}`));
    for (const s of ["s1", "s2", "s3"]) {
      expect(new Set(bed.accessLog(s).map((e) => e.remoteAddr))).toEqual(new Set(["10.201.0.200"]));
    }
  });

  for (const [mode, port] of [["nat", 80], ["fullnat", 81]] as const) {
    test(`${mode}: a 200 MB download arrives with the right sha256`, async () => {
      const r = await curl(bed, `http://${vip}:${port}/big`, { timeoutMs: 120_000 });
      expect(r.status).toBe(200);
      expect(r.bytes).toBe(BIG);
      expect(r.sha256).toBe(bed.bigFile.sha256);
      console.log(`${mode} 200 MB download: ${(r.timeMs / 1000).toFixed(2)} s (${((BIG * 8) / r.timeMs / 1e6).toFixed(2)} Gbit/s)`);
    }, 130_000);
  }

  test("wrk for 10 s with 64 connections: no socket errors and no non-2xx", async () => {
    const r = await wrk(bed, `http://${vip}/1k`, { connections: 64, threads: 2, durationS: 10 });
    console.log(`wrk through tandem nat: ${Math.round(r.requestsPerS)} req/s, p50 ${r.latencyUs.p50} us, p99 ${r.latencyUs.p99} us`);
    expect(r.requests).toBeGreaterThan(1000);
    expect(r.socketErrors).toBe(0);
    expect(r.errors.non2xx3xx).toBe(0);
  }, 60_000);
});

describe("UDP and ICMP", () => {
  test("1,000 DNS queries through the VIP are all answered, spread evenly by rr", async () => {
    const before = (await tandem.status()).dispatcher.services.find((s) => s.name === "dns")!.servers.map((x) => x.connections);
    const r = await dig(bed, vip, "www.example.test", "A", { count: 1000, timeS: 2, tries: 1 });
    expect(r.failed).toBe(0);
    expect(r.responses.every((x) => x.status === "NOERROR")).toBe(true);
    console.log(`DNS answers per server: ${JSON.stringify(r.counts)}`);
    expect(Object.keys(r.counts).sort()).toEqual(["10.250.0.1", "10.250.0.2", "10.250.0.3"]);
    // dig picks random source ports, so a few queries reuse a port still tracked as the same flow
    // and follow it; rr itself is exact per flow, which the dispatcher's counters show.
    for (const n of Object.values(r.counts)) expect(Math.abs(n - 1000 / 3)).toBeLessThanOrEqual(15);
    const after = (await tandem.status()).dispatcher.services.find((s) => s.name === "dns")!.servers.map((x) => x.connections);
    const flows = after.map((n, i) => n - before[i]!);
    expect(Math.max(...flows) - Math.min(...flows)).toBeLessThanOrEqual(1);
    expect(flows.reduce((a, b) => a + b, 0)).toBeGreaterThan(950);
  }, 60_000);

  test("ping to the VIP is answered by the dispatcher", async () => {
    const r = await ping(bed, vip, 3, { intervalS: 0.2 });
    expect(r.received).toBe(3);
  });

  test("a server's ICMP port unreachable reaches the client translated", async () => {
    const r = await bed.exec("c1", ["dig", `@${vip}`, "-p", "5999", "+tries=1", "+time=3", "www.example.test"]);
    expect(`${r.stdout}${r.stderr}`).toMatch(/connection refused/);
  });
});

describe("scheduling and server states", () => {
  test("wrr 1:2:3 spreads 600 requests 1:2:3 within 5%", async () => {
    for (const s of ["s1", "s2", "s3"]) bed.clearAccessLog(s);
    // One curl process, 600 URLs, each on a new connection.
    const r = await bed.exec("c1", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", "-H", "Connection: close", `http://${vip}:82/1k?[1-600]`], { timeoutMs: 120_000 });
    expect(r.stdout.trim().split("\n").filter((c) => c === "200")).toHaveLength(600);
    const counts = ["s1", "s2", "s3"].map((s) => bed.accessLog(s).length);
    console.log(`wrr 1:2:3 over 600: ${counts.join("/")}`);
    counts.forEach((n, i) => expect(Math.abs(n - 100 * (i + 1))).toBeLessThanOrEqual(30));
  }, 130_000);

  test("persistence keeps one client on one server", async () => {
    const seen = await serversOf(`http://${vip}:83/`, 9);
    expect(new Set(seen).size).toBe(1);
  });

  test("drain stops new connections to a server while an open download through it completes", async () => {
    // A rate-limited download, long enough to span the reload.
    const download = curl(bed, `http://${vip}/big`, { rateLimit: "40M", timeoutMs: 120_000 });
    // The download's server is the one with an established connection on port 80.
    let server: string | undefined;
    for (let i = 0; i < 100 && !server; i++) {
      const busy = await Promise.all(["s1", "s2", "s3"].map(async (s) => ({ s, conns: (await bed.exec(s, ["ss", "-Htn", "state", "established", "( sport = :80 )"])).stdout.trim() })));
      server = busy.find((b) => b.conns.length > 0)?.s;
      if (!server) await Bun.sleep(50);
    }
    expect(server).toBeDefined();
    await tandem.reload(bedConfig(bed, { states: { [server!]: "drain" } }));
    const after = await serversOf(`http://${vip}/`, 9);
    expect(after).not.toContain(server);
    const r = await download;
    expect(r.status).toBe(200);
    expect(r.sha256).toBe(bed.bigFile.sha256);
    expect(r.server).toBe(server);
    await tandem.reload(bedConfig(bed));
  }, 150_000);
});

describe("clean state", () => {
  test("after traffic stops and timeouts pass, the connection table is empty", async () => {
    const deadline = Date.now() + 30_000;
    let connections = -1;
    while (Date.now() < deadline) {
      connections = (await tandem.status()).dispatcher.connections;
      if (connections === 0) break;
      await Bun.sleep(250);
    }
    expect(connections).toBe(0);
  }, 40_000);

  test("after tandem run exits, no route, rule, proxy neighbour or TUN device it created remains", async () => {
    const code = await tandem.stop();
    expect(code).toBe(0);
    const rules = (await bed.execOk("d1", ["ip", "rule"])).stdout;
    expect(rules).not.toMatch(/lookup 7100/);
    const routes = (await bed.execOk("d1", ["ip", "route", "show", "table", "all"])).stdout;
    expect(routes).not.toMatch(/tandem0|table 7100/);
    expect((await bed.execOk("d1", ["ip", "neigh", "show", "proxy"])).stdout.trim()).toBe("");
    expect((await bed.exec("d1", ["ip", "link", "show", "tandem0"])).code).not.toBe(0);
    expect((await bed.execOk("d1", ["sysctl", "-n", "net.ipv4.conf.all.rp_filter"])).stdout.trim()).toBe("0");
  });

  test("after SIGKILL, a restart removes the leftovers first and serves again; its stop leaves nothing", async () => {
    const rulesNow = async () => (await bed.execOk("d1", ["ip", "rule"])).stdout.split("\n").filter((l) => l.includes("lookup 7100")).length;
    const killed = await startTandem(bed, "d1", bedConfig(bed));
    await killed.waitForLog(/ Dispatcher ready /);
    const rules = await rulesNow();
    expect(rules).toBeGreaterThan(0);
    killed.proc.signal("SIGKILL");
    await killed.proc.exited;
    expect(await rulesNow()).toBe(rules);
    const again = await startTandem(bed, "d1", bedConfig(bed));
    await again.waitForLog(/ Dispatcher ready /);
    expect(await rulesNow()).toBe(rules);
    expect((await curl(bed, `http://${vip}/`)).status).toBe(200);
    expect(await again.stop()).toBe(0);
    expect(await rulesNow()).toBe(0);
    expect((await bed.execOk("d1", ["ip", "neigh", "show", "proxy"])).stdout.trim()).toBe("");
  }, 60_000);
});
