/**
 * What the kernel must be told so that VIP traffic reaches the TUN device and server replies come
 * back to it, as plain data; `src/engine/host-plumbing.ts` applies and removes it.
 *
 * Path of a packet (nat): client → public device → route `VIP/32 dev tun` → dispatcher → written
 * to the TUN with dst = server → main table → private device → server; the reply (src = server,
 * dst = client) arrives on the private device, a policy rule `iif private from server ipproto P
 * sport PORT lookup T` sends it to table T (`default dev tun`) → dispatcher → written back with
 * src = VIP → main table → client. Packets the dispatcher writes enter with iif = tun, so the
 * `iif` selector keeps them from matching the rules again: a reply the dispatcher passes through
 * unchanged (no connection for it, such as a client talking to a server directly) leaves by the
 * main table instead of looping. Traffic to the node's own addresses (health probes' replies)
 * never reaches the rules: the local table (priority 0) matches first.
 *
 * ARP: VIPs and fullnat local addresses are not local addresses (local delivery would bypass the
 * TUN). A proxy neighbour entry makes the kernel answer ARP for them, which it does only when
 * forwarding is on and the route to the address leaves by another device (net/ipv4/arp.c,
 * arp_process): true while `ADDR/32 dev tun` exists, so a node whose tandem died (TUN gone) stops
 * answering ARP for its VIPs even before its leftovers are cleaned. `proxy_delay` must be 0: by
 * default the kernel delays proxied replies to broadcast requests by up to 0.8 s.
 */

import { inSubnet } from "../config/check-config.ts";
import type { TandemConfig } from "../config/resolve-config.ts";

/** One kernel parameter tandem sets, by its path under /proc/sys. */
export interface PlumbingSysctl {
  readonly name: string;
  readonly value: string;
  /** Skip it when the kernel lacks the parameter (IPv6 disabled at boot). */
  readonly optional: boolean;
}

/** A route into the TUN device; `table` is "main" or tandem's own table number. */
export interface PlumbingRoute {
  /** "A.B.C.D/32" or "default". */
  readonly destination: string;
  readonly device: string;
  readonly table: "main" | number;
}

/** A policy rule steering a real server's replies (or ICMP errors) into tandem's table. */
export interface PlumbingRule {
  readonly priority: number;
  /** Device the replies arrive on; never the TUN, so that what the dispatcher writes cannot loop. */
  readonly iif: string;
  /** "A.B.C.D/32": the real server. */
  readonly from: string;
  readonly protocol: "tcp" | "udp" | "icmp";
  /** The server's port; absent for ICMP. */
  readonly sourcePort?: number;
  readonly table: number;
}

/** A proxy neighbour entry: the node answers ARP for `address` on `device`. */
export interface ProxyNeighbour {
  readonly address: string;
  readonly device: string;
}

/** Everything one node sets up for the dispatcher; plain data, stable order, no duplicates. */
export interface HostPlumbing {
  readonly tun: { readonly name: string; readonly mtu: number };
  /** tandem's own routing table (`dispatcher.route_table`); every rule pointing at it is tandem's. */
  readonly routeTable: number;
  readonly sysctls: readonly PlumbingSysctl[];
  readonly routes: readonly PlumbingRoute[];
  readonly rules: readonly PlumbingRule[];
  readonly proxyNeighbours: readonly ProxyNeighbour[];
  /** Problems the plan works around or cannot solve, for the log; empty when all is well. */
  readonly warnings: readonly string[];
}

type Interface = TandemConfig["node"][number]["interfaces"][string];

/** The interface whose subnet holds `address`, longest prefix first; undefined when none does. */
function interfaceHolding(interfaces: readonly Interface[], address: string): Interface | undefined {
  let best: Interface | undefined;
  for (const itf of interfaces) {
    if (inSubnet(address, itf.address.address, itf.address.prefix) && (!best || itf.address.prefix > best.address.prefix)) best = itf;
  }
  return best;
}

/**
 * Plans the host plumbing of node `nodeName` for `config`: routes for every VIP and fullnat local
 * address into the TUN, proxy neighbours for them, rules steering nat servers' replies and ICMP
 * into `dispatcher.route_table`, and the sysctls forwarding needs. Contract: pure and
 * deterministic; throws only when `nodeName` is not a node of `config` (a caller bug, since the
 * node was identified from the same config). The TUN MTU is the largest interface MTU, so that
 * the TUN never lowers a path MTU: the egress device enforces its own and sends ICMP
 * fragmentation-needed from there.
 */
