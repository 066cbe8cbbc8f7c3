import { formatDurationMs } from "./duration.ts";
import type { TandemConfig } from "./resolve-config.ts";

function onOff(value: boolean): string {
  return value ? "on" : "off";
}

/**
 * A one-screen plain-text summary of what a config makes tandem do, for `tandem check --summary`,
 * the start-up log and the serial console. `nodeName` marks this host's node when known.
 */
export function describeConfig(config: TandemConfig, nodeName?: string): string[] {
  const hb = config.heartbeat;
  const lines: string[] = [];
  lines.push(`cluster "${config.cluster.name}", ${config.node.length === 1 ? "single node" : "pair"}`);
  for (const node of config.node) {
    const id = [node.mac && `MAC ${node.mac}`, node.hostname && `hostname ${node.hostname}`].filter(Boolean).join(", ");
    const itfs = Object.entries(node.interfaces).map(([role, i]) => `${role}=${i.device} ${i.address.address}/${i.address.prefix}`).join(", ");
    const me = node.name === nodeName ? " (this host)" : "";
    lines.push(`  node ${node.name}${me}: priority ${node.priority}${id ? `, ${id}` : ""}; ${itfs}`);
  }
  if (config.node.length > 1) {
    const links = hb.links.map((l) => (l.kind === "udp" ? `udp ${l.interface}:${l.port} ${l.mode}` : `serial ${l.device}@${l.baud}`)).join(", ");
    lines.push(
      `heartbeat: keepalive ${formatDurationMs(hb.keepalive)}, warntime ${formatDurationMs(hb.warntime)}, deadtime ${formatDurationMs(hb.deadtime)}, initdead ${formatDurationMs(hb.initdead)}; auto_failback ${onOff(hb.auto_failback)}`,
    );
    lines.push(`  links: ${links}`);
    if (hb.ping_nodes.length > 0) lines.push(`  witnesses: ${hb.ping_nodes.join(", ")}`);
  }
  for (const vip of config.vip) lines.push(`VIP ${vip.address}${vip.name ? ` (${vip.name})` : ""} on ${vip.interface}`);
  for (const s of config.service) {
    const servers = s.servers.map((r) => `${r.address}:${r.port} w${r.weight}${r.state === "active" ? "" : ` ${r.state}`}`).join(", ");
    const extras = [
      s.persistence > 0 ? `persistence ${formatDurationMs(s.persistence)}/${s.persistence_netmask}` : "",
      s.failsafe !== "off" ? `failsafe ${s.failsafe}` : "",
      s.forwarding === "fullnat" ? `local ${(s.local_addresses ?? []).join(",")}` : "",
    ].filter(Boolean);
    lines.push(`service ${s.name}: ${s.protocol} ${s.vipAddress}:${s.port} ${s.forwarding} ${s.scheduler}${extras.length ? ` (${extras.join(", ")})` : ""}`);
    lines.push(`  servers: ${servers}`);
    const m = s.monitor;
    if (m) lines.push(`  monitor: ${m.kind} every ${formatDurationMs(m.interval)}, timeout ${formatDurationMs(m.timeout)}, rise ${m.rise}, fall ${m.fall}`);
  }
  for (const a of config.alert) {
    const where = a.kind === "webhook" ? ` ${a.url}` : a.kind === "exec" ? ` ${a.command.join(" ")}` : "";
    lines.push(`alert ${a.kind}${where} on ${a.on.join(", ")}`);
  }
  lines.push(`web: http://${config.web.listen.address}:${config.web.listen.port}/ (metrics ${onOff(config.web.metrics)}); store: ${config.store.path}`);
  return lines;
}
