/**
 * The health of one real server as a pure state machine, mon-style: active probe results, passive
 * failures seen in live traffic, and flap damping. Time comes in as `nowMs` (a monotonic clock of
 * the caller's choosing) and nothing here keeps a timer; the engine runs the probes, calls `tick`
 * at `nextDeadlineMs`, and turns the returned events into store events, log lines, alerts and pool
 * changes.
 *
 * Two states are kept apart:
 * - the checked state (`state`): what probes and passive health say, changed only as described
 *   below;
 * - the effective state (`up`): the checked state, except that a server held down by flap damping
 *   is never up. Only effective transitions produce `server_down` and `server_up`, so a held
 *   server that goes down underneath raises no second alert.
 *
 * Rules:
 * - Start: checked state = `monitor.initial`; a server without an active monitor starts up.
 * - Probes: down after `fall` consecutive failures while up; up after `rise` consecutive successes
 *   while down. Probes keep counting while the server is held.
 * - Passive: a failure counts for `passive.window` ms after it happened (a failure exactly
 *   `window` old has left the window). `passive.failures` of them within the window take an up
 *   server down at once. When the server comes up again the count starts afresh, so failures seen
 *   while it was down (or before) cannot take it straight back down.
 * - Back up after a passive down: a server with an active monitor comes back only through `rise`
 *   consecutive probe successes counted from the passive down. A server without one comes back
 *   once `passive.window` has passed since its last passive failure (its window is empty): it has
 *   no other witness, and a down server gets no new connections to fail, so this is a retry. If it
 *   is still broken, live traffic takes it down again, and flap damping then backs the retries off.
 * - Flap damping: every change of the checked state is recorded for `flap.window` ms. When
 *   `flap.max_changes` are within the window, the server is flapping: it is held down for the
 *   current hold time and those changes are consumed (the next episode needs `max_changes` new
 *   ones). The first hold is `flap.hold`; each further episode doubles it, capped at
 *   `flap.hold_max`. Changes while held still count: a server that keeps flapping while held has
 *   its hold extended (from now) at the next, doubled hold time, like a route whose penalty keeps
 *   growing while suppressed (RFC 2439 section 4.2), so it is not let out between flaps.
 * - Release: at the end of the hold the effective state becomes the checked state again.
 * - Decay: once `max(flap.hold_max, flap.window)` has passed since the last hold ended without a
 *   new episode, the hold time falls back to `flap.hold`. `hold_max` alone would let a slow,
 *   steady flapper (fewer than `max_changes` per `hold_max` but enough per `window`) reset its
 *   penalty between episodes; the window bounds how long an episode can take to build up.
 *
 * Deadlines that fall between two inputs (hold expiry, a passive window running out) are applied
 * in time order at their own time, so the outcome does not depend on how often `tick` runs.
 * Time never goes backwards here: an earlier `nowMs` counts as the latest one seen.
 */

import { formatDurationMs } from "../config/duration.ts";
import type { Monitor, ResolvedService } from "../config/resolve-config.ts";

/** Passive health settings of a service (`service.passive`). */
export type PassiveSettings = ResolvedService["passive"];

/** Flap damping settings of a service (`service.flap`). */
export type FlapSettings = ResolvedService["flap"];

/** A checked or effective health state. */
export type HealthState = "up" | "down";

/** How a live connection to a server failed: refused (RST to SYN, ICMP unreachable), timed out, or reset instead of answered. */
export type PassiveFailureKind = "refused" | "timeout" | "reset";

/** Kinds of health events; `server_down`, `server_up` and `server_flapping` are also alert events. */
export type HealthEventType = "server_down" | "server_up" | "server_flapping" | "server_hold_released";

/** Severity of a health event, a subset of log levels. */
export type HealthEventSeverity = "info" | "warn" | "error";

/** Values a health event field may hold. */
export type HealthEventFields = Readonly<Record<string, string | number | boolean>>;

/** One health event for the store, the log and alerts: a transition, never a repeat. */
export interface HealthEvent {
  readonly type: HealthEventType;
  readonly severity: HealthEventSeverity;
  /** A sentence for people, values quoted. */
  readonly message: string;
  /** Always `service`, `server`, `up` (effective, after the event) and `state` (checked), plus per-type details. */
  readonly fields: HealthEventFields;
}

