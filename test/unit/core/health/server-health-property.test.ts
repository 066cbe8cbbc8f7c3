import { test } from "node:test";
import assert from "node:assert/strict";
import type { Monitor } from "../../../../src/core/config/resolve-config.ts";
import { ServerHealth, type HealthEvent, type PassiveFailureKind, type ServerHealthOptions } from "../../../../src/core/health/server-health.ts";
import { Prng } from "../packet/prng.ts";
import { monitor } from "./health-fixtures.ts";

const SEEDS = 300;
const KINDS: readonly PassiveFailureKind[] = ["refused", "timeout", "reset"];

type Input =
  | { readonly kind: "probe"; readonly t: number; readonly ok: boolean }
  | { readonly kind: "passive"; readonly t: number; readonly failure: PassiveFailureKind }
  | { readonly kind: "tick"; readonly t: number };

/** Random but valid settings: small counts and short windows so that every rule fires often. */
function randomOptions(rng: Prng): ServerHealthOptions {
  const hold = rng.range(1, 30) * 1000;
  return {
    service: "svc",
    server: `10.0.0.${rng.range(1, 254)}:80`,
    monitor: rng.chance(0.75) ? monitor({ rise: rng.range(1, 3), fall: rng.range(1, 3), initial: rng.pick(["up", "down"] as const) }) : undefined,
    passive: { enabled: rng.chance(0.8), failures: rng.range(1, 4), window: rng.range(1, 20) * 1000 },
    flap: { window: rng.range(5, 120) * 1000, max_changes: rng.range(2, 6), hold, hold_max: rng.chance(0.2) ? hold : hold * rng.range(1, 16) },
  };
}

/**
 * A timeline of phases (healthy, dead, flaky), each a run of probes and passive failures at
 * increasing times; `backwards` lets some inputs carry a time earlier than the one before.
 */
function randomInputs(rng: Prng, monitored: boolean, backwards: boolean): Input[] {
  const inputs: Input[] = [];
  let t = rng.range(0, 5000);
  const phases = rng.range(3, 12);
  for (let p = 0; p < phases; p++) {
    const okChance = rng.pick([0.98, 0.5, 0.02]);
    const passiveChance = okChance > 0.9 ? 0.05 : rng.pick([0.2, 0.6]);
    const steps = rng.range(1, 40);
    for (let i = 0; i < steps; i++) {
      t += rng.chance(0.05) ? rng.range(30_000, 600_000) : rng.range(1, 3000);
      const at = backwards && rng.chance(0.05) ? t - rng.range(1, 5000) : t;
      if (monitored && !rng.chance(passiveChance)) inputs.push({ kind: "probe", t: at, ok: rng.chance(okChance) });
      else if (rng.chance(0.85)) inputs.push({ kind: "passive", t: at, failure: rng.pick(KINDS) });
      else inputs.push({ kind: "tick", t: at });
    }
  }
  inputs.push({ kind: "tick", t: t + 3_600_000 });
  return inputs;
}

function apply(h: ServerHealth, input: Input): HealthEvent[] {
  switch (input.kind) {
    case "probe":
      return h.probeResult(input.t, input.ok, input.ok ? "ok" : "timeout", 5);
    case "passive":
      return h.passiveFailure(input.t, input.failure);
    case "tick":
      return h.tick(input.t);
  }
}

/** Hold times an episode may get: hold doubled k times, capped at hold_max. */
function allowedHolds(o: ServerHealthOptions): Set<number> {
  const out = new Set<number>();
  for (let k = 0; k < 40; k++) out.add(Math.min(o.flap.hold * 2 ** k, o.flap.hold_max));
  return out;
}

/** Checks the events of one input against the state the previous events implied, then the machine against both. */
class EffectiveStateWatch {
  up: boolean;
  held = false;
  readonly holds: Set<number>;

  constructor(private readonly o: ServerHealthOptions, h: ServerHealth) {
    this.up = h.up;
    this.holds = allowedHolds(o);
  }

