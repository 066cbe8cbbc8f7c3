/**
 * What an alert says: the event the engine emits (one per transition, never a repeat) and the
 * JSON payload every destination receives (the webhook body, an exec command's stdin).
 */

import type { ALERT_EVENTS } from "../config/schema.ts";

/** One of the event kinds alerts can subscribe to (`[[alert]] on`). */
export type AlertKind = (typeof ALERT_EVENTS)[number];

/** Severity of an alert event, a subset of log levels. */
export type AlertSeverity = "info" | "warn" | "error";

/** A value of an event field; what JSON, environment variables and log lines all carry. */
export type AlertFieldValue = string | number | boolean;

/** Version of the payload format, sent as `"tandem": 1`; it grows only on incompatible changes. */
export const ALERT_PAYLOAD_VERSION = 1;

/**
 * One event, as the engines emit it. `subject` names what it is about (a server as
 * "SERVICE/ADDRESS:PORT" such as "http/10.201.0.11:80", a heartbeat link, a node or a service);
 * with `kind` it also names the condition the event opens or closes (see `alertCondition`).
 */
export interface AlertEvent {
  readonly kind: AlertKind;
  readonly subject: string;
  readonly severity: AlertSeverity;
  /** A sentence for people, values quoted. */
  readonly message: string;
  /** When it happened, wall clock (ms since the Unix epoch). */
  readonly timeMs: number;
  /** The node that saw it (this node's name). */
  readonly node: string;
  /** Detail for programs; `resolved: true` closes a condition that has no closing kind of its own. */
  readonly fields: Readonly<Record<string, AlertFieldValue>>;
}

/** The JSON body of a webhook and the stdin of an exec command. */
export interface AlertPayload {
  readonly tandem: typeof ALERT_PAYLOAD_VERSION;
  readonly kind: AlertKind;
  readonly subject: string;
  readonly severity: AlertSeverity;
  readonly message: string;
  /** When the event happened, ISO 8601 UTC; a repeat carries its event's time. */
  readonly time: string;
  readonly node: string;
  readonly cluster: string;
  readonly fields: Readonly<Record<string, AlertFieldValue>>;
  /** 0 for the event itself, 1, 2, ... for the repeats sent every `alert_every` while it lasts. */
  readonly repeat: number;
}

/** Builds the payload of `event` for `cluster`; `repeat` is 0 for the event itself. */
export function alertPayload(event: AlertEvent, cluster: string, repeat: number): AlertPayload {
  return {
    tandem: ALERT_PAYLOAD_VERSION,
    kind: event.kind,
    subject: event.subject,
    severity: event.severity,
    message: event.message,
    time: isoTime(event.timeMs),
    node: event.node,
    cluster,
    fields: event.fields,
    repeat,
  };
}

function isoTime(timeMs: number): string {
  // An out-of-range time would make toISOString throw; an alert must still go out.
  const date = new Date(timeMs);
  return Number.isNaN(date.getTime()) ? new Date(0).toISOString() : date.toISOString();
}