/** What a `ServerHealth` is built from; a `HealthTarget` of the health plan fits as it is. */
export interface ServerHealthOptions {
  /** Service name, for messages and fields. */
  readonly service: string;
  /** Server name as the rest of the code names it (`address:port`), for messages and fields. */
  readonly server: string;
  /** The server's effective monitor, or undefined: no probes, state from passive health only. */
  readonly monitor: Monitor | undefined;
  readonly passive: PassiveSettings;
  readonly flap: FlapSettings;
}

/** The last probe result. Times are in the caller's `nowMs` clock. */
export interface ProbeRecord {
  readonly ok: boolean;
  readonly detail: string;
  readonly atMs: number;
  readonly responseMs: number | undefined;
}

/** What made the checked state what it is. */
export type HealthCause = "initial" | "probe" | "passive" | "passive-quiet";

/** A plain-data view of one server's health for the API, as of the last input. */
export interface ServerHealthSnapshot {
  /** Effective: checked state up and not held down. */
  readonly up: boolean;
  /** Checked state (probes and passive health), tracked underneath a hold too. */
  readonly state: HealthState;
  readonly cause: HealthCause;
  /** Why the checked state is what it is, a phrase. */
  readonly reason: string;
  /** When the checked state last changed (or the machine was created). */
  readonly sinceMs: number;
  /** Whether an active monitor probes this server. */
  readonly monitored: boolean;
  readonly consecutiveSuccesses: number;
  readonly consecutiveFailures: number;
  readonly lastProbe: ProbeRecord | undefined;
  /** Passive failures within `passive.window` since the server last came up, counted up to `passive.failures`. */
  readonly passiveFailures: number;
  /** Whether the server is held down by flap damping. */
  readonly flapping: boolean;
  /** End of the current hold, or undefined when not held. */
  readonly heldUntilMs: number | undefined;
  /** Checked-state changes within `flap.window` not yet consumed by a flap episode. */
  readonly changesInWindow: number;
  /** Flap episodes in the current series (0: none recently); the last hold was `hold * 2^(level-1)` capped. */
  readonly holdLevel: number;
  /** Hold time the next flap episode would get. */
  readonly nextHoldMs: number;
  /** The time this snapshot is as of (the latest `nowMs` seen). */
  readonly nowMs: number;
}

// "1 passive failure", "3 passive failures".
function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

/**
 * Health of one server of a service. Contract: every input returns the events it caused, in
 * order, possibly none; `up` and `snapshot()` reflect the state after the last input. Events
 * `server_down`/`server_up` strictly alternate, starting from the initial `up`.
 */
export class ServerHealth {
  readonly #o: ServerHealthOptions;
  #nowMs: number;
  #state: HealthState;
  #cause: HealthCause = "initial";
  #reason: string;
  #sinceMs: number;
  #successes = 0;
  #failures = 0;
  #lastProbe: ProbeRecord | undefined;
  #passiveTimes: number[] = [];
  #lastPassiveMs: number | undefined;
  #changes: number[] = [];
  #heldUntilMs: number | undefined;
  #holdStartMs = 0;
  #holdLevel = 0;
  #lastHoldEndMs: number | undefined;
  /** The effective state last reported, so that only its transitions are. */
  #reportedUp: boolean;

  /** Creates the machine at `nowMs` in the monitor's initial state (up without a monitor); emits nothing. */
  constructor(options: ServerHealthOptions, nowMs: number) {
    this.#o = options;
    this.#nowMs = nowMs;
    this.#sinceMs = nowMs;
    this.#state = options.monitor?.initial ?? "up";
    this.#reason = options.monitor ? `initial state "${this.#state}" before the first probes` : "no active monitor";
    this.#reportedUp = this.#state === "up";
  }

  /** Effective health: the checked state is up and the server is not held down. */
  get up(): boolean {
    return this.#state === "up" && this.#heldUntilMs === undefined;
  }

  /** The checked state (probes and passive health), which a hold hides but does not stop. */
  get state(): HealthState {
    return this.#state;
  }

  /** Earliest time at which `tick` would change something (a hold ending, a passive window running out), or undefined. */
  get nextDeadlineMs(): number | undefined {
    const release = this.#heldUntilMs;
    const quiet = this.#quietDeadlineMs();
    if (release === undefined) return quiet;
    return quiet === undefined ? release : Math.min(release, quiet);
  }

