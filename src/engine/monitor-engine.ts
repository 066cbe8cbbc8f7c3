/**
 * Server monitoring on the main thread: probes every server of every service on its monitor's
 * schedule (first probes spread over one interval, then interval plus jitter), feeds the results
 * and the packet Worker's passive-health counters (refused, unanswered SYNs, resets before any
 * data) to one `ServerHealth` machine per server, and applies each change of a server's effective
 * state to the dispatcher's pool at once. Runs on the standby too, so its view is warm at takeover.
 *
 * Probes run concurrently and never block each other or the heartbeat: each is a promise that
 * resolves by its timeout, and a server has at most one probe in flight.
 */

import type { TandemConfig } from "../core/config/resolve-config.ts";
import { healthPlan, type HealthTarget } from "../core/health/health-plan.ts";
import { initialProbeDelayMs, nextProbeDelayMs } from "../core/health/probe-schedule.ts";
import type { ProbeResult, ProbeTarget } from "../core/health/probe-types.ts";
import { ServerHealth, type HealthEvent, type PassiveFailureKind, type ServerHealthSnapshot } from "../core/health/server-health.ts";
import type { Clock, Log } from "../core/ports.ts";
import { TimerSet } from "./timer-set.ts";
import type { DispatcherSnapshot } from "./dispatcher-engine.ts";

/** What the monitors need from the data plane. */
export interface MonitorDataPlane {
  setUp(service: number, server: number, up: boolean): void;
  snapshot(): DispatcherSnapshot;
}

/** Options of `MonitorEngine.start`. */
export interface MonitorEngineOptions {
  readonly config: TandemConfig;
  readonly clock: Clock;
  readonly log: Log;
  /** One probe of one server; resolves by the monitor's timeout and never rejects (see `runProbe`). */
  readonly probe: (target: ProbeTarget) => Promise<ProbeResult>;
  /** Uniform in [0, 1), for jitter. */
  readonly random: () => number;
  readonly dataPlane: MonitorDataPlane | undefined;
  /** A health event for the store and the alerts (the engine logs it). */
  readonly onEvent: (event: HealthEvent) => void;
  /** A probe's response time, for the adaptive scheduler. */
  readonly onProbe?: (service: number, server: number, result: ProbeResult) => void;
}

/** One server's health for the API. */
export interface MonitoredServer extends ServerHealthSnapshot {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  readonly admin: string;
  readonly kind: string | null;
}

/** Health of every server, per service, for the API. */
export interface MonitorSnapshot {
  readonly services: readonly { readonly name: string; readonly servers: readonly MonitoredServer[] }[];
}

/** How often passive counters are read and hold deadlines looked at. */
const SWEEP_MS = 250;
/** Passive failures fed per server per sweep at most (a flood is as good as the threshold). */
const MAX_PASSIVE_PER_SWEEP = 1000;

interface Watched {
  readonly target: HealthTarget;
  readonly health: ServerHealth;
  /** The up state last given to the dispatcher. */
  applied: boolean;
  inFlight: boolean;
  /** Passive counters already fed: refused, timeouts, resets. */
  readonly seen: [number, number, number];
}

/** Running monitors; see the file comment. */
export class MonitorEngine {
  private watched: Watched[];
  private timers: TimerSet;
  private config: TandemConfig;

  private constructor(private readonly options: MonitorEngineOptions) {
    this.timers = new TimerSet(options.clock);
    this.config = options.config;
    const now = options.clock.monotonicMs();
    const counters = passiveCounters(options.dataPlane?.snapshot());
    this.watched = healthPlan(options.config).map((target) => ({
      target,
      health: new ServerHealth(target, now),
      applied: target.monitor === undefined || target.monitor.initial === "up",
      inFlight: false,
      seen: counters.get(`${target.serviceIndex}/${target.serverIndex}`) ?? [0, 0, 0],
    }));
  }

  /** Starts the schedules. */
  static start(options: MonitorEngineOptions): MonitorEngine {
    const engine = new MonitorEngine(options);
    engine.schedule();
    return engine;
  }

  /**
   * Applies the monitor, passive and flap settings of a reloaded config whose services and servers
   * are the same (the data plane needed no restart). A server whose settings did not change keeps
   * its machine as it is; one whose settings changed gets a new machine that starts in the state
   * the old one had, so a reload never brings a dead server back nor takes a live one out.
   */
  reload(config: TandemConfig): void {
    const now = this.options.clock.monotonicMs();
    const old = new Map(this.watched.map((w) => [`${w.target.service}|${w.target.server}`, w]));
    this.timers.stop();
    this.timers = new TimerSet(this.options.clock);
    this.config = config;
    this.watched = healthPlan(config).map((target) => {
      const before = old.get(`${target.service}|${target.server}`);
      if (before && sameSettings(before.target, target)) return { ...before, target, inFlight: false };
      const state = before?.health.state ?? (target.monitor?.initial ?? "up");
      const seeded = target.monitor ? { ...target, monitor: { ...target.monitor, initial: state } } : target;
      return { target, health: new ServerHealth(seeded, now), applied: before?.applied ?? state === "up", inFlight: false, seen: before?.seen ?? [0, 0, 0] };
    });
    this.schedule();
  }

