/**
 * Alert delivery: events in, webhooks, commands and log lines out, without ever holding up the
 * caller. `emit` routes the event (pure, `AlertRouter`) and appends the resulting payloads to one
 * bounded queue per alert; each queue is drained by its own loop, one delivery in flight at a
 * time so a receiver sees events in the order they happened. A webhook attempt that fails (no
 * answer within the alert's timeout, refused, or a non-2xx status) is retried with exponential
 * backoff; a queue that fills up while its receiver is dead drops its oldest waiting payloads and
 * counts them. The monitors, the heartbeat and the dispatcher only ever pay for `emit`: a route
 * and an array push.
 *
 * What is logged: an alert going from delivering to failing and back (transitions, not every
 * failed attempt), the first drop of a failing spell, and the `log` alerts' own lines.
 */

import pkg from "../../package.json" with { type: "json" };
import type { HttpRequest, HttpResult } from "../cli/platform.ts";
import { alertBackoffMs } from "../core/alert/alert-backoff.ts";
import { alertEnv } from "../core/alert/alert-env.ts";
import type { AlertEvent, AlertPayload } from "../core/alert/alert-event.ts";
import { alertIdentity, AlertRouter, type AlertConfig, type AlertDelivery } from "../core/alert/alert-router.ts";
import type { Cancel, Clock, Log, LogFields } from "../core/ports.ts";

/** User-Agent of webhook requests. */
export const ALERT_USER_AGENT = `tandem/${pkg.version}`;

/** Payloads waiting per alert (besides the one in flight) before the oldest is dropped. */
export const ALERT_QUEUE_CAPACITY = 1000;

/** A webhook request: `Platform.httpRequest`'s request plus headers. */
export interface AlertHttpRequest extends HttpRequest {
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Sends one webhook request; `Platform.httpRequest` has this shape. Contract: never rejects;
 * resolves within about `timeoutMs`.
 */
export type AlertHttp = (request: AlertHttpRequest) => Promise<HttpResult>;

/** One run of an exec alert's command. */
export interface AlertExecRequest {
  /** Program (a name on PATH or an absolute path) and arguments; no shell. */
  readonly argv: readonly string[];
  /** Variables added to the inherited environment. */
  readonly env: Readonly<Record<string, string>>;
  /** Written to the command's stdin, which is then closed. */
  readonly stdin: string;
  readonly timeoutMs: number;
}

/** How an exec alert's command ended. */
export type AlertExecResult =
  | { readonly kind: "exited"; readonly code: number; readonly stderr: string }
  | { readonly kind: "timeout" | "failed"; readonly detail: string };

/**
 * Runs an exec alert's command. Contract: never rejects (a command that cannot start is
 * "failed"); a command still running after `timeoutMs` is killed (its process group, by PID)
 * and the result is "timeout".
 */
export type AlertExec = (request: AlertExecRequest) => Promise<AlertExecResult>;

/** What `AlertEngine` needs. */
export interface AlertEngineOptions {
  readonly alerts: readonly AlertConfig[];
  readonly cluster: string;
  readonly clock: Clock;
  readonly log: Log;
  readonly http: AlertHttp;
  readonly exec: AlertExec;
  /** Default `ALERT_QUEUE_CAPACITY`. */
  readonly queueCapacity?: number;
  /** Source of backoff jitter in [0, 1); default Math.random. */
  readonly random?: () => number;
  /** Default `ALERT_USER_AGENT`. */
  readonly userAgent?: string;
}

/** Delivery figures of one alert, for the API and metrics. */
export interface AlertChannelSnapshot {
  /** Position in the config's `alert` list. */
  readonly index: number;
  readonly kind: AlertConfig["kind"];
  /** Where it goes, without secrets: a webhook's origin, an exec alert's program, or "log". */
  readonly target: string;
  readonly on: readonly string[];
  /** Payloads delivered (a webhook answered 2xx, a command exited 0, a line logged). */
  readonly sent: number;
  /** Payloads given up on after every attempt failed. */
  readonly failed: number;
  /** Attempts repeated after a failure. */
  readonly retried: number;
  /** Payloads dropped unsent because the queue was full. */
  readonly dropped: number;
  /** Payloads waiting or in flight. */
  readonly queued: number;
  /** Conditions open for `alert_every` repeats. */
  readonly openConditions: number;
  readonly lastError: string | null;
  /** Wall time of `lastError`. */
  readonly lastErrorAtMs: number | null;
}

class AlertChannel {
  readonly waiting: AlertPayload[] = [];
  inFlight = false;
  running = false;
  retired = false;
  failing = false;
  dropLogged = false;
  sent = 0;
  failed = 0;
  retried = 0;
  dropped = 0;
  lastError: string | null = null;
  lastErrorAtMs: number | null = null;
  cancelDelay: Cancel | undefined;
  wake: (() => void) | undefined;

  constructor(readonly config: AlertConfig, readonly identity: string, public index: number) {}

