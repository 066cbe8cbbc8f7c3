import type { TandemConfig } from "../config/resolve-config.ts";

/**
 * The `ip -batch` lines that give node `nodeName` the interfaces its config declares: each device
 * up with its MTU and address, and the default route through the interface that has a gateway.
 * On the appliance nothing else configures the network, so this is what makes a freshly booted
 * box reachable. `replace` keeps every line idempotent, so a supervisor may run it before every
 * start; addresses the config no longer lists are left alone (removing them could cut off an
 * operator's session), and a reboot clears them. Contract: pure; throws only when `nodeName` is
 * not a node of `config` (a caller bug: the name came from identifying the node in this config).
 */
export function planInterfaces(config: TandemConfig, nodeName: string): string[] {
  const node = config.node.find((n) => n.name === nodeName);
  if (!node) throw new Error(`Node "${nodeName}" is not in the config`);
  const lines: string[] = ["link set dev lo up"];
  const interfaces = Object.values(node.interfaces).sort((a, b) => a.device.localeCompare(b.device));
  for (const itf of interfaces) {
    lines.push(`link set dev ${itf.device} mtu ${itf.mtu} up`);
    lines.push(`address replace ${itf.address.address}/${itf.address.prefix} dev ${itf.device}`);
  }
  for (const itf of interfaces) {
    if (itf.gateway !== undefined) lines.push(`route replace default via ${itf.gateway} dev ${itf.device}`);
  }
  return lines;
}