export function planHostPlumbing(config: TandemConfig, nodeName: string): HostPlumbing {
  const node = config.node.find((n) => n.name === nodeName);
  if (!node) throw new Error(`Node "${nodeName}" is not in the config`);
  const tun = config.dispatcher.tun;
  const table = config.dispatcher.route_table;
  const priority = config.dispatcher.rule_priority;
  const interfaces = Object.values(node.interfaces);
  const warnings: string[] = [];
  const routes = new Map<string, PlumbingRoute>();
  const neighbours = new Map<string, ProxyNeighbour>();
  const rules = new Map<string, PlumbingRule>();

  const steerIntoTun = (address: string, device: string) => {
    routes.set(`main ${address}`, { destination: `${address}/32`, device: tun, table: "main" });
    neighbours.set(`${address} ${device}`, { address, device });
  };
  for (const vip of config.vip) steerIntoTun(vip.address, node.interfaces[vip.interface]!.device);
  for (const service of config.service) {
    if (service.forwarding !== "fullnat") continue;
    for (const address of service.local_addresses ?? []) {
      // check-config guarantees every local address is on a subnet of every node.
      const itf = interfaceHolding(interfaces, address);
      if (itf) steerIntoTun(address, itf.device);
    }
  }
  const gatewayInterface = interfaces.find((i) => i.gateway !== undefined);
  for (const service of config.service) {
    if (service.forwarding !== "nat") continue;
    for (const server of service.servers) {
      // A server off every subnet replies through a router: through the default gateway's
      // interface, the only route tandem knows.
      const itf = interfaceHolding(interfaces, server.address) ?? gatewayInterface;
      if (!itf) {
        warnings.push(`Server "${server.address}" of service "${service.name}" is on no interface subnet of node "${node.name}" and no interface has a gateway: its replies cannot be steered into the dispatcher`);
        continue;
      }
      const from = `${server.address}/32`;
      const base = { priority, iif: itf.device, from, table };
      rules.set(`${itf.device} ${from} ${service.protocol} ${server.port}`, { ...base, protocol: service.protocol, sourcePort: server.port });
      // ICMP errors from the server (port unreachable, fragmentation needed) about a NATed flow.
      rules.set(`${itf.device} ${from} icmp`, { ...base, protocol: "icmp" });
    }
  }
  if (rules.size > 0) routes.set("table default", { destination: "default", device: tun, table });

  const sysctls: PlumbingSysctl[] = [
    { name: "net/ipv4/ip_forward", value: "1", optional: false },
    // The effective rp_filter is max(all, device): both must be 0 for packets the dispatcher
    // writes (src = client or local address, arriving on the TUN) to pass the reverse-path check.
    { name: "net/ipv4/conf/all/rp_filter", value: "0", optional: false },
    { name: `net/ipv4/conf/${tun}/rp_filter`, value: "0", optional: false },
    // Keeps IPv6 router solicitations and MLD reports out of an IPv4-only packet loop.
    { name: `net/ipv6/conf/${tun}/disable_ipv6`, value: "1", optional: true },
  ];
  const neighbourDevices = [...new Set([...neighbours.values()].map((n) => n.device))];
  for (const device of neighbourDevices) sysctls.push({ name: `net/ipv4/neigh/${device}/proxy_delay`, value: "0", optional: false });

  return {
    tun: { name: tun, mtu: Math.max(...interfaces.map((i) => i.mtu)) },
    routeTable: table,
    sysctls,
    routes: [...routes.values()],
    rules: [...rules.values()],
    proxyNeighbours: [...neighbours.values()],
    warnings,
  };
}

/** The `ip -batch` line that brings the TUN device up with its MTU. */
export function tunLinkLine(plan: HostPlumbing): string {
  return `link set dev ${plan.tun.name} mtu ${plan.tun.mtu} up`;
}

/** The `ip -batch` line adding or deleting `route`. */
export function routeLine(op: "add" | "del", route: PlumbingRoute): string {
  return `route ${op} ${route.destination} dev ${route.device} table ${route.table}`;
}

/** The `ip -batch` line adding or deleting `rule`. */
export function ruleLine(op: "add" | "del", rule: PlumbingRule): string {
  const port = rule.sourcePort === undefined ? "" : ` sport ${rule.sourcePort}`;
  return `rule ${op} priority ${rule.priority} iif ${rule.iif} from ${rule.from} ipproto ${rule.protocol}${port} table ${rule.table}`;
}

/** The `ip -batch` line adding or deleting a proxy neighbour entry. */
export function neighbourLine(op: "add" | "del", neighbour: ProxyNeighbour): string {
  return `neigh ${op} proxy ${neighbour.address} dev ${neighbour.device}`;
}
