import { Hono } from "hono";
import type { DispatcherSnapshot } from "../engine/dispatcher-engine.ts";
import type { HaSnapshot } from "../engine/ha-engine.ts";
import type { SyncEngineSnapshot } from "../engine/sync-engine.ts";
import type { MonitorSnapshot } from "../engine/monitor-engine.ts";
import type { ContentStatus } from "../engine/content-engine.ts";
import type { AdaptiveServiceHistory } from "../engine/adaptive-engine.ts";
import type { AlertChannelSnapshot } from "../engine/alert-engine.ts";
import { SYNC_LAG_BUCKETS_MS } from "../core/sync/sync-lag.ts";

/** What the web app reads: the node's identity and live data-plane counters. */
export interface AppState {
  readonly node: string;
  readonly version: string;
  readonly configVersion: () => number;
  readonly startedAtMs: number;
  readonly nowMs: () => number;
  readonly dispatcher: () => DispatcherSnapshot | undefined;
  /** The heartbeat's state; undefined on a lone node. */
  readonly ha?: () => HaSnapshot | undefined;
  /** Connection-state sync; undefined on a lone node. */
  readonly sync?: () => SyncEngineSnapshot | undefined;
  /** Server health from the monitors. */
  readonly health?: () => (MonitorSnapshot & { readonly content: readonly ContentStatus[] }) | undefined;
  /** Weights and response times over time of the adaptive services (for the UI's charts). */
  readonly adaptive?: () => readonly AdaptiveServiceHistory[];
  /** Alert delivery figures. */
  readonly alerts?: () => readonly AlertChannelSnapshot[];
  /** A planned switchover; undefined on a lone node. */
  readonly command?: (command: "standby" | "takeover") => void;
}

function metricLine(name: string, labels: Record<string, string>, value: number): string {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",");
  return `${name}${l ? `{${l}}` : ""} ${value}`;
}

/** Renders the data plane's counters in the Prometheus text exposition format. */
export function renderMetrics(state: AppState): string {
  const out: string[] = [];
  const d = state.dispatcher();
  const sync = state.sync?.();
  const help = (name: string, type: string, text: string) => out.push(`# HELP ${name} ${text}`, `# TYPE ${name} ${type}`);
  help("tandem_up", "gauge", "1 while the node runs.");
  out.push(metricLine("tandem_up", { node: state.node }, 1));
  if (!d) return out.join("\n") + "\n";
  help("tandem_connections", "gauge", "Connections in the connection table.");
  out.push(metricLine("tandem_connections", {}, d.connections));
  help("tandem_connection_table_capacity", "gauge", "Capacity of the connection table.");
  out.push(metricLine("tandem_connection_table_capacity", {}, d.tableCapacity));
  help("tandem_drops_total", "counter", "Packets dropped, by reason.");
  for (const [reason, n] of Object.entries(d.drops)) out.push(metricLine("tandem_drops_total", { reason }, n));
  const counters: [string, string, (x: DispatcherSnapshot["services"][number]["servers"][number]) => number][] = [
    ["tandem_server_connections_total", "Connections scheduled to a server.", (x) => x.connections],
    ["tandem_server_packets_in_total", "Packets from clients to a server.", (x) => x.packetsIn],
    ["tandem_server_packets_out_total", "Packets from a server to clients.", (x) => x.packetsOut],
    ["tandem_server_bytes_in_total", "Bytes from clients to a server.", (x) => x.bytesIn],
    ["tandem_server_bytes_out_total", "Bytes from a server to clients.", (x) => x.bytesOut],
  ];
  counters.push(
    ["tandem_server_passive_failures_total", "Passive health failures (refused, timeouts, resets) of a server, from live traffic.", (x) => x.refused + x.timeouts + x.resets],
    ["tandem_server_response_seconds_sum", "Sum of measured response times (request to first response packet) of a server.", (x) => x.responseTimeSumMs / 1000],
    ["tandem_server_response_seconds_count", "Response times measured on a server.", (x) => x.responseTimes],
  );
  for (const [name, text, pick] of counters) {
    help(name, "counter", text);
    for (const s of d.services) for (const r of s.servers) out.push(metricLine(name, { service: s.name, server: r.name }, pick(r)));
  }
  if (sync) renderSyncMetrics(sync, out, help);
  const health = state.health?.();
  if (health) {
    help("tandem_server_up", "gauge", "1 while a server is up (monitors, passive health and flap damping agree), else 0.");
    for (const s of health.services) for (const r of s.servers) out.push(metricLine("tandem_server_up", { service: s.name, server: r.name }, r.up ? 1 : 0));
  }
  const alerts = state.alerts?.() ?? [];
  if (alerts.length > 0) {
    help("tandem_alerts_total", "counter", "Alert payloads by outcome: sent, failed (every attempt failed) or dropped (queue full).");
    for (const a of alerts) {
      for (const outcome of ["sent", "failed", "dropped"] as const) out.push(metricLine("tandem_alerts_total", { alert: String(a.index), kind: a.kind, outcome }, a[outcome]));
    }
  }
  return out.join("\n") + "\n";
}