  /** Stops this channel: nothing more is sent; a pending backoff ends now. */
  retire(): void {
    this.retired = true;
    this.waiting.length = 0;
    this.cancelDelay?.();
    this.wake?.();
  }
}

function targetOf(config: AlertConfig): string {
  switch (config.kind) {
    case "webhook":
      // The path and query often hold a token (Slack, Teams); the API shows the origin only.
      try {
        return new URL(config.url).origin;
      } catch {
        return "webhook";
      }
    case "exec":
      return config.command[0]!;
    case "log":
      return "log";
  }
}

function describeHttp(result: HttpResult): string | undefined {
  if (result.kind !== "response") return `${result.kind}: ${result.detail}`;
  if (result.status >= 200 && result.status <= 299) return undefined;
  return `HTTP status ${result.status}: ${result.body.slice(0, 200).trim()}`;
}

function describeExec(result: AlertExecResult): string | undefined {
  if (result.kind !== "exited") return `${result.kind}: ${result.detail}`;
  if (result.code === 0) return undefined;
  return `exit status ${result.code}: ${result.stderr.slice(-200).trim()}`;
}

/**
 * Routes events to the configured alerts and delivers them. Contract: `emit` never throws, never
 * waits and does no I/O of its own; delivery happens later, in order per alert, one at a time.
 */
export class AlertEngine {
  private readonly router: AlertRouter;
  private readonly clock: Clock;
  private readonly log: Log;
  private readonly http: AlertHttp;
  private readonly exec: AlertExec;
  private readonly capacity: number;
  private readonly random: () => number;
  private readonly userAgent: string;
  private channels: AlertChannel[];
  private cancelTick: Cancel | undefined;
  private tickAtMs: number | undefined;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(options: AlertEngineOptions) {
    this.clock = options.clock;
    this.log = options.log.with({ component: "alert" });
    this.http = options.http;
    this.exec = options.exec;
    this.capacity = Math.max(1, options.queueCapacity ?? ALERT_QUEUE_CAPACITY);
    this.random = options.random ?? Math.random;
    this.userAgent = options.userAgent ?? ALERT_USER_AGENT;
    this.router = new AlertRouter(options.alerts, options.cluster);
    this.channels = options.alerts.map((config, index) => new AlertChannel(config, alertIdentity(config), index));
  }

  /** Routes `event` and queues its deliveries; returns at once. Never throws. Ignored after `stop`. */
  emit(event: AlertEvent): void {
    if (this.stopped) return;
    try {
      this.dispatch(this.router.route(event, this.clock.monotonicMs()));
      this.armTick();
    } catch (error) {
      this.log.error("Cannot route alert event", { event: String(event?.kind), error: String(error) });
    }
  }

  /**
   * Takes a new alert list (a reload). An unchanged entry keeps its queue, counters and open
   * conditions wherever it moved; a removed one stops at once (its in-flight attempt is abandoned).
   */
  reconfigure(alerts: readonly AlertConfig[], cluster: string): void {
    if (this.stopped) return;
    const old = new Map<string, AlertChannel[]>();
    for (const channel of this.channels) old.set(channel.identity, [...(old.get(channel.identity) ?? []), channel]);
    this.channels = alerts.map((config, index) => {
      const identity = alertIdentity(config);
      const kept = old.get(identity)?.shift();
      if (!kept) return new AlertChannel(config, identity, index);
      kept.index = index;
      return kept;
    });
    for (const left of old.values()) for (const channel of left) channel.retire();
    this.router.reconfigure(alerts, cluster);
    this.rearmTick();
    this.checkIdle();
  }

  /** Delivery figures per alert, in config order. */
  snapshot(): AlertChannelSnapshot[] {
    return this.channels.map((c) => ({
      index: c.index,
      kind: c.config.kind,
      target: targetOf(c.config),
      on: [...c.config.on],
      sent: c.sent,
      failed: c.failed,
      retried: c.retried,
      dropped: c.dropped,
      queued: c.waiting.length + (c.inFlight ? 1 : 0),
      openConditions: this.router.openConditions(c.index).length,
      lastError: c.lastError,
      lastErrorAtMs: c.lastErrorAtMs,
    }));
  }

