/**
 * Smoke test of the netns test bed without tandem: d1 is a plain kernel router (ip_forward),
 * the client reaches the servers' private addresses through it, the servers route back via d1.
 * Proves nginx, dnsmasq and the client wrappers work, and that destroy() leaves nothing behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { curl, dig, iperf3, iperf3Server, ping, wrk } from "./testbed/clients.ts";
import { cleanupStaleTestbeds, createTestbed, TESTBED_ROOT } from "./testbed/topology.ts";
import type { Testbed } from "./testbed/topology.ts";

const BIG_BYTES = 8 * 1024 * 1024;

let bed: Testbed;
let rootLinksBefore: string[];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("The netns test bed needs root: run the integration tests as root");
  const deps = Bun.spawnSync(["test/deps.sh", "netns"], { stdout: "inherit", stderr: "inherit" });
  if (deps.exitCode !== 0) throw new Error(`"test/deps.sh netns" failed with exit code ${deps.exitCode}`);
  rootLinksBefore = await rootLinks();
  bed = await createTestbed({ bigFileBytes: BIG_BYTES });
  await routeThroughDispatcher(bed);
}, 300_000);

afterAll(async () => {
  await bed?.destroy();
});

/** Router mode: the client reaches the private subnet via d1, whose kernel forwards (servers' gateway is d1 by default). */
async function routeThroughDispatcher(b: Testbed): Promise<void> {
  const d1 = b.addresses.dispatchers[0]!;
  await b.execOk("c1", ["ip", "route", "add", b.addresses.subnets.private, "via", d1.public]);
}

async function rootLinks(): Promise<string[]> {
  const out = await new Response(Bun.spawn(["ip", "-o", "link", "show"], { stdout: "pipe" }).stdout).text();
  return out.split("\n").filter((l) => l !== "").map((l) => (l.split(": ")[1] ?? "").split("@")[0] ?? "");
}

