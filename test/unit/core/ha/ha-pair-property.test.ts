import { test } from "node:test";
import assert from "node:assert/strict";
import { Prng } from "../packet/prng.ts";
import { Pair, TIMING } from "./ha-pair-harness.ts";

const { deadtimeMs, initdeadMs, keepaliveMs, releaseMs, latencyMs, tickMs } = TIMING;
const SEEDS = 200;

/** Longest both nodes may be active while both are up and every link works: one heartbeat round and a release. */
const SPLIT_BRAIN_LIMIT_MS = keepaliveMs + tickMs + 2 * latencyMs + releaseMs;

/** Watches a pair as its clock runs: the longest stretch with both nodes active and every link working. */
class SplitBrainWatch {
  longestMs = 0;
  longestAtMs = 0;
  private sinceMs: number | undefined;

  constructor(private readonly pair: Pair) {
    pair.observer = () => this.observe();
  }

  private observe(): void {
    if (!this.pair.healthy() || this.pair.actives().length < 2) {
      this.sinceMs = undefined;
      return;
    }
    this.sinceMs ??= this.pair.nowMs;
    if (this.pair.nowMs - this.sinceMs > this.longestMs) {
      this.longestMs = this.pair.nowMs - this.sinceMs;
      this.longestAtMs = this.pair.nowMs;
    }
  }
}

/** One random timeline: chaos (cuts, kills, restarts, witness and sync flips, commands), then healing. */
function randomTimeline(seed: number): { pair: Pair; trace: string[]; watch: SplitBrainWatch } {
  const rng = new Prng(seed);
  const linkCount = rng.range(1, 3);
  const witnesses = rng.chance(0.5);
  const fenceOk = rng.pick([undefined, true, false]);
  const spec = (name: string) => ({ name, priority: rng.range(1, 3), autoFailback: rng.chance(0.5), witnesses, fenceOk });
  const pair = new Pair(spec("a"), spec("b"), linkCount);
  const watch = new SplitBrainWatch(pair);
  const names = ["a", "b"];
  const trace: string[] = [];
  const note = (what: string) => trace.push(`${pair.nowMs}: ${what} -> ${pair.roles()}`);
  pair.start("a");
  pair.run(rng.range(0, initdeadMs));
  pair.start("b");
  note("started");
  const steps = rng.range(5, 25);
  for (let i = 0; i < steps; i++) {
    pair.run(rng.range(1, 3 * deadtimeMs));
    const name = rng.pick(names);
    const node = pair.node(name);
    switch (rng.int(7)) {
      case 0: {
        const link = rng.int(linkCount);
        const isCut = rng.chance(0.6);
        const oneWay = rng.chance(0.3);
        pair.setCut(link, isCut, oneWay ? name : undefined);
        note(`${isCut ? "cut" : "heal"} link ${link}${oneWay ? ` from ${name}` : ""}`);
        break;
      }
      case 1:
        pair.setAllCut(rng.chance(0.7));
        note("cut or heal all links");
        break;
      case 2:
        if (node.alive) pair.kill(name);
        else pair.start(name);
        note(`${node.alive ? "start" : "kill"} ${name}`);
        break;
      case 3:
        pair.setWitness(name, !node.witnessUp);
        note(`witness ${name} ${node.witnessUp}`);
        break;
      case 4:
        pair.setSynced(name, rng.chance(0.6));
        note(`sync ${name}`);
        break;
      default: {
        const command = rng.pick(["standby", "takeover"] as const);
        pair.command(name, command);
        note(`${command} ${name}`);
      }
    }
  }
  pair.setAllCut(false);
  for (const name of names) {
    if (!pair.node(name).alive) pair.start(name);
    pair.setWitness(name, true);
    pair.setSynced(name, true);
  }
  note("healed");
  return { pair, trace, watch };
}

test(`after links are healthy for 3 x deadtime exactly one node is active (${SEEDS} random timelines)`, () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const { pair, trace, watch } = randomTimeline(seed);
    pair.run(3 * deadtimeMs);
    assert.ok(watch.longestMs <= SPLIT_BRAIN_LIMIT_MS, `seed ${seed}: both active for ${watch.longestMs} ms with every link working, until ${watch.longestAtMs} ms\n${trace.join("\n")}`);
    const actives = pair.actives();
    assert.equal(actives.length, 1, `seed ${seed}: ${pair.roles()}\n${trace.join("\n")}`);
    // The VIPs are where the role says: the fake engine holds them only on the active node.
    assert.deepEqual(pair.nodes.filter((n) => n.holdsVips).map((n) => n.name), actives, `seed ${seed}: VIPs held elsewhere`);
  }
});
