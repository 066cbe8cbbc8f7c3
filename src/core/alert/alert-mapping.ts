/**
 * Which alert, if any, an HA or health event raises: the engines speak in their own event types
 * ("role-change", "peer-dead", "server_down"), alerts subscribe to `ALERT_EVENTS` kinds. Pure.
 */
import type { HaEvent } from "../ha/ha-node-types.ts";
import type { HealthEvent } from "../health/server-health.ts";
import type { AlertEvent, AlertKind } from "./alert-event.ts";

/** The alerts an HA event raises, for node `node` at wall time `timeMs` (none for most events). */
export function alertsForHaEvent(event: HaEvent, node: string, timeMs: number): AlertEvent[] {
  const base = { severity: event.severity, message: event.message, timeMs, node, fields: event.fields };
  const one = (kind: AlertKind, subject = node): AlertEvent => ({ ...base, kind, subject });
  const peer = typeof event.fields.peer === "string" ? event.fields.peer : node;
  switch (event.type) {
    case "role-change": {
      const out: AlertEvent[] = [];
      if (event.fields.to === "active") {
        out.push(one("takeover"));
        // A takeover because the peer stopped answering is a failover; a planned one is not.
        if (/dead|initdead|no peer/i.test(String(event.fields.reason ?? ""))) out.push(one("failover"));
      }
      if (event.fields.from === "active") out.push(one("release"));
      return out;
    }
    case "peer-dead":
      return [one("peer_dead", peer)];
    case "peer-alive":
      return [one("peer_alive", peer)];
    case "link-down":
      return [one("link_down", `${node}/link${String(event.fields.link ?? "")}`)];
    case "link-up":
      return [one("link_up", `${node}/link${String(event.fields.link ?? "")}`)];
    case "split-brain":
      return [one("split_brain")];
    case "sync-lag":
      return [one("sync_lag", peer)];
    default:
      return [];
  }
}

/** The alert a health event raises: server_down, server_up and server_flapping, subject "service/server". */
export function alertForHealthEvent(event: HealthEvent, node: string, timeMs: number): AlertEvent | undefined {
  const kind: AlertKind | undefined = event.type === "server_hold_released" ? undefined : event.type;
  if (kind === undefined) return undefined;
  return { kind, subject: `${String(event.fields.service)}/${String(event.fields.server)}`, severity: event.severity, message: event.message, timeMs, node, fields: event.fields };
}
