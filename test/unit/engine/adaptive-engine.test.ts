import { describe, expect, test } from "bun:test";
import { formatIssue } from "../../../src/core/config/issues.ts";
import { loadConfigText } from "../../../src/core/config/load-config.ts";
import type { TandemConfig } from "../../../src/core/config/resolve-config.ts";
import { AdaptiveEngine, adaptiveServicesFromConfig, type AdaptiveDataPlane } from "../../../src/engine/adaptive-engine.ts";
import { FakeClock } from "../../../src/platform/fake/fake-clock.ts";
import { memoryLog } from "../../../src/platform/fake/memory-log.ts";
import { BASE, edit } from "../core/config/config-test-helpers.ts";

/** BASE's service "http" made adaptive with a 1 s interval over three servers, plus a plain rr service "other". */
function config(options: { servers?: string; adaptive?: string; extra?: string } = {}): TandemConfig {
  const servers = options.servers ?? `[
  { address = "10.1.0.11" },
  { address = "10.1.0.12" },
  { address = "10.1.0.13" },
]`;
  let text = edit(`servers = [
  { address = "10.1.0.11" },
  { address = "10.1.0.12", port = 8080 },
]`, `scheduler = "adaptive"
adaptive = ${options.adaptive ?? `{ interval = "1s", smoothing = 0.5 }`}
servers = ${servers}`);
  text = `${text}
[[service]]
name = "other"
vip = "web"
port = 81
scheduler = "rr"
servers = [{ address = "10.1.0.11" }]
${options.extra ?? ""}`;
  const loaded = loadConfigText(text, "t.toml");
  expect(loaded.issues.map(formatIssue)).toEqual([]);
  return loaded.config!;
}

/** A data plane whose counters the test feeds: per service, per server [sum of ms, count]. */
class FakePlane implements AdaptiveDataPlane {
  readonly counters: [number, number][][] = [[[0, 0], [0, 0], [0, 0]], [[0, 0]]];
  readonly sent: [number, number, number][] = [];

  snapshot() {
    return { services: this.counters.map((servers) => ({ servers: servers.map(([responseTimeSumMs, responseTimes]) => ({ responseTimeSumMs, responseTimes })) })) };
  }

  setAdaptiveWeight(service: number, server: number, weight: number): void {
    this.sent.push([service, server, weight]);
  }

  /** Adds `count` responses of `ms` each to server `server` of the adaptive service. */
  respond(server: number, count: number, ms: number): void {
    const c = this.counters[0]![server]!;
    c[0] += count * ms;
    c[1] += count;
  }

  /** The weights last sent per server of the adaptive service (undefined: never sent). */
  weights(): (number | undefined)[] {
    return [0, 1, 2].map((i) => this.sent.filter(([s, r]) => s === 0 && r === i).at(-1)?.[2]);
  }
}

function setup(cfg = config(), historyLength?: number) {
  const clock = new FakeClock();
  const { log, lines } = memoryLog(clock);
  const plane = new FakePlane();
  const engine = AdaptiveEngine.start({ config: cfg, dataPlane: plane, clock, log, historyLength });
  return { clock, plane, engine, lines };
}

/** One second of traffic: 100 responses per server at the given response times, then the tick. */
function second(clock: FakeClock, plane: FakePlane, ms: readonly number[]): void {
  ms.forEach((m, i) => plane.respond(i, 100, m));
  clock.advance(1000);
}