  check(events: readonly HealthEvent[], h: ServerHealth, input: Input, where: string): void {
    for (const e of events) {
      assert.equal(e.fields.server, this.o.server, where);
      assert.ok(e.message.startsWith(`Server "${this.o.server}" of service "svc" `), where);
      switch (e.type) {
        case "server_down":
          assert.equal(this.up, true, `${where}: server_down while already down`);
          this.up = false;
          break;
        case "server_up":
          assert.equal(this.up, false, `${where}: server_up while already up`);
          assert.equal(this.held, false, `${where}: server_up while held`);
          this.up = true;
          break;
        case "server_flapping":
          assert.equal(e.fields.extended, this.held, `${where}: extended iff already held`);
          assert.equal(e.fields.up, false, where);
          assert.ok(this.holds.has(e.fields.holdMs as number), `${where}: hold ${e.fields.holdMs} ms`);
          // An up server that starts flapping goes down first, by its own server_down.
          assert.equal(this.up, false, `${where}: flapping while reported up`);
          this.held = true;
          break;
        case "server_hold_released":
          assert.equal(this.held, true, `${where}: released while not held`);
          this.held = false;
          break;
      }
    }
    const s = h.snapshot();
    assert.equal(h.up, this.up, `${where}: up differs from the events`);
    assert.equal(s.flapping, this.held, `${where}: flapping differs from the events`);
    assert.equal(h.up, s.state === "up" && !s.flapping, `${where}: up is not "checked up and not held"`);
    if (s.heldUntilMs !== undefined) assert.ok(s.heldUntilMs > s.nowMs, `${where}: an expired hold was not released`);
    const due = h.nextDeadlineMs;
    if (due !== undefined) assert.ok(due > s.nowMs, `${where}: a deadline at ${due} is still pending`);
    assert.ok(s.changesInWindow < this.o.flap.max_changes, `${where}: ${s.changesInWindow} changes not consumed`);
    assert.ok(s.passiveFailures <= this.o.passive.failures, where);
    if (s.state === "up" && s.passiveFailures >= this.o.passive.failures) assert.fail(`${where}: up with ${s.passiveFailures} passive failures in window`);
    if (input.kind === "probe") {
      assert.equal(input.ok ? s.consecutiveFailures : s.consecutiveSuccesses, 0, where);
      assert.ok((input.ok ? s.consecutiveSuccesses : s.consecutiveFailures) >= 1, where);
    }
  }
}

test("on random timelines server_down and server_up alternate and always match the effective state", () => {
  let episodes = 0;
  let releases = 0;
  let extended = 0;
  let downs = 0;
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rng = new Prng(seed);
    const o = randomOptions(rng);
    const h = new ServerHealth(o, 0);
    const watch = new EffectiveStateWatch(o, h);
    const inputs = randomInputs(rng, o.monitor !== undefined, true);
    inputs.forEach((input, i) => {
      const events = apply(h, input);
      watch.check(events, h, input, `seed ${seed}, input ${i} ${JSON.stringify(input)}`);
      episodes += events.filter((e) => e.type === "server_flapping").length;
      releases += events.filter((e) => e.type === "server_hold_released").length;
      extended += events.filter((e) => e.fields.extended === true).length;
      downs += events.filter((e) => e.type === "server_down").length;
    });
    // The final tick is an hour later: no hold may still be running.
    assert.equal(h.snapshot().flapping, false, `seed ${seed}`);
  }
  // The generator must actually exercise the rules it claims to test.
  assert.ok(downs > SEEDS, `only ${downs} downs`);
  assert.ok(episodes > SEEDS / 4, `only ${episodes} flap episodes`);
  assert.ok(releases > SEEDS / 4, `only ${releases} releases`);
  assert.ok(extended > 0, "no hold was ever extended");
});

test("on random timelines the events do not depend on how often tick runs", () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rng = new Prng(seed * 7919);
    const o = randomOptions(rng);
    const inputs = randomInputs(rng, o.monitor !== undefined, false).filter((i) => i.kind !== "tick");
    const sparse = new ServerHealth(o, 0);
    const dense = new ServerHealth(o, 0);
    const fromSparse: HealthEvent[] = [];
    const fromDense: HealthEvent[] = [];
    let last = 0;
    for (const input of inputs) {
      fromSparse.push(...apply(sparse, input));
      for (let t = last; t < input.t; t += rng.range(1, 2000)) fromDense.push(...dense.tick(t));
      fromDense.push(...apply(dense, input));
      last = input.t;
    }
    fromSparse.push(...sparse.tick(last + 3_600_000));
    fromDense.push(...dense.tick(last + 3_600_000));
    assert.deepEqual(fromDense, fromSparse, `seed ${seed}`);
    assert.deepEqual(dense.snapshot(), sparse.snapshot(), `seed ${seed}`);
  }
});

/** A plain rise/fall counter: the checked state of a monitor with nothing else going on. */
function riseFall(m: Monitor, results: readonly boolean[]): ("up" | "down")[] {
  let state = m.initial;
  let run = 0;
  let runOk = true;
  return results.map((ok) => {
    run = ok === runOk ? run + 1 : 1;
    runOk = ok;
    if (state === "up" && !ok && run >= m.fall) state = "down";
    if (state === "down" && ok && run >= m.rise) state = "up";
    return state;
  });
}

test("without passive failures or flapping the checked state follows a plain rise/fall counter", () => {
  for (let seed = 1; seed <= SEEDS; seed++) {
    const rng = new Prng(seed * 104_729);
    const m = monitor({ rise: rng.range(1, 5), fall: rng.range(1, 5), initial: rng.pick(["up", "down"] as const) });
    const h = new ServerHealth({ service: "svc", server: "10.0.0.1:80", monitor: m, passive: { enabled: false, failures: 1, window: 1000 }, flap: { window: 1000, max_changes: 1000, hold: 1000, hold_max: 1000 } }, 0);
    const okChance = rng.pick([0.2, 0.5, 0.8]);
    const results = Array.from({ length: 200 }, () => rng.chance(okChance));
    const expected = riseFall(m, results);
    const seen = results.map((ok, i) => {
      h.probeResult(1000 * (i + 1), ok, ok ? "ok" : "timeout");
      return h.state;
    });
    assert.deepEqual(seen, expected, `seed ${seed}`);
  }
});
