import { alertForHealthEvent, alertsForHaEvent } from "../core/alert/alert-mapping.ts";
import type { HaEvent } from "../core/ha/ha-node-types.ts";
import type { HealthEvent } from "../core/health/server-health.ts";
import type { Clock } from "../core/ports.ts";
import type { AlertEngine } from "../engine/alert-engine.ts";
import type { ContentEvent } from "../engine/content-engine.ts";
import { recordEvent } from "../store/events.ts";
import type { OpenStore } from "./platform.ts";

/** Where a running node's engines report: one row in the store per event, and the alerts it raises. */
export interface NodeEvents {
  /** A heartbeat or sync event: store kind `ha_<type>`, subject the node. */
  ha(event: HaEvent): void;
  /** A server health event: store kind the event's type, subject "service/server". */
  health(event: HealthEvent): void;
  /** A content consistency event: store kind `content_mismatch`, subject "service/server". */
  content(event: ContentEvent): void;
}

/** Routes the engines' events of node `nodeName` to `store` and `alerts`. */
export function createNodeEvents(store: OpenStore, clock: Pick<Clock, "wallMs">, nodeName: string, alerts: Pick<AlertEngine, "emit">): NodeEvents {
  const record = (kind: string, subject: string, e: { severity: string; message: string; fields: object }, timeMs: number) =>
    recordEvent(store.db, { timeMs, kind, subject, detail: { severity: e.severity, message: e.message, ...e.fields } });
  return {
    ha(e) {
      const timeMs = clock.wallMs();
      record(`ha_${e.type.replaceAll("-", "_")}`, nodeName, e, timeMs);
      for (const alert of alertsForHaEvent(e, nodeName, timeMs)) alerts.emit(alert);
    },
    health(e) {
      const timeMs = clock.wallMs();
      record(e.type, `${String(e.fields.service)}/${String(e.fields.server)}`, e, timeMs);
      const alert = alertForHealthEvent(e, nodeName, timeMs);
      if (alert) alerts.emit(alert);
    },
    content(e) {
      const timeMs = clock.wallMs();
      const subject = `${e.service}/${e.server}`;
      record("content_mismatch", subject, e, timeMs);
      alerts.emit({ kind: "content_mismatch", subject, severity: e.severity, message: e.message, timeMs, node: nodeName, fields: e.fields });
    },
  };
}
