import { describe, expect, test } from "bun:test";
import { formatIssue } from "../../../src/core/config/issues.ts";
import { loadConfigText } from "../../../src/core/config/load-config.ts";
import type { TandemConfig } from "../../../src/core/config/resolve-config.ts";
import type { ProbeResult, ProbeTarget } from "../../../src/core/health/probe-types.ts";
import type { HealthEvent } from "../../../src/core/health/server-health.ts";
import type { DispatcherSnapshot } from "../../../src/engine/dispatcher-engine.ts";
import { MonitorEngine } from "../../../src/engine/monitor-engine.ts";
import { FakeClock } from "../../../src/platform/fake/fake-clock.ts";
import { memoryLog } from "../../../src/platform/fake/memory-log.ts";

/** One node, one service of three servers probed every second (rise 2, fall 3, timeout 500 ms). */
function config(extra = ""): TandemConfig {
  const loaded = loadConfigText(`version = 1
[cluster]
name = "lab"
[[node]]
name = "a"
interfaces.public = { device = "eth0", address = "192.0.2.2/24" }
interfaces.private = { device = "eth1", address = "198.51.100.1/24" }
[[vip]]
name = "web"
address = "192.0.2.10"
interface = "public"
[[service]]
name = "http"
vip = "web"
port = 80
monitor = { kind = "http", interval = "1s", timeout = "500ms", rise = 2, fall = 3, jitter = "0s" }
passive = { failures = 3, window = "10s" }
servers = [{ address = "198.51.100.11" }, { address = "198.51.100.12" }, { address = "198.51.100.13" }]
${extra}`, "t.toml");
  expect(loaded.issues.map(formatIssue)).toEqual([]);
  return loaded.config!;
}

/** A fake data plane: records setUp calls and serves passive counters the test sets. */
function dataPlane() {
  const calls: string[] = [];
  const passive = [0, 1, 2].map(() => ({ refused: 0, timeouts: 0, resets: 0 }));
  return {
    calls,
    passive,
    setUp(service: number, server: number, up: boolean) {
      calls.push(`${service}/${server}=${up ? "up" : "down"}`);
    },
    snapshot(): DispatcherSnapshot {
      return { services: [{ servers: passive.map((p) => ({ ...p })) }] } as unknown as DispatcherSnapshot;
    },
  };
}

function start(cfg: TandemConfig, healthy: (target: ProbeTarget) => boolean | "hang") {
  const clock = new FakeClock();
  const { log } = memoryLog(clock);
  const dp = dataPlane();
  const events: HealthEvent[] = [];
  const probes: string[] = [];
  const engine = MonitorEngine.start({
    config: cfg,
    clock,
    log,
    random: () => 0.5,
    dataPlane: dp,
    onEvent: (e) => events.push(e),
    probe: (target) => {
      probes.push(`${clock.monotonicMs()} ${target.address}`);
      const verdict = healthy(target);
      // A hung server: the probe resolves at its timeout (runProbe's contract), failed.
      if (verdict === "hang") return new Promise<ProbeResult>((resolve) => clock.after(target.monitor.timeout, () => resolve({ ok: false, ms: target.monitor.timeout, detail: "timeout" })));
      return Promise.resolve({ ok: verdict, ms: 3, detail: verdict ? "200 in 3 ms" : "connect ECONNREFUSED" });
    },
  });
  /** Advances fake time in small steps, letting probe promises settle between them. */
  const run = async (ms: number) => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await Promise.resolve();
      await Promise.resolve();
    }
  };
  return { clock, dp, events, probes, engine, run };
}

