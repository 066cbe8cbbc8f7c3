import ipaddr from "ipaddr.js";
import { formatDurationMs } from "./duration.ts";
import type { IssueList, KeyPath } from "./issues.ts";
import { monitorField, monitorOverrideShape, type DecodedConfig } from "./schema.ts";
import { suggestion } from "./suggest.ts";

type Node = DecodedConfig["node"][number];
type Service = DecodedConfig["service"][number];

/**
 * True when `key` was not written at all. A key that was written but rejected decodes to
 * undefined while staying in its table; it has been reported already, so "missing" checks skip it.
 */
function absent(table: object | undefined, key: string): boolean {
  return table !== undefined && !(key in table);
}

/** True when `address` lies inside `network/prefix`. */
export function inSubnet(address: string, network: string, prefix: number): boolean {
  try {
    return ipaddr.IPv4.parse(address).match(ipaddr.IPv4.parse(network), prefix);
  } catch {
    return false;
  }
}

/** Reports the second and later occurrences of each key produced by `keyOf` (undefined keys skipped). */
function checkUnique<T>(
  items: readonly (T | undefined)[] | undefined,
  keyOf: (item: T) => string | undefined,
  pathOf: (index: number) => KeyPath,
  message: (key: string, firstIndex: number) => string,
  issues: IssueList,
): void {
  const seen = new Map<string, number>();
  (items ?? []).forEach((item, i) => {
    if (item === undefined) return;
    const key = keyOf(item);
    if (key === undefined) return;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else issues.value(pathOf(i), message(key, first));
  });
}

function checkNodes(config: DecodedConfig, issues: IssueList): void {
  const nodes = (config.node ?? []).filter((n): n is Node => n !== undefined);
  checkUnique(config.node, (n) => n.name, (i) => ["node", i, "name"], (k, f) => `Duplicate node name "${k}": node[${f}] has it already`, issues);
  checkUnique(config.node, (n) => n.mac, (i) => ["node", i, "mac"], (k, f) => `Duplicate MAC "${k}": node[${f}] has it already`, issues);
  checkUnique(config.node, (n) => n.hostname, (i) => ["node", i, "hostname"], (k, f) => `Duplicate hostname "${k}": node[${f}] has it already`, issues);
  if (nodes.length > 1) {
    config.node.forEach((n, i) => {
      if (n && absent(n, "mac") && absent(n, "hostname")) {
        issues.table(["node", i, "mac"], `Missing "mac" or "hostname": with two nodes each host must be able to recognise its own entry`);
      }
    });
    if (absent(config.cluster, "auth_key_file")) {
      issues.table(["cluster", "auth_key_file"], "Missing required key \"auth_key_file\": a pair must authenticate its heartbeats");
    }
  }
  const roles = new Set(nodes.flatMap((n) => Object.keys(n.interfaces ?? {})));
  const addresses = new Map<string, string>();
  config.node.forEach((n, i) => {
    if (!n?.interfaces) return;
    for (const role of roles) {
      if (!(role in n.interfaces)) issues.table(["node", i, "interfaces", role], `Missing interface "${role}": every node declares the same interface roles`);
    }
    let gateways = 0;
    for (const [role, itf] of Object.entries(n.interfaces)) {
      if (!itf?.address) continue;
      const where = `node "${n.name}" interface "${role}"`;
      const other = addresses.get(itf.address.address);
      if (other) issues.value(["node", i, "interfaces", role, "address"], `Duplicate address "${itf.address.address}": ${other} has it already`);
      else addresses.set(itf.address.address, where);
      if (itf.gateway !== undefined) {
        gateways++;
        if (gateways > 1) issues.value(["node", i, "interfaces", role, "gateway"], "A second default gateway: only one interface per node may have a gateway");
        if (!inSubnet(itf.gateway, itf.address.address, itf.address.prefix)) {
          issues.value(["node", i, "interfaces", role, "gateway"], `Gateway "${itf.gateway}" is outside ${itf.address.address}/${itf.address.prefix}: it must be on the interface's subnet`);
        }
      }
    }
  });
}