describe("adaptive engine", () => {
  test("only services with the adaptive scheduler are run, with their config's interval and servers", () => {
    const specs = adaptiveServicesFromConfig(config({ servers: `[{ address = "10.1.0.11", weight = 2 }, { address = "10.1.0.12", state = "drain" }]` }));
    expect(specs).toEqual([{
      index: 0, name: "http", intervalMs: 1000, smoothing: 0.5, minShare: 0.02,
      servers: [{ name: "10.1.0.11:80", weight: 2, active: true }, { name: "10.1.0.12:80", active: false, weight: 1 }],
    }]);
  });

  test("nothing is sent before the first interval ends", () => {
    const { clock, plane, engine, lines } = setup();
    clock.advance(999);
    expect(plane.sent).toEqual([]);
    expect(engine.history()[0]!.entries).toEqual([]);
    expect(lines.some((l) => l.includes("Adaptive distribution on") && l.includes("service=http"))).toBe(true);
    engine.stop();
  });

  test("each interval the weights follow the measured response times and only changes are sent", () => {
    const { clock, plane, engine } = setup();
    for (let k = 0; k < 10; k++) second(clock, plane, [5, 10, 200]);
    const w = plane.weights() as number[];
    expect(w[0]! > w[1]! && w[1]! > w[2]!).toBe(true);
    expect(w[0]! + w[1]! + w[2]!).toBe(1000);
    // The other service is never touched, and an unchanged weight is not sent again.
    expect(plane.sent.every(([s]) => s === 0)).toBe(true);
    const sentBefore = plane.sent.length;
    const last = engine.history()[0]!.entries.at(-1)!;
    clock.advance(1000);
    expect(engine.history()[0]!.entries.at(-1)!.weights).toEqual(last.weights);
    expect(plane.sent.length).toBe(sentBefore);
    engine.stop();
  });

  test("the first interval sends every server's weight, also one the controller left unchanged", () => {
    // The pool starts on the administrator's scale (1, 1, 1); a server left there beside weights
    // in the hundreds would get next to no traffic.
    const { clock, plane, engine } = setup();
    plane.respond(0, 100, 5);
    plane.respond(1, 100, 5);
    clock.advance(1000);
    expect(engine.history()[0]!.entries[0]!.weights).toEqual([334, 333, 333]);
    expect(plane.sent).toEqual([[0, 0, 334], [0, 1, 333], [0, 2, 333]]);
    engine.stop();
  });

  test("the history keeps time, weights and response times, oldest first, up to its length", () => {
    const { clock, plane, engine } = setup(config(), 3);
    for (let k = 0; k < 5; k++) second(clock, plane, [5 + k, 10, 20]);
    const [h] = engine.history();
    expect(h!.service).toBe("http");
    expect(h!.servers).toEqual(["10.1.0.11:80", "10.1.0.12:80", "10.1.0.13:80"]);
    expect(h!.intervalMs).toBe(1000);
    expect(h!.entries.map((e) => e.atMs - clock.wallMs())).toEqual([-2000, -1000, 0]);
    expect(h!.entries.map((e) => e.responseMs[0])).toEqual([7, 8, 9]);
    expect(h!.entries.at(-1)!.samples).toEqual([100, 100, 100]);
    expect(h!.entries.at(-1)!.weights).toEqual(plane.weights() as number[]);
    expect(engine.history(1)).toEqual([]);
    engine.stop();
  });

  test("probe response times count where live traffic has none", () => {
    const { clock, engine } = setup();
    for (let k = 0; k < 8; k++) {
      engine.noteProbe(0, 0, 2);
      engine.noteProbe(0, 1, 2);
      engine.noteProbe(0, 2, 400);
      engine.noteProbe(7, 0, 1);
      engine.noteProbe(0, 9, 1);
      engine.noteProbe(0, 0, Number.NaN);
      clock.advance(1000);
    }
    const last = engine.history()[0]!.entries.at(-1)!;
    expect(last.samples).toEqual([1, 1, 1]);
    expect(last.responseMs).toEqual([2, 2, 400]);
    expect(last.weights[2]! < last.weights[0]!).toBe(true);
    engine.stop();
  });

  test("a server reported down keeps its weight while the others are balanced", () => {
    const { clock, plane, engine } = setup();
    engine.setServerUp(0, 2, false);
    for (let k = 0; k < 10; k++) second(clock, plane, [5, 50, 1]);
    const w = engine.history()[0]!.entries.at(-1)!.weights;
    expect(w[2]).toBe(333);
    expect(w[0]! > w[1]!).toBe(true);
    engine.stop();
  });

  test("a drained server in the config keeps its weight", () => {
    const { clock, plane, engine } = setup(config({ servers: `[{ address = "10.1.0.11" }, { address = "10.1.0.12" }, { address = "10.1.0.13", state = "drain" }]` }));
    for (let k = 0; k < 10; k++) second(clock, plane, [5, 50, 1]);
    expect(engine.history()[0]!.entries.at(-1)!.weights[2]).toBe(333);
    engine.stop();
  });

  test("counters that went back (a restarted packet engine) count as an empty interval", () => {
    const { clock, plane, engine } = setup();
    second(clock, plane, [5, 5, 5]);
    plane.counters[0] = [[10, 1], [10, 1], [10, 1]];
    clock.advance(1000);
    expect(engine.history()[0]!.entries.at(-1)!.samples).toEqual([0, 0, 0]);
    second(clock, plane, [5, 5, 5]);
    expect(engine.history()[0]!.entries.at(-1)!.samples).toEqual([100, 100, 100]);
    engine.stop();
  });

  test("stop cancels every timer", () => {
    const { clock, plane, engine } = setup();
    expect(clock.pending).toBe(1);
    engine.stop();
    engine.stop();
    expect(clock.pending).toBe(0);
    second(clock, plane, [5, 10, 20]);
    expect(plane.sent).toEqual([]);
  });

  test("a reload that changes a weight starts over from the administrator's weights and sends them at once", () => {
    const { clock, plane, engine } = setup();
    for (let k = 0; k < 5; k++) second(clock, plane, [5, 50, 200]);
    const learned = engine.history()[0]!.entries.at(-1)!.weights;
    expect(learned[0]! > 500).toBe(true);
    engine.reload(config({ servers: `[{ address = "10.1.0.11" }, { address = "10.1.0.12", weight = 2 }, { address = "10.1.0.13" }]` }));
    expect(plane.weights()).toEqual([250, 500, 250]);
    expect(engine.history()[0]!.entries.length).toBe(5);
    expect(clock.pending).toBe(1);
    engine.stop();
  });

  test("a reload that only drains a server keeps what was learned", () => {
    const { clock, plane, engine } = setup();
    for (let k = 0; k < 5; k++) second(clock, plane, [5, 50, 200]);
    const sent = plane.sent.length;
    engine.reload(config({ servers: `[{ address = "10.1.0.11" }, { address = "10.1.0.12" }, { address = "10.1.0.13", state = "drain" }]` }));
    expect(plane.sent.length).toBe(sent);
    second(clock, plane, [5, 50, 200]);
    expect(engine.history()[0]!.entries.length).toBe(6);
    expect(clock.pending).toBe(1);
    engine.stop();
  });

  test("a reload that makes the service round robin stops its controller", () => {
    const { clock, engine } = setup();
    engine.reload(loadConfigText(BASE, "t.toml").config!);
    expect(engine.history()).toEqual([]);
    expect(clock.pending).toBe(0);
    engine.stop();
  });
});