  /**
   * Applies one probe result: `detail` says what happened ("HTTP 200", "connection refused"),
   * `responseMs` how long it took. Throws on a server without an active monitor (a caller bug).
   */
  probeResult(nowMs: number, ok: boolean, detail: string, responseMs?: number): HealthEvent[] {
    const monitor = this.#o.monitor;
    if (!monitor) throw new Error(`Cannot apply a probe result to server "${this.#o.server}" of service "${this.#o.service}": it has no active monitor`);
    const events: HealthEvent[] = [];
    this.#advance(nowMs, events);
    const now = this.#nowMs;
    this.#lastProbe = { ok, detail, atMs: now, responseMs };
    if (ok) {
      this.#successes++;
      this.#failures = 0;
      if (this.#state === "down" && this.#successes >= monitor.rise) {
        this.#change("up", "probe", count(this.#successes, "consecutive probe success", "consecutive probe successes"), events, { detail });
      }
    } else {
      this.#failures++;
      this.#successes = 0;
      if (this.#state === "up" && this.#failures >= monitor.fall) {
        this.#change("down", "probe", `${count(this.#failures, "consecutive probe failure", "consecutive probe failures")}, the last "${detail}"`, events, { detail });
      }
    }
    return events;
  }

  /** Records a failure seen in live traffic; ignored (but time still advances) when passive health is disabled. */
  passiveFailure(nowMs: number, kind: PassiveFailureKind): HealthEvent[] {
    const events: HealthEvent[] = [];
    this.#advance(nowMs, events);
    if (!this.#o.passive.enabled) return events;
    const now = this.#nowMs;
    this.#passiveTimes.push(now);
    // Only the newest `failures` can decide the threshold; the rest would only cost memory.
    if (this.#passiveTimes.length > this.#o.passive.failures) this.#passiveTimes.shift();
    this.#lastPassiveMs = now;
    const n = this.#passiveTimes.length;
    if (this.#state === "up" && n >= this.#o.passive.failures) {
      // Probe successes before a passive down do not vouch for the server afterwards.
      this.#successes = 0;
      const windowText = formatDurationMs(this.#o.passive.window);
      this.#change("down", "passive", `${count(n, "passive failure", "passive failures")} within ${windowText}, the last "${kind}"`, events, { kind });
    }
    return events;
  }

  /** Advances time to `nowMs`: ends a hold that expired and, without a monitor, ends a passive down whose window ran out. */
  tick(nowMs: number): HealthEvent[] {
    const events: HealthEvent[] = [];
    this.#advance(nowMs, events);
    return events;
  }

  /** A plain-data copy of the state as of the last input. */
  snapshot(): ServerHealthSnapshot {
    return {
      up: this.up,
      state: this.#state,
      cause: this.#cause,
      reason: this.#reason,
      sinceMs: this.#sinceMs,
      monitored: this.#o.monitor !== undefined,
      consecutiveSuccesses: this.#successes,
      consecutiveFailures: this.#failures,
      lastProbe: this.#lastProbe,
      passiveFailures: this.#passiveTimes.length,
      flapping: this.#heldUntilMs !== undefined,
      heldUntilMs: this.#heldUntilMs,
      changesInWindow: this.#changes.length,
      holdLevel: this.#holdLevel,
      nextHoldMs: this.#holdMs(this.#holdLevel),
      nowMs: this.#nowMs,
    };
  }

  // Moves the clock to nowMs, firing every deadline on the way at its own time.
  #advance(nowMs: number, events: HealthEvent[]): void {
    const target = Math.max(this.#nowMs, nowMs);
    for (let due = this.nextDeadlineMs; due !== undefined && due <= target; due = this.nextDeadlineMs) {
      this.#nowMs = Math.max(this.#nowMs, due);
      this.#prune();
      if (this.#heldUntilMs !== undefined && this.#heldUntilMs <= this.#nowMs) this.#release(events);
      else this.#passiveQuiet(events);
    }
    this.#nowMs = target;
    this.#prune();
    this.#decay();
  }

  // Drops passive failures and state changes that have left their windows.
  #prune(): void {
    const passiveFrom = this.#nowMs - this.#o.passive.window;
    while (this.#passiveTimes.length > 0 && this.#passiveTimes[0]! <= passiveFrom) this.#passiveTimes.shift();
    const flapFrom = this.#nowMs - this.#o.flap.window;
    while (this.#changes.length > 0 && this.#changes[0]! <= flapFrom) this.#changes.shift();
  }

  // After a quiet spell with no new episode, a later episode starts again at the first hold time.
  #decay(): void {
    if (this.#heldUntilMs !== undefined || this.#lastHoldEndMs === undefined) return;
    if (this.#nowMs - this.#lastHoldEndMs >= Math.max(this.#o.flap.hold_max, this.#o.flap.window)) {
      this.#holdLevel = 0;
      this.#lastHoldEndMs = undefined;
    }
  }

  // When a server without a monitor, taken down by passive health, gets its retry.
  #quietDeadlineMs(): number | undefined {
    if (this.#o.monitor || this.#state === "up" || this.#cause !== "passive" || this.#lastPassiveMs === undefined) return undefined;
    return this.#lastPassiveMs + this.#o.passive.window;
  }

  #passiveQuiet(events: HealthEvent[]): void {
    this.#change("up", "passive-quiet", `no passive failures for ${formatDurationMs(this.#o.passive.window)}`, events, {});
  }

  #holdMs(level: number): number {
    return Math.min(this.#o.flap.hold * 2 ** level, this.#o.flap.hold_max);
  }

  // Changes the checked state, records the change for flap damping, and reports what it did to the effective state.
  #change(to: HealthState, cause: HealthCause, reason: string, events: HealthEvent[], extra: HealthEventFields): void {
    this.#state = to;
    this.#cause = cause;
    this.#reason = reason;
    this.#sinceMs = this.#nowMs;
    if (to === "up") {
      this.#passiveTimes = [];
      this.#lastPassiveMs = undefined;
    }
    this.#changes.push(this.#nowMs);
    const episode = this.#changes.length >= this.#o.flap.max_changes ? this.#startHold() : undefined;
    this.#report(events, reason, { cause, ...extra });
    if (episode) events.push(this.#flappingEvent(episode));
  }

  #startHold(): { changes: number; holdMs: number; extended: boolean } {
    this.#decay();
    const changes = this.#changes.length;
    this.#changes = [];
    const holdMs = this.#holdMs(this.#holdLevel);
    this.#holdLevel++;
    const extended = this.#heldUntilMs !== undefined;
    if (!extended) this.#holdStartMs = this.#nowMs;
    this.#heldUntilMs = Math.max(this.#heldUntilMs ?? 0, this.#nowMs + holdMs);
    return { changes, holdMs, extended };
  }

  #release(events: HealthEvent[]): void {
    const heldMs = this.#heldUntilMs! - this.#holdStartMs;
    this.#lastHoldEndMs = this.#heldUntilMs;
    this.#heldUntilMs = undefined;
    const after = this.#state === "up" ? "its checks say it is up" : `it stays down: ${this.#reason}`;
    events.push(this.#event("server_hold_released", "info", `is no longer held down after ${formatDurationMs(heldMs)}; ${after}`, { heldMs, holdLevel: this.#holdLevel }));
    this.#report(events, `its flap hold-down of ${formatDurationMs(heldMs)} ended`, { cause: "hold-released" });
  }

  // Emits server_down or server_up when the effective state differs from the one last reported.
  #report(events: HealthEvent[], reason: string, extra: HealthEventFields): void {
    const up = this.up;
    if (up === this.#reportedUp) return;
    this.#reportedUp = up;
    const fields = {
      reason,
      ...extra,
      consecutiveSuccesses: this.#successes,
      consecutiveFailures: this.#failures,
      passiveFailures: this.#passiveTimes.length,
    };
    events.push(up ? this.#event("server_up", "info", `is up: ${reason}`, fields) : this.#event("server_down", "warn", `is down: ${reason}`, fields));
  }

  #flappingEvent(e: { changes: number; holdMs: number; extended: boolean }): HealthEvent {
    const flap = this.#o.flap;
    const what = `${e.changes} state changes within ${formatDurationMs(flap.window)}`;
    const hold = e.extended ? `hold-down extended by ${formatDurationMs(e.holdMs)}` : `held down for ${formatDurationMs(e.holdMs)}`;
    return this.#event("server_flapping", "warn", `is ${e.extended ? "still flapping" : "flapping"}: ${what}; ${hold} (hold level ${this.#holdLevel})`, {
      changes: e.changes,
      windowMs: flap.window,
      holdMs: e.holdMs,
      holdLevel: this.#holdLevel,
      extended: e.extended,
    });
  }

  #event(type: HealthEventType, severity: HealthEventSeverity, predicate: string, extra: HealthEventFields): HealthEvent {
    const { service, server } = this.#o;
    return {
      type,
      severity,
      message: `Server "${server}" of service "${service}" ${predicate}`,
      fields: { service, server, up: this.up, state: this.#state, ...extra },
    };
  }
}