  /** Resolves once no payload waits or is in flight (at once if none); also when stopped. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops repeats and deliveries: queued payloads are dropped, in-flight attempts abandoned. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelTick?.();
    this.cancelTick = undefined;
    for (const channel of this.channels) channel.retire();
    this.checkIdle();
  }

  private dispatch(deliveries: readonly AlertDelivery[]): void {
    for (const { alert, payload } of deliveries) {
      const channel = this.channels[alert];
      if (!channel) continue;
      if (channel.config.kind === "log") {
        this.deliverLog(channel, payload);
        continue;
      }
      if (channel.waiting.length >= this.capacity) {
        channel.waiting.shift();
        channel.dropped += 1;
        if (!channel.dropLogged) {
          channel.dropLogged = true;
          this.log.warn("Alert queue full: dropping the oldest payloads", this.channelFields(channel, { capacity: this.capacity }));
        }
      }
      channel.waiting.push(payload);
      this.start(channel);
    }
  }

  private start(channel: AlertChannel): void {
    if (channel.running) return;
    channel.running = true;
    // A microtask, so that the first attempt's setup (fetch, spawn) happens after emit returned.
    queueMicrotask(() => void this.drain(channel));
  }

  private async drain(channel: AlertChannel): Promise<void> {
    try {
      for (let payload = channel.waiting.shift(); payload && !channel.retired; payload = channel.waiting.shift()) {
        channel.inFlight = true;
        const error = await this.deliver(channel, payload);
        channel.inFlight = false;
        if (channel.retired) break;
        if (error === undefined) this.succeeded(channel);
        else this.gaveUp(channel, error);
      }
    } catch (error) {
      // Ports never reject by contract; if one does, the payload counts as failed and the queue
      // goes on rather than stalling for good.
      channel.failed += 1;
      this.noteError(channel, `crashed: ${String(error)}`);
      this.log.error("Alert delivery crashed", this.channelFields(channel, { error: String(error) }));
    } finally {
      channel.inFlight = false;
      channel.running = false;
      if (channel.waiting.length > 0 && !channel.retired) this.start(channel);
      this.checkIdle();
    }
  }

  /** Delivers one payload with its retries; resolves with the last error, undefined on success. */
  private async deliver(channel: AlertChannel, payload: AlertPayload): Promise<string | undefined> {
    const config = channel.config;
    if (config.kind === "exec") {
      const result = await this.exec({ argv: config.command, env: alertEnv(payload), stdin: JSON.stringify(payload), timeoutMs: config.timeout });
      return describeExec(result);
    }
    if (config.kind !== "webhook") return undefined;
    const request: AlertHttpRequest = {
      method: "POST",
      url: config.url,
      body: JSON.stringify(payload),
      timeoutMs: config.timeout,
      headers: { "content-type": "application/json", "user-agent": this.userAgent },
    };
    for (let attempt = 0; ; attempt++) {
      const error = describeHttp(await this.http(request));
      if (error === undefined || channel.retired || attempt >= config.retries) return error;
      channel.retried += 1;
      this.noteError(channel, error);
      await this.backoff(channel, alertBackoffMs(attempt, this.random()));
      if (channel.retired) return error;
    }
  }

  private backoff(channel: AlertChannel, delayMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        channel.cancelDelay = undefined;
        channel.wake = undefined;
        resolve();
      };
      channel.wake = done;
      channel.cancelDelay = this.clock.after(delayMs, done);
    });
  }

  private deliverLog(channel: AlertChannel, payload: AlertPayload): void {
    this.log[payload.severity](payload.message, {
      ...payload.fields,
      alert: channel.index,
      event: payload.kind,
      subject: payload.subject,
      node: payload.node,
      repeat: payload.repeat,
    });
    channel.sent += 1;
  }

  private succeeded(channel: AlertChannel): void {
    channel.sent += 1;
    if (!channel.failing) return;
    channel.failing = false;
    channel.dropLogged = false;
    this.log.info("Alert delivery recovered", this.channelFields(channel, { failed: channel.failed, dropped: channel.dropped }));
  }

  private gaveUp(channel: AlertChannel, error: string): void {
    channel.failed += 1;
    this.noteError(channel, error);
    if (channel.failing) return;
    channel.failing = true;
    this.log.warn("Alert delivery failing", this.channelFields(channel, { error }));
  }

  private noteError(channel: AlertChannel, error: string): void {
    channel.lastError = error;
    channel.lastErrorAtMs = this.clock.wallMs();
  }

  private channelFields(channel: AlertChannel, extra: LogFields): LogFields {
    return { alert: channel.index, kind: channel.config.kind, target: targetOf(channel.config), ...extra };
  }

  private armTick(): void {
    const dueMs = this.router.nextDueMs();
    if (dueMs === undefined || (this.tickAtMs !== undefined && this.tickAtMs <= dueMs)) return;
    this.cancelTick?.();
    this.tickAtMs = dueMs;
    this.cancelTick = this.clock.after(Math.max(0, dueMs - this.clock.monotonicMs()), () => this.onTick());
  }

  private rearmTick(): void {
    this.cancelTick?.();
    this.cancelTick = undefined;
    this.tickAtMs = undefined;
    this.armTick();
  }

  private onTick(): void {
    this.cancelTick = undefined;
    this.tickAtMs = undefined;
    if (this.stopped) return;
    try {
      this.dispatch(this.router.tick(this.clock.monotonicMs()));
    } catch (error) {
      this.log.error("Cannot send alert repeats", { error: String(error) });
    }
    this.armTick();
  }

  private isIdle(): boolean {
    return this.channels.every((c) => !c.running && c.waiting.length === 0);
  }

  private checkIdle(): void {
    if (this.idleWaiters.length === 0 || !(this.stopped || this.isIdle())) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
