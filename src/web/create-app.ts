import { Hono } from "hono";
import type { DispatcherSnapshot } from "../engine/dispatcher-engine.ts";
import type { HaSnapshot } from "../engine/ha-engine.ts";

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
  for (const [name, text, pick] of counters) {
    help(name, "counter", text);
    for (const s of d.services) for (const r of s.servers) out.push(metricLine(name, { service: s.name, server: r.name }, pick(r)));
  }
  return out.join("\n") + "\n";
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
  app.get("/metrics", (c) => c.text(renderMetrics(state), 200, { "content-type": "text/plain; version=0.0.4" }));
  return app;
}