/** The interface roles the nodes declare (from the first node that has any). */
function declaredRoles(config: DecodedConfig): string[] {
  const first = (config.node ?? []).find((n) => n?.interfaces && Object.keys(n.interfaces).length > 0);
  return first ? Object.keys(first.interfaces) : [];
}

function checkRole(role: string | undefined, roles: readonly string[], path: KeyPath, issues: IssueList): void {
  if (role === undefined || roles.length === 0 || roles.includes(role)) return;
  issues.value(path, `Unknown interface "${role}": ${suggestion(role, roles)}`);
}

function checkHeartbeat(config: DecodedConfig, roles: readonly string[], issues: IssueList): void {
  const hb = config.heartbeat;
  if (!hb) return;
  const { keepalive, deadtime, warntime, initdead } = hb;
  if (keepalive !== undefined && deadtime !== undefined && deadtime <= keepalive) {
    issues.value(["heartbeat", "deadtime"], `Deadtime ${formatDurationMs(deadtime)} must be greater than keepalive ${formatDurationMs(keepalive)}`);
  }
  if (warntime !== undefined && keepalive !== undefined && warntime <= keepalive) {
    issues.value(["heartbeat", "warntime"], `Warntime ${formatDurationMs(warntime)} must be greater than keepalive ${formatDurationMs(keepalive)}`);
  }
  if (warntime !== undefined && deadtime !== undefined && warntime >= deadtime) {
    issues.value(["heartbeat", "warntime"], `Warntime ${formatDurationMs(warntime)} must be less than deadtime ${formatDurationMs(deadtime)}`);
  }
  if (initdead !== undefined && deadtime !== undefined && initdead < deadtime) {
    issues.value(["heartbeat", "initdead"], `Initdead ${formatDurationMs(initdead)} must be at least deadtime ${formatDurationMs(deadtime)}`);
  }
  if ((config.node ?? []).length > 1 && hb.links !== undefined && hb.links.length === 0) {
    issues.table(["heartbeat", "links"], 'Missing key "links": a pair needs at least one heartbeat link');
  }
  checkUnique(
    hb.links,
    (l) => (l.kind === "udp" ? `udp ${l.interface}:${l.port}` : `serial ${l.device}`),
    (i) => ["heartbeat", "links", i],
    (k, f) => `Duplicate link "${k}": links[${f}] is the same link`,
    issues,
  );
  (hb.links ?? []).forEach((link, i) => {
    if (link?.kind !== "udp") return;
    checkRole(link.interface, roles, ["heartbeat", "links", i, "interface"], issues);
    if (link.mode === "multicast" && absent(link, "group")) {
      issues.table(["heartbeat", "links", i, "group"], 'Missing key "group": mode "multicast" needs a multicast group');
    }
    if (link.group !== undefined && link.mode !== "multicast") {
      issues.value(["heartbeat", "links", i, "group"], `A group is only used with mode "multicast", not "${link.mode}"`);
    }
    if (link.group !== undefined && !inSubnet(link.group, "224.0.0.0", 4)) {
      issues.value(["heartbeat", "links", i, "group"], `Invalid multicast group "${link.group}": expected an address in 224.0.0.0/4`);
    }
  });
  checkRole(config.sync?.interface, roles, ["sync", "interface"], issues);
  const links = hb.links ?? [];
  // With no links at all, the missing link is the one error worth reporting.
  if (absent(config.sync, "interface") && links.length > 0 && !links.some((l) => l?.kind === "udp")) {
    if ((config.node ?? []).length > 1) issues.table(["sync", "interface"], 'Missing key "interface": with no udp heartbeat link the sync stream needs an interface');
  }
  const d = config.dispatcher;
  if (d && d.local_port_min !== undefined && d.local_port_max !== undefined && d.local_port_min > d.local_port_max) {
    issues.value(["dispatcher", "local_port_max"], `local_port_max ${d.local_port_max} is below local_port_min ${d.local_port_min}`);
  }
}

