import type { Testbed } from "./testbed/topology.ts";

/** Options for the test bed's tandem config. */
export interface BedConfigOptions {
  /** The fullnat local address (default the first free one, 10.201.0.200). */
  readonly localAddress?: string;
  /** Extra TOML appended at the end (more services, overrides). */
  readonly extra?: string;
  /** Server admin states by server name, for the http service (default all active). */
  readonly states?: Readonly<Record<string, "active" | "drain" | "disabled">>;
  /** TUN offloads (default true). */
  readonly offload?: boolean;
}

/**
 * The tandem.toml the dispatcher tests run: one node d1 in the bed, VIP 10.200.0.10, and these
 * services over the bed's servers: http (nat, rr, :80), http-full (fullnat, rr, :81 → 80),
 * dns (udp, nat, rr, :53), weighted (wrr 1:2:3, :82), sticky (persistence, :83) and
 * closed (udp :5999 → a port nobody listens on, for ICMP port unreachable). Short timeouts make
 * "the table empties after traffic stops" checkable in seconds.
 */
export function bedConfig(bed: Testbed, options: BedConfigOptions = {}): string {
  const servers = bed.addresses.servers;
  const list = (port: number, extra: { weights?: number[]; states?: BedConfigOptions["states"] } = {}) =>
    servers
      .map((s, i) => {
        const weight = extra.weights ? `, weight = ${extra.weights[i]}` : "";
        const state = extra.states?.[s.name] ? `, state = "${extra.states[s.name]}"` : "";
        return `  { address = "${s.private}", port = ${port}${weight}${state} },`;
      })
      .join("\n");
  return `${bedConfigHead(bed, { cluster: "bed", offload: options.offload ?? true, maxConnections: 100000 })}
[[service]]
name = "http"
vip = "www"
port = 80
scheduler = "rr"
servers = [
${list(80, { states: options.states })}
]

[[service]]
name = "http-full"
vip = "www"
port = 81
forwarding = "fullnat"
local_addresses = ["${options.localAddress ?? "10.201.0.200"}"]
scheduler = "rr"
servers = [
${list(80)}
]

[[service]]
name = "dns"
vip = "www"
port = 53
protocol = "udp"
scheduler = "rr"
servers = [
${list(53)}
]

[[service]]
name = "weighted"
vip = "www"
port = 82
scheduler = "wrr"
servers = [
${list(80, { weights: [1, 2, 3] })}
]

[[service]]
name = "sticky"
vip = "www"
port = 83
scheduler = "rr"
persistence = "60s"
servers = [
${list(80)}
]

[[service]]
name = "closed"
vip = "www"
port = 5999
protocol = "udp"
servers = [{ address = "${servers[0]!.private}" }]

${BED_CONFIG_TAIL}${options.extra ?? ""}`;
}

/** The end of every bed config: the web API on the node's loopback, the store beside the config. */
export const BED_CONFIG_TAIL = `[web]
listen = "127.0.0.1:8080"

[store]
path = "tandem.db"
`;

/**
 * The start of every bed config: node d1 with its public and private interfaces, the dispatcher
 * with short test timeouts, and the bed's VIP named "www"; services follow.
 */
export function bedConfigHead(bed: Testbed, options: { cluster: string; offload: boolean; maxConnections: number }): string {
  const d = bed.addresses.dispatchers[0]!;
  return `version = 1

[cluster]
name = "${options.cluster}"

[[node]]
name = "${d.name}"
interfaces.public = { device = "${d.devices.public}", address = "${d.public}/24" }
interfaces.private = { device = "${d.devices.private}", address = "${d.private}/24" }

[dispatcher]
tun = "tandem0"
offload = ${options.offload}
max_connections = ${options.maxConnections}
timeouts = { tcp_syn = "3s", tcp_established = "20s", tcp_fin = "3s", tcp_time_wait = "2s", tcp_close = "2s", udp = "2s", icmp = "2s" }

[[vip]]
name = "www"
address = "${bed.addresses.vip}"
interface = "public"
`;
}
