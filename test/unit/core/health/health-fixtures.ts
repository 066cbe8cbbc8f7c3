import type { Monitor } from "../../../../src/core/config/resolve-config.ts";
import {
  ServerHealth,
  type FlapSettings,
  type HealthEvent,
  type PassiveSettings,
  type ServerHealthOptions,
} from "../../../../src/core/health/server-health.ts";

/** A ping monitor: 1 s interval, rise 2, fall 3, initially up; `over` replaces any key. */
export function monitor(over: Partial<Omit<Monitor, "kind">> = {}): Monitor {
  return { kind: "ping", interval: 1000, timeout: 500, rise: 2, fall: 3, initial: "up", jitter: 100, port: undefined, ...over };
}

/** Passive health: 3 failures within 10 s. */
export const PASSIVE: PassiveSettings = { enabled: true, failures: 3, window: 10_000 };

/** Flap damping: 4 changes within 60 s; holds of 30 s doubling up to 100 s. */
export const FLAP: FlapSettings = { window: 60_000, max_changes: 4, hold: 30_000, hold_max: 100_000 };

/** Options for a server "10.1.0.11:80" of service "http"; `over` replaces any key. */
export function options(over: Partial<ServerHealthOptions> = {}): ServerHealthOptions {
  return { service: "http", server: "10.1.0.11:80", monitor: monitor(), passive: PASSIVE, flap: FLAP, ...over };
}

/** A machine created at time 0. */
export function health(over: Partial<ServerHealthOptions> = {}, nowMs = 0): ServerHealth {
  return new ServerHealth(options(over), nowMs);
}

/** The types of `events`, in order. */
export function types(events: readonly HealthEvent[]): string[] {
  return events.map((e) => e.type);
}

/**
 * Drives a server with rise = fall = 1 through `count` checked-state changes, one probe per
 * `stepMs` starting at `fromMs`; returns every event and the time of the last probe.
 */
export function flip(h: ServerHealth, fromMs: number, count: number, stepMs = 1000): { events: HealthEvent[]; lastMs: number } {
  const events: HealthEvent[] = [];
  let t = fromMs;
  for (let i = 0; i < count; i++, t += stepMs) {
    events.push(...h.probeResult(t, h.state === "down", h.state === "down" ? "ok" : "connection refused"));
  }
  return { events, lastMs: t - stepMs };
}