  /** Probe chains (first probes spread over one interval), the sweep, and the pool's initial state. */
  private schedule(): void {
    const byService = new Map<number, Watched[]>();
    for (const w of this.watched) if (w.target.monitor) byService.set(w.target.serviceIndex, [...(byService.get(w.target.serviceIndex) ?? []), w]);
    const timers = this.timers;
    for (const group of byService.values()) {
      group.forEach((w, i) => timers.later(initialProbeDelayMs(w.target.monitor!, i, group.length, this.options.random), () => this.probe(w, timers)));
    }
    // The machines' state must reach the pool even before any probe: e.g. initial = "down".
    for (const w of this.watched) this.apply(w);
    const sweep = () => {
      this.sweep();
      timers.later(SWEEP_MS, sweep);
    };
    timers.later(SWEEP_MS, sweep);
  }

  /** Every server's health, per service. */
  snapshot(): MonitorSnapshot {
    return {
      services: this.config.service.map((service, si) => ({
        name: service.name,
        servers: this.watched
          .filter((w) => w.target.serviceIndex === si)
          .map((w) => ({ name: w.target.server, address: w.target.address, port: w.target.port, admin: w.target.admin, kind: w.target.monitor?.kind ?? null, ...w.health.snapshot() })),
      })),
    };
  }

  /** Stops every schedule; probes in flight finish unobserved. */
  stop(): void {
    this.timers.stop();
  }

  /** One probe of `w`, then the next one on `timers` (a reload stops them, ending this chain). */
  private probe(w: Watched, timers: TimerSet): void {
    const monitor = w.target.monitor!;
    const startMs = this.options.clock.monotonicMs();
    // The next probe is due an interval (plus jitter) after this one started, not after it ended.
    const next = () => timers.later(Math.max(0, startMs + nextProbeDelayMs(monitor, this.options.random) - this.options.clock.monotonicMs()), () => this.probe(w, timers));
    if (w.inFlight) return next();
    w.inFlight = true;
    void this.options
      .probe({ service: w.target.service, address: w.target.address, port: w.target.port, monitor })
      .catch((error: unknown): ProbeResult => ({ ok: false, ms: this.options.clock.monotonicMs() - startMs, detail: `probe failed: ${(error as Error).message}` }))
      .then((result) => {
        w.inFlight = false;
        if (timers.isStopped) return;
        this.handle(w, w.health.probeResult(this.options.clock.monotonicMs(), result.ok, result.detail, result.ms));
        if (result.ok) this.options.onProbe?.(w.target.serviceIndex, w.target.serverIndex, result);
        next();
      });
  }

  /** Passive counters and hold deadlines. */
  private sweep(): void {
    const now = this.options.clock.monotonicMs();
    const counters = passiveCounters(this.options.dataPlane?.snapshot());
    for (const w of this.watched) {
      if (w.target.passive.enabled) {
        const c = counters.get(`${w.target.serviceIndex}/${w.target.serverIndex}`);
        if (c !== undefined) {
          PASSIVE_KINDS.forEach((kind, k) => {
            const delta = Math.min(MAX_PASSIVE_PER_SWEEP, c[k]! - w.seen[k]!);
            w.seen[k] = c[k]!;
            for (let n = 0; n < delta; n++) this.handle(w, w.health.passiveFailure(now, kind));
          });
        }
      }
      this.handle(w, w.health.tick(now));
    }
  }

  private handle(w: Watched, events: readonly HealthEvent[]): void {
    for (const event of events) {
      this.options.log[event.severity === "error" ? "error" : event.severity === "warn" ? "warn" : "info"](event.message, { event: event.type, ...event.fields });
      this.options.onEvent(event);
    }
    this.apply(w);
  }

  /** Gives the dispatcher the server's effective state when it changed. */
  private apply(w: Watched): void {
    const up = w.health.up;
    if (up === w.applied) return;
    w.applied = up;
    this.options.dataPlane?.setUp(w.target.serviceIndex, w.target.serverIndex, up);
  }
}

const PASSIVE_KINDS: readonly PassiveFailureKind[] = ["refused", "timeout", "reset"];

/** Per "service/server" index: the refused, timeouts and resets counters. */
function passiveCounters(snapshot: DispatcherSnapshot | undefined): Map<string, [number, number, number]> {
  const out = new Map<string, [number, number, number]>();
  snapshot?.services.forEach((s, si) => s.servers.forEach((r, ri) => out.set(`${si}/${ri}`, [r.refused, r.timeouts, r.resets])));
  return out;
}

/** Whether a server's monitor, passive and flap settings are the same in two plans. */
function sameSettings(a: HealthTarget, b: HealthTarget): boolean {
  return JSON.stringify([a.monitor, a.passive, a.flap, a.port]) === JSON.stringify([b.monitor, b.passive, b.flap, b.port]);
}