function nodeAddresses(config: DecodedConfig): Set<string> {
  const out = new Set<string>();
  for (const n of config.node ?? []) for (const itf of Object.values(n?.interfaces ?? {})) if (itf?.address) out.add(itf.address.address);
  return out;
}

function checkVips(config: DecodedConfig, roles: readonly string[], issues: IssueList): void {
  checkUnique(config.vip, (v) => v.address, (i) => ["vip", i, "address"], (k, f) => `Duplicate VIP "${k}": vip[${f}] has it already`, issues);
  checkUnique(config.vip, (v) => v.name, (i) => ["vip", i, "name"], (k, f) => `Duplicate VIP name "${k}": vip[${f}] has it already`, issues);
  const own = nodeAddresses(config);
  (config.vip ?? []).forEach((vip, i) => {
    if (!vip) return;
    checkRole(vip.interface, roles, ["vip", i, "interface"], issues);
    if (vip.address !== undefined && own.has(vip.address)) {
      issues.value(["vip", i, "address"], `VIP "${vip.address}" is also a node's own address: a VIP must be an address of its own`);
    }
    for (const n of config.node ?? []) {
      const itf = n?.interfaces?.[vip.interface];
      if (!itf?.address || vip.address === undefined) continue;
      if (!inSubnet(vip.address, itf.address.address, itf.address.prefix)) {
        issues.value(["vip", i, "address"], `VIP "${vip.address}" is outside interface "${vip.interface}" of node "${n.name}" (${itf.address.address}/${itf.address.prefix}): gratuitous ARP can only move an on-link address`);
        break;
      }
    }
  });
}

/** Finds the VIP a service refers to, by name or by address. */
export function findVip(config: DecodedConfig, ref: string): DecodedConfig["vip"][number] | undefined {
  return (config.vip ?? []).find((v) => v && (v.name === ref || v.address === ref));
}

function checkServiceMonitor(service: Service, i: number, issues: IssueList): void {
  const monitor = service.monitor;
  if (!monitor) return;
  if (monitor.timeout !== undefined && monitor.interval !== undefined && monitor.timeout >= monitor.interval) {
    issues.value(["service", i, "monitor", "timeout"], `Timeout ${formatDurationMs(monitor.timeout)} must be less than interval ${formatDurationMs(monitor.interval)}`);
  }
  if (service.protocol === "udp" && ["http", "https", "tcp"].includes(monitor.kind) && absent(monitor, "port")) {
    issues.table(["service", i, "monitor", "port"], `Missing key "port": monitor kind "${monitor.kind}" probes TCP but the service is UDP`);
  }
  if (monitor.kind === "http" || monitor.kind === "https") checkRegex(monitor.expect_body, ["service", i, "monitor", "expect_body"], issues);
  if (monitor.kind === "tcp") checkRegex(monitor.expect, ["service", i, "monitor", "expect"], issues);
  const allowed = new Set([...Object.keys(monitorField.shape ?? {}), ...Object.keys(monitorField.tagged?.variants[monitor.kind] ?? {})]);
  (service.servers ?? []).forEach((server, j) => {
    for (const key of Object.keys(server?.monitor ?? {})) {
      if (!allowed.has(key) && key in monitorOverrideShape) {
        issues.key(["service", i, "servers", j, "monitor", key], `Key "${key}" does not apply to monitor kind "${monitor.kind}"`);
      }
    }
  });
}

function checkRegex(pattern: string | undefined, path: KeyPath, issues: IssueList): void {
  if (pattern === undefined) return;
  try {
    new RegExp(pattern);
  } catch (error) {
    issues.value(path, `Invalid regular expression ${JSON.stringify(pattern)}: ${(error as Error).message}`);
  }
}