describe("monitor engine", () => {
  test("first probes are spread over one interval, then each server is probed once per interval", async () => {
    const m = start(config(), () => true);
    await m.run(3000);
    const first = m.probes.slice(0, 3).map((p) => Number(p.split(" ")[0]));
    expect(new Set(first).size).toBe(3);
    expect(Math.max(...first)).toBeLessThan(1000);
    // Three servers × about three intervals.
    expect(m.probes.length).toBeGreaterThanOrEqual(8);
    expect(m.probes.length).toBeLessThanOrEqual(9);
    expect(m.dp.calls).toEqual([]);
    m.engine.stop();
  });

  test("a refusing server goes down after fall probes and is taken out of the pool at once, then back after rise", async () => {
    let down = true;
    const m = start(config(), (t) => t.address !== "198.51.100.12" || !down);
    await m.run(3500);
    expect(m.dp.calls).toEqual(["0/1=down"]);
    expect(m.events.map((e) => e.type)).toEqual(["server_down"]);
    expect(m.events[0]!.fields.server).toBe("198.51.100.12:80");
    down = false;
    await m.run(2500);
    expect(m.dp.calls).toEqual(["0/1=down", "0/1=up"]);
    expect(m.events.map((e) => e.type)).toEqual(["server_down", "server_up"]);
    m.engine.stop();
  });

  test("a hung server is detected by the probe timeout, and a probe never overlaps the previous one", async () => {
    const m = start(config(), (t) => (t.address === "198.51.100.13" ? "hang" : true));
    await m.run(4000);
    expect(m.dp.calls).toEqual(["0/2=down"]);
    const hung = m.probes.filter((p) => p.endsWith("198.51.100.13")).map((p) => Number(p.split(" ")[0]));
    for (let i = 1; i < hung.length; i++) expect(hung[i]! - hung[i - 1]!).toBeGreaterThanOrEqual(500);
    m.engine.stop();
  });

  test("passive failures from the packet path take a server down between probes", async () => {
    const m = start(config(), () => true);
    await m.run(300);
    m.dp.passive[0]!.refused = 2;
    m.dp.passive[0]!.timeouts = 1;
    await m.run(300);
    expect(m.dp.calls).toEqual(["0/0=down"]);
    expect(m.events[0]!.type).toBe("server_down");
    m.engine.stop();
  });

  test("counters the packet path had before the monitors started do not count", async () => {
    const cfg = config();
    const clock = new FakeClock();
    const dp = dataPlane();
    dp.passive[1]!.resets = 50;
    const engine = MonitorEngine.start({ config: cfg, clock, log: memoryLog(clock).log, random: () => 0.5, dataPlane: dp, onEvent: () => {}, probe: async () => ({ ok: true, ms: 1, detail: "ok" }) });
    clock.advance(1000);
    expect(dp.calls).toEqual([]);
    engine.stop();
  });

  test("initial = \"down\" keeps servers out of the pool until rise probes pass", async () => {
    const cfg = config();
    (cfg.service[0]!.servers[0]!.monitor as { initial: string }).initial = "down";
    const m = start(cfg, () => true);
    await m.run(50);
    expect(m.dp.calls).toEqual([]);
    await m.run(2500);
    expect(m.dp.calls).toEqual(["0/0=up"]);
    m.engine.stop();
  });

  test("stop cancels every timer", async () => {
    const m = start(config(), () => true);
    await m.run(1500);
    m.engine.stop();
    expect(m.clock.pending).toBe(0);
  });

  test("a reload with new monitor settings keeps a down server down and probes at the new interval", async () => {
    const m = start(config(), (t) => t.address !== "198.51.100.12");
    await m.run(3500);
    expect(m.dp.calls).toEqual(["0/1=down"]);
    const faster = config().service[0]!;
    for (const r of faster.servers) (r.monitor as { interval: number }).interval = 250;
    const next = config();
    next.service[0] = faster;
    const before = m.probes.length;
    m.engine.reload(next);
    await m.run(2000);
    // No state was lost: s2 is still down (no "up" call), the others were never touched.
    expect(m.dp.calls).toEqual(["0/1=down"]);
    expect(m.engine.snapshot().services[0]!.servers.map((r) => r.up)).toEqual([true, false, true]);
    // Three servers every 250 ms for 2 s: about 24 probes, where the old 1 s interval gave 6.
    expect(m.probes.length - before).toBeGreaterThanOrEqual(20);
    m.engine.stop();
    expect(m.clock.pending).toBe(0);
  });

  test("a reload with unchanged settings keeps every machine, counters included", async () => {
    let down = true;
    const m = start(config(), (t) => t.address !== "198.51.100.12" || !down);
    await m.run(3500);
    m.engine.reload(config());
    down = false;
    await m.run(2500);
    // The same machine saw the recovery: one server_up after the one server_down.
    expect(m.events.map((e) => e.type)).toEqual(["server_down", "server_up"]);
    expect(m.dp.calls).toEqual(["0/1=down", "0/1=up"]);
    m.engine.stop();
  });
});
