import type { TandemConfig } from "./resolve-config.ts";

/** What the serial console's status screen shows besides the config itself. */
export interface ConsoleFacts {
  readonly nodeName: string;
  readonly role: string;
  readonly version: string;
  readonly configVersion: number;
  readonly identifiedBy: string;
}

/**
 * The one-screen status an appliance prints on its serial console once it serves: node, role,
 * VIPs, services and where the web UI answers. An operator at the console has no other screen,
 * so the UI URL names a real address of this node (not 0.0.0.0). The last line,
 * `tandem ready: node=NAME`, is a stable sentinel for scripts and the VM tests.
 */
export function describeConsole(config: TandemConfig, facts: ConsoleFacts): string[] {
  const node = config.node.find((n) => n.name === facts.nodeName);
  const lines = [`==== tandem ${facts.nodeName} (${facts.role}) ====`];
  lines.push(`${facts.version}; config version ${facts.configVersion}; identified by ${facts.identifiedBy}`);
  for (const [role, itf] of Object.entries(node?.interfaces ?? {})) {
    lines.push(`  ${role.padEnd(10)} ${itf.device.padEnd(8)} ${itf.address.address}/${itf.address.prefix}${itf.gateway ? ` via ${itf.gateway}` : ""}`);
  }
  for (const vip of config.vip) lines.push(`VIP ${vip.address}${vip.name ? ` (${vip.name})` : ""} on ${vip.interface}`);
  for (const s of config.service) {
    lines.push(`service ${s.name}: ${s.protocol} ${s.vipAddress}:${s.port} ${s.forwarding} ${s.scheduler}, ${s.servers.length} server${s.servers.length === 1 ? "" : "s"}`);
  }
  const listen = config.web.listen;
  const wildcard = listen.address === "0.0.0.0";
  const first = node ? Object.values(node.interfaces)[0] : undefined;
  const host = wildcard ? (first?.address.address ?? "127.0.0.1") : listen.address;
  lines.push(`web UI and API: http://${host}:${listen.port}/`);
  lines.push("Press Enter for a rescue shell.");
  lines.push(`tandem ready: node=${facts.nodeName}`);
  return lines;
}
