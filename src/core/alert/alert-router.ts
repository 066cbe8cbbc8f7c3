/**
 * Alert routing, pure: which configured alerts an event goes to, and which open conditions are
 * due for an `alert_every` repeat. Time is passed in (monotonic ms); the engine owns timers,
 * queues and delivery.
 */

import type { TandemConfig } from "../config/resolve-config.ts";
import { alertCondition } from "./alert-condition.ts";
import { alertPayload, type AlertEvent, type AlertKind, type AlertPayload } from "./alert-event.ts";

/** One `[[alert]]` entry of the config. */
export type AlertConfig = TandemConfig["alert"][number];

/** Open conditions kept per alert; past it, the oldest stops repeating (its event was sent). */
export const MAX_OPEN_CONDITIONS = 10_000;

/** One payload for one alert (by its index in the config's `alert` list). */
export interface AlertDelivery {
  readonly alert: number;
  readonly payload: AlertPayload;
}

/** An open condition of one alert, for the API. */
export interface OpenCondition {
  readonly key: string;
  readonly kind: AlertKind;
  readonly subject: string;
  /** Repeats sent so far. */
  readonly repeats: number;
}

interface Condition {
  readonly event: AlertEvent;
  repeats: number;
  lastSentMs: number;
}

interface RoutedAlert {
  readonly config: AlertConfig;
  /** Identity across reloads: an unchanged entry keeps its open conditions. */
  readonly identity: string;
  readonly on: ReadonlySet<AlertKind>;
  /** Open conditions by key, oldest opened first. */
  readonly conditions: Map<string, Condition>;
}

/** The identity of an alert entry: equal for entries that are equal key by key. */
export function alertIdentity(config: AlertConfig): string {
  const record = config as Readonly<Record<string, unknown>>;
  return JSON.stringify(Object.keys(record).sort().map((key) => [key, record[key]]));
}

/**
 * Routes events to alerts and tracks the conditions `alert_every` repeats. Contract: `route` and
 * `tick` never throw; `nowMs` never decreases between calls; deliveries come out in alert order.
 */
export class AlertRouter {
  private alerts: RoutedAlert[] = [];

  constructor(alerts: readonly AlertConfig[], private cluster: string, private readonly maxConditions = MAX_OPEN_CONDITIONS) {
    this.reconfigure(alerts, cluster);
  }

  /**
   * Takes a new alert list (a reload). An entry equal to one of the old list keeps that entry's
   * open conditions and repeat schedule, wherever it moved in the list; the others start empty.
   */
  reconfigure(alerts: readonly AlertConfig[], cluster: string): void {
    const old = new Map<string, RoutedAlert[]>();
    for (const a of this.alerts) old.set(a.identity, [...(old.get(a.identity) ?? []), a]);
    this.cluster = cluster;
    this.alerts = alerts.map((config) => {
      const identity = alertIdentity(config);
      const kept = old.get(identity)?.shift();
      return { config, identity, on: new Set(config.on), conditions: kept?.conditions ?? new Map() };
    });
  }

  /** The payloads `event` sends now, and its effect on every alert's conditions. */
  route(event: AlertEvent, nowMs: number): AlertDelivery[] {
    const effect = alertCondition(event);
    const out: AlertDelivery[] = [];
    this.alerts.forEach((alert, index) => {
      // A closing event closes the condition even for alerts not subscribed to it: an alert on
      // server_down alone must still stop repeating once the server is up.
      for (const key of effect.closes) alert.conditions.delete(key);
      if (!alert.on.has(event.kind)) return;
      out.push({ alert: index, payload: alertPayload(event, this.cluster, 0) });
      if (effect.opens === undefined || alert.config.alert_every <= 0) return;
      alert.conditions.delete(effect.opens);
      alert.conditions.set(effect.opens, { event, repeats: 0, lastSentMs: nowMs });
      if (alert.conditions.size > this.maxConditions) alert.conditions.delete(alert.conditions.keys().next().value!);
    });
    return out;
  }

  /** The repeats due at `nowMs`: every open condition whose last send is `alert_every` old. */
  tick(nowMs: number): AlertDelivery[] {
    const out: AlertDelivery[] = [];
    this.alerts.forEach((alert, index) => {
      const everyMs = alert.config.alert_every;
      if (everyMs <= 0) return;
      for (const condition of alert.conditions.values()) {
        if (nowMs - condition.lastSentMs < everyMs) continue;
        condition.repeats += 1;
        // From now, not from the due time: a late tick sends one repeat, not a burst.
        condition.lastSentMs = nowMs;
        out.push({ alert: index, payload: alertPayload(condition.event, this.cluster, condition.repeats) });
      }
    });
    return out;
  }

  /** When the next repeat falls due (same clock as `nowMs`); undefined when nothing is open. */
  nextDueMs(): number | undefined {
    let due: number | undefined;
    for (const alert of this.alerts) {
      for (const condition of alert.conditions.values()) {
        const at = condition.lastSentMs + alert.config.alert_every;
        if (due === undefined || at < due) due = at;
      }
    }
    return due;
  }

  /** The open conditions of alert `index` (empty for an unknown index). */
  openConditions(index: number): OpenCondition[] {
    const alert = this.alerts[index];
    if (!alert) return [];
    return [...alert.conditions].map(([key, c]) => ({ key, kind: c.event.kind, subject: c.event.subject, repeats: c.repeats }));
  }
}