function checkLocalAddresses(config: DecodedConfig, service: Service, i: number, issues: IssueList): void {
  if (service.forwarding === "fullnat" && absent(service, "local_addresses")) {
    issues.table(["service", i, "local_addresses"], 'Missing key "local_addresses": fullnat needs at least one local source address on the servers\' side');
  }
  if (service.forwarding === "nat" && service.local_addresses !== undefined) {
    issues.value(["service", i, "local_addresses"], 'Local addresses are only used with forwarding = "fullnat"');
  }
  const own = nodeAddresses(config);
  const vips = new Set((config.vip ?? []).map((v) => v?.address));
  (service.local_addresses ?? []).forEach((address, k) => {
    if (address === undefined) return;
    const path = ["service", i, "local_addresses", k];
    if (own.has(address) || vips.has(address)) {
      issues.value(path, `Local address "${address}" is already a node address or VIP: it must be an address of its own`);
      return;
    }
    for (const n of config.node ?? []) {
      const onLink = Object.values(n?.interfaces ?? {}).some((itf) => itf?.address && inSubnet(address, itf.address.address, itf.address.prefix));
      if (n && !onLink) {
        issues.value(path, `Local address "${address}" is on no interface subnet of node "${n.name}": servers could not reply to it`);
        return;
      }
    }
  });
}

function checkServices(config: DecodedConfig, issues: IssueList): void {
  checkUnique(config.service, (s) => s.name, (i) => ["service", i, "name"], (k, f) => `Duplicate service name "${k}": service[${f}] has it already`, issues);
  checkUnique(
    config.service,
    (s) => (s.vip === undefined || s.port === undefined ? undefined : `${findVip(config, s.vip)?.address ?? s.vip}:${s.port}/${s.protocol}`),
    (i) => ["service", i, "port"],
    (k, f) => `Duplicate service "${k}": service[${f}] listens there already`,
    issues,
  );
  const vipRefs = (config.vip ?? []).flatMap((v) => (v ? [v.name ?? v.address] : []));
  (config.service ?? []).forEach((service, i) => {
    if (!service) return;
    if (service.vip !== undefined && findVip(config, service.vip) === undefined) {
      const tail = vipRefs.length === 0 ? "no VIPs are declared" : suggestion(service.vip, vipRefs);
      issues.value(["service", i, "vip"], `Unknown VIP "${service.vip}": ${tail}`);
    }
    checkUnique(
      service.servers,
      (s) => (s.address === undefined ? undefined : `${s.address}:${s.port ?? service.port}`),
      (j) => ["service", i, "servers", j],
      (k, f) => `Duplicate server "${k}": servers[${f}] is the same server`,
      issues,
    );
    const vipAddress = service.vip === undefined ? undefined : findVip(config, service.vip)?.address;
    (service.servers ?? []).forEach((server, j) => {
      if (server?.address !== undefined && server.address === vipAddress) {
        issues.value(["service", i, "servers", j, "address"], `Server address "${server.address}" is the service's own VIP`);
      }
    });
    if ((service.servers ?? []).length > 0 && (service.servers ?? []).every((s) => s?.weight === 0)) {
      issues.value(["service", i, "servers"], "Every server has weight 0: the service could accept no connection");
    }
    if (service.content !== undefined && service.protocol === "udp") {
      issues.value(["service", i, "content"], "A content check fetches over HTTP and needs a TCP service");
    }
    checkLocalAddresses(config, service, i, issues);
    checkServiceMonitor(service, i, issues);
  });
}

/**
 * Cross-field checks on a decoded config: references, duplicates, timer ordering, addressing.
 * Contract: tolerates a partially decoded config (undefined leaves) and only adds issues.
 */
export function checkConfig(config: DecodedConfig | undefined, issues: IssueList): void {
  if (!config) return;
  const roles = declaredRoles(config);
  checkNodes(config, issues);
  checkHeartbeat(config, roles, issues);
  checkVips(config, roles, issues);
  checkServices(config, issues);
}
