import type { AlertEvent, AlertKind } from "../../../../src/core/alert/alert-event.ts";
import type { AlertConfig } from "../../../../src/core/alert/alert-router.ts";

/** 2026-01-01T00:00:00.000Z, the wall time of test events. */
export const T_WALL = Date.UTC(2026, 0, 1);

/** A server_down-style event of `kind` about `subject`, with optional fields. */
export function alertEvent(kind: AlertKind, subject = "http/10.201.0.11:80", fields: AlertEvent["fields"] = {}): AlertEvent {
  return { kind, subject, severity: kind.endsWith("_up") ? "info" : "error", message: `Event "${kind}" about "${subject}"`, timeMs: T_WALL, node: "a", fields };
}

/** A webhook alert on `on`, repeating every `everyMs` (0: once). */
export function webhookAlert(on: AlertKind[], everyMs = 0, overrides: Partial<{ url: string; timeout: number; retries: number }> = {}): AlertConfig {
  return { kind: "webhook", on, alert_every: everyMs, url: "http://192.0.2.10:9000/hook", timeout: 5000, retries: 5, ...overrides };
}

/** An exec alert on `on` running `command`. */
export function execAlert(on: AlertKind[], command = ["/usr/local/bin/page"], everyMs = 0, timeoutMs = 30_000): AlertConfig {
  return { kind: "exec", on, alert_every: everyMs, command, timeout: timeoutMs };
}

/** A log alert on `on`. */
export function logAlert(on: AlertKind[], everyMs = 0): AlertConfig {
  return { kind: "log", on, alert_every: everyMs };
}