/** Appends the connection-state sync metrics: synced flag, batches, drops, and the lag histogram. */
function renderSyncMetrics(sync: SyncEngineSnapshot, out: string[], help: (name: string, type: string, text: string) => void): void {
  help("tandem_sync_synced", "gauge", "1 while this standby's shadow connection table is complete.");
  out.push(metricLine("tandem_sync_synced", {}, sync.synced ? 1 : 0));
  help("tandem_sync_batches_total", "counter", "Sync batches sent and received.");
  out.push(metricLine("tandem_sync_batches_total", { direction: "sent" }, sync.sent.batches), metricLine("tandem_sync_batches_total", { direction: "received" }, sync.received.batches));
  help("tandem_sync_full_resyncs_total", "counter", "Full resyncs of the connection table, sent and completed on receipt.");
  out.push(metricLine("tandem_sync_full_resyncs_total", { direction: "sent" }, sync.fullResyncs.sent), metricLine("tandem_sync_full_resyncs_total", { direction: "received" }, sync.fullResyncs.received));
  help("tandem_sync_gaps_total", "counter", "Lost sync batches noticed by this receiver.");
  out.push(metricLine("tandem_sync_gaps_total", {}, sync.gaps));
  help("tandem_sync_drops_total", "counter", "Received sync frames dropped, by reason.");
  for (const [reason, n] of Object.entries(sync.drops)) out.push(metricLine("tandem_sync_drops_total", { reason }, n));
  help("tandem_sync_lag_seconds", "histogram", "Time from a connection's creation to its presence in the peer's table.");
  SYNC_LAG_BUCKETS_MS.forEach((le, i) => out.push(metricLine("tandem_sync_lag_seconds_bucket", { le: String(le / 1000) }, sync.lag.buckets[i]!)));
  out.push(metricLine("tandem_sync_lag_seconds_bucket", { le: "+Inf" }, sync.lag.samples));
  out.push(metricLine("tandem_sync_lag_seconds_sum", {}, sync.lag.sumMs / 1000), metricLine("tandem_sync_lag_seconds_count", {}, sync.lag.samples));
}

/** The HTTP app: JSON status API and Prometheus metrics (the UI arrives with its own issue). */
export function createApp(state: AppState): Hono {
  const app = new Hono();
  app.get("/api/v1/status", (c) =>
    c.json({
      node: state.node,
      version: state.version,
      configVersion: state.configVersion(),
      uptimeMs: state.nowMs() - state.startedAtMs,
      dispatcher: state.dispatcher() ?? null,
      ha: state.ha?.() ?? null,
      sync: state.sync?.() ?? null,
      health: state.health?.() ?? null,
      alerts: state.alerts?.() ?? [],
    }),
  );
  // A planned switchover: accepted (202) and carried out by the heartbeat; progress shows in
  // /api/v1/status and the events.
  for (const command of ["standby", "takeover"] as const) {
    app.post(`/api/v1/ha/${command}`, (c) => {
      if (!state.command) return c.json({ error: "This node has no peer: there is nothing to switch over to" }, 409);
      state.command(command);
      return c.json({ accepted: command, role: state.ha?.()?.role ?? null }, 202);
    });
  }
  app.get("/api/v1/adaptive", (c) => c.json({ services: state.adaptive?.() ?? [] }));
  app.get("/metrics", (c) => c.text(renderMetrics(state), 200, { "content-type": "text/plain; version=0.0.4" }));
  return app;
}
