/**
 * The dispatcher `bench/adaptive.ts` runs in the test bed's d1 namespace: the real data plane
 * (packet Worker, TUN, plumbing) and the adaptive engine, wired the way `tandem run` will wire them,
 * without the store, heartbeat and web UI the bench does not need. Run from the source tree:
 *
 *   bun bench/adaptive-driver.ts CONFIG NODE [capacity|netkestra]
 *
 * Prints `READY` once traffic can flow, then one JSON line per second on stdout:
 * `{"atMs":wall-clock ms,"weights":[…],"connections":[…],"rtSumMs":[…],"rtCount":[…]}` for the first service
 * (weights are the adaptive engine's, or the administrator's for other schedulers; the counters are
 * cumulative). SIGTERM or SIGINT removes the plumbing and stops the Worker, then exits 0.
 */
import { dirname, join } from "node:path";
import { createLog } from "../src/core/log/create-log.ts";
import type { AdaptiveMode } from "../src/core/sched/adaptive-controller.ts";
import { loadValidConfig } from "../src/cli/read-config.ts";
import { AdaptiveEngine } from "../src/engine/adaptive-engine.ts";
import { startDataPlane } from "../src/engine/data-plane.ts";
import { bunPlatform } from "../src/platform/bun/bun-platform.ts";

const [configPath, nodeName, modeArg] = process.argv.slice(2);
if (configPath === undefined || nodeName === undefined) {
  process.stderr.write("Usage: bun bench/adaptive-driver.ts CONFIG NODE [capacity|netkestra]\n");
  process.exit(2);
}
const mode: AdaptiveMode = modeArg === "netkestra" ? "netkestra" : "capacity";
const platform = bunPlatform();
const loaded = await loadValidConfig(platform, configPath);
if (!loaded) process.exit(1);
const { config } = loaded;
const log = createLog((line) => process.stderr.write(`${line}\n`), "info", platform.clock);
const plane = await startDataPlane(config, nodeName, platform.dataPlaneHost(), log.with({ component: "dispatcher" }), join(dirname(configPath), `plumbing-${nodeName}.json`));
const adaptive = AdaptiveEngine.start({ config, dataPlane: plane.engine, clock: platform.clock, log: log.with({ component: "adaptive" }), params: { mode } });
const service = config.service[0]!;
const report = () => {
  const s = plane.engine.snapshot().services[0]!;
  const weights = adaptive.history(0)[0]?.entries.at(-1)?.weights ?? service.servers.map((r) => r.weight);
  const line = {
    atMs: Date.now(),
    weights,
    connections: s.servers.map((r) => r.connections),
    rtSumMs: s.servers.map((r) => Math.round(r.responseTimeSumMs)),
    rtCount: s.servers.map((r) => r.responseTimes),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
};
process.stdout.write("READY\n");
report();
const timer = setInterval(report, 1000);
const signal = await new Promise<string>((resolve) => {
  process.once("SIGTERM", () => resolve("SIGTERM"));
  process.once("SIGINT", () => resolve("SIGINT"));
});
clearInterval(timer);
adaptive.stop();
await plane.stop();
log.info("Driver stopped", { signal });
process.exit(0);