async function namespaces(): Promise<string[]> {
  const out = await new Response(Bun.spawn(["ip", "netns", "list"], { stdout: "pipe" }).stdout).text();
  return out.split("\n").filter((l) => l !== "").map((l) => l.split(" ")[0] ?? "");
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True while `pid` runs (a zombie, killed and awaiting its reaper, counts as gone). */
function runningNotZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Starts a bun process that builds a one-server bed and then idles; resolves with its run id and service PIDs. */
async function bedInChild(): Promise<{ child: ReturnType<typeof Bun.spawn>; runId: string; pids: number[] }> {
  const topology = new URL("./testbed/topology.ts", import.meta.url).pathname;
  const code = `import { createTestbed } from ${JSON.stringify(topology)};
const b = await createTestbed({ servers: 1, bigFileBytes: 4096 });
console.log("READY " + b.runId + " " + b.processes.map((p) => p.pid).join(","));
await Bun.sleep(60_000);`;
  const child = Bun.spawn([process.execPath, "-e", code], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const decoder = new TextDecoder();
  let out = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  for await (const chunk of child.stdout) {
    out += decoder.decode(chunk, { stream: true });
    if (out.includes("\n")) break;
  }
  clearTimeout(timer);
  const m = /^READY (\S+) ([\d,]+)\n/.exec(out);
  if (!m) {
    child.kill("SIGKILL");
    throw new Error(`The child bed did not start: ${out}${await new Response(child.stderr).text()}`);
  }
  return { child, runId: m[1]!, pids: m[2]!.split(",").map(Number) };
}

/** Destroys `b` and asserts that none of its namespaces, links, processes or files remain. */
async function destroyAndExpectNothingLeft(b: Testbed): Promise<void> {
  const pids = b.processes.map((p) => p.pid);
  const tag = b.runId.split("-")[1]!;
  expect(pids.length).toBeGreaterThanOrEqual(2 * b.addresses.servers.length);
  expect((await namespaces()).filter((n) => n.startsWith(`tt-${b.runId}-`)).length).toBe(b.namespaceNames.length);

  const report = await b.destroy();
  expect(report.problems).toEqual([]);
  expect(await b.destroy()).toBe(report);
  expect((await namespaces()).filter((n) => n.includes(b.runId))).toEqual([]);
  const links = await rootLinks();
  expect(links.filter((l) => l.includes(tag) || !rootLinksBefore.includes(l))).toEqual([]);
  expect(pids.filter(pidAlive)).toEqual([]);
  expect(b.processes).toEqual([]);
  expect(existsSync(`${TESTBED_ROOT}/${b.runId}`)).toBe(false);
}

describe("the netns test bed in router mode", () => {
  test("each server answers with its own X-Server header and logs the client's address", async () => {
    const client = bed.addresses.clients[0]!;
    for (const s of bed.addresses.servers) {
      const r = await curl(bed, `http://${s.private}/`);
      expect(r.status).toBe(200);
      expect(r.server).toBe(s.name);
      expect(r.body).toBe(`hello from ${s.name}\n`);
      expect(r.localIp).toBe(client.public);
      const log = bed.accessLog(s.name);
      expect(log.at(-1)).toMatchObject({ remoteAddr: client.public, remotePort: r.localPort, uri: "/", status: 200 });
    }
  });

  test("/1k serves exactly 1024 bytes and keeps the connection alive across requests", async () => {
    const s1 = bed.addresses.servers[0]!;
    bed.clearAccessLog(s1.name);
    const r = await bed.execOk("c1", ["curl", "-sS", "--noproxy", "*", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{size_download} %{num_connects}\\n", `http://${s1.private}/1k`, `http://${s1.private}/1k`]);
    expect(r.stdout).toBe("1024 1\n1024 0\n");
    const log = bed.accessLog(s1.name);
    expect(log.map((e) => e.connectionRequests)).toEqual([1, 2]);
    expect(log[0]!.connection).toBe(log[1]!.connection);
  });

  test("each server's dnsmasq answers with its own A and TXT records", async () => {
    for (const s of bed.addresses.servers) {
      const a = await dig(bed, s.private, "www.example.test", "A", { count: 20 });
      expect(a.failed).toBe(0);
      expect(a.counts).toEqual({ [s.dnsAnswer]: 20 });
      const txt = await dig(bed, s.private, "www.example.test", "TXT");
      expect(txt.answers).toEqual([s.dnsTxt]);
    }
    const nx = await dig(bed, bed.addresses.servers[0]!.private, "other.example.test", "A");
    expect(nx.responses.map((r) => r.status)).toEqual(["NXDOMAIN"]);
  });

  test("/big downloads whole with the sha256 the bed computed", async () => {
    expect(bed.bigFile.bytes).toBe(BIG_BYTES);
    expect(bed.bigFile.sha256).toMatch(/^[0-9a-f]{64}$/);
    const r = await curl(bed, `http://${bed.addresses.servers[1]!.private}/big`);
    expect(r.status).toBe(200);
    expect(r.bytes).toBe(BIG_BYTES);
    expect(r.sha256).toBe(bed.bigFile.sha256);
  });

  test("wrk for 2 s through the dispatcher gets no socket errors and no error statuses", async () => {
    const r = await wrk(bed, `http://${bed.addresses.servers[2]!.private}/1k`, { connections: 16, durationS: 2 });
    expect(r.errors).toEqual({ connect: 0, read: 0, write: 0, timeout: 0, non2xx3xx: 0 });
    expect(r.requests).toBeGreaterThan(1000);
    expect(r.latencyUs.p50).toBeGreaterThan(0);
    expect(r.latencyUs.p99).toBeGreaterThanOrEqual(r.latencyUs.p50);
  });

  test("ping and an iperf3 TCP stream cross the dispatcher", async () => {
    const s3 = bed.addresses.servers[2]!;
    const p = await ping(bed, s3.private, 5, { intervalS: 0.02 });
    expect(p).toMatchObject({ transmitted: 5, received: 5, lossPercent: 0 });
    const server = await iperf3Server(bed, s3.name);
    const tcp = await iperf3(bed, s3.private, { durationS: 1 });
    expect(tcp.gbps).toBeGreaterThan(0.1);
    await server.stop();
    expect(server.running).toBe(false);
  });

  test("stopping, freezing and cutting off a server takes it out until it is restored", async () => {
    const s1 = bed.addresses.servers[0]!;
    const url = `http://${s1.private}/`;
    const quick = { timeoutMs: 1000, connectTimeoutMs: 1000 };
    await bed.stopNginx(s1.name);
    expect((await curl(bed, url, quick)).exitCode).toBe(7); // connection refused
    await bed.startNginx(s1.name);
    expect((await curl(bed, url, quick)).server).toBe(s1.name);

    bed.sigstop(s1.name);
    expect((await curl(bed, url, quick)).exitCode).toBe(28); // timed out: accepted by the kernel, never answered
    bed.sigcont(s1.name);
    expect((await curl(bed, url, quick)).server).toBe(s1.name);

    await bed.cutLink("d1", "eth1");
    expect((await curl(bed, url, quick)).ok).toBe(false);
    await bed.restoreLink("d1", "eth1");
    expect((await curl(bed, url, { timeoutMs: 5000 })).server).toBe(s1.name);
  });

  test("destroy removes every namespace, link, process and file of the run", async () => {
    await destroyAndExpectNothingLeft(bed);
  });

  test("a bed whose owner gets SIGTERM is torn down by the signal hook", async () => {
    const { child, runId, pids } = await bedInChild();
    try {
      expect((await namespaces()).filter((n) => n.includes(runId)).length).toBe(4);
      child.kill("SIGTERM");
      expect(await child.exited).toBe(143);
      expect((await namespaces()).filter((n) => n.includes(runId))).toEqual([]);
      expect(pids.filter(runningNotZombie)).toEqual([]);
      expect(existsSync(`${TESTBED_ROOT}/${runId}`)).toBe(false);
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      await cleanupStaleTestbeds();
    }
  });

  test("a bed whose owner was SIGKILLed is removed by the next stale cleanup", async () => {
    const { child, runId, pids } = await bedInChild();
    try {
      child.kill("SIGKILL");
      await child.exited;
      const left = (await namespaces()).filter((n) => n.includes(runId));
      expect(left.length).toBe(4);
      const removed = await cleanupStaleTestbeds();
      expect(removed.sort()).toEqual([...left, `${TESTBED_ROOT}/${runId}`].sort());
      expect((await namespaces()).filter((n) => n.includes(runId))).toEqual([]);
      expect(pids.filter(runningNotZombie)).toEqual([]);
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      await cleanupStaleTestbeds();
    }
  });

  test("a second bed with two dispatchers and two clients follows the first without leftovers", async () => {
    const second = await createTestbed({ dispatchers: 2, clients: 2, servers: 2, bigFileBytes: 4096 });
    try {
      expect(second.runId).not.toBe(bed.runId);
      await routeThroughDispatcher(second);
      const r = await curl(second, `http://${second.addresses.servers[1]!.private}/big`);
      expect(r.sha256).toBe(second.bigFile.sha256);
      const d2 = second.addresses.dispatchers[1]!;
      const hb = await ping(second, d2.heartbeat, 3, { from: "d1", intervalS: 0.02 });
      expect(hb.received).toBe(3);
      const c2 = await ping(second, second.addresses.clients[0]!.public, 3, { from: "c2", intervalS: 0.02 });
      expect(c2.received).toBe(3);
      await destroyAndExpectNothingLeft(second);
    } finally {
      await second.destroy();
    }
  });
});
