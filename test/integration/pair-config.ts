import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Testbed } from "./testbed/topology.ts";
import { BED_CONFIG_TAIL } from "./dispatcher-config.ts";

/** Options of the pair's tandem.toml. */
export interface PairConfigOptions {
  /** Heartbeat links (default udp over the heartbeat and the private segment). */
  readonly links?: readonly string[];
  /** Witness addresses (default none). */
  readonly pingNodes?: readonly string[];
  readonly autoFailback?: boolean;
  /** Extra TOML appended at the end. */
  readonly extra?: string;
}

/** The floating address on the private segment the servers route through (nat mode). */
export const PAIR_GATEWAY_VIP = "10.201.0.1";

/**
 * The tandem.toml of the HA pair in a two-dispatcher bed: d1 (priority 200) and d2 (100),
 * heartbeats every 100 ms with a 500 ms deadtime, the public VIP "www" and the private floating
 * gateway "gw" (10.201.0.1, the servers' default route: it moves with the active node), and two
 * services: http (nat, rr, :80) and http-full (fullnat, rr, :81 → 80). Writes the auth key file
 * into the bed's directory, where the config files go.
 */
export function pairConfig(bed: Testbed, options: PairConfigOptions = {}): string {
  writeFileSync(join(bed.runDir, "authkey"), "tandem-test-pair-key-0123456789abcdef0123456789\n");
  const nodes = bed.addresses.dispatchers
    .map(
      (d, i) => `[[node]]
name = "${d.name}"
hostname = "${d.name}"
priority = ${i === 0 ? 200 : 100}
interfaces.public = { device = "${d.devices.public}", address = "${d.public}/24" }
interfaces.private = { device = "${d.devices.private}", address = "${d.private}/24" }
interfaces.heartbeat = { device = "${d.devices.heartbeat}", address = "${d.heartbeat}/24" }
`,
    )
    .join("\n");
  const links = options.links ?? ['{ kind = "udp", interface = "heartbeat" }', '{ kind = "udp", interface = "private" }'];
  const servers = (port: number) => bed.addresses.servers.map((s) => `  { address = "${s.private}", port = ${port} },`).join("\n");
  return `version = 1

[cluster]
name = "pair"
auth_key_file = "authkey"

${nodes}
[heartbeat]
keepalive = "100ms"
warntime = "300ms"
deadtime = "500ms"
initdead = "2s"
auto_failback = ${options.autoFailback ?? false}
ping_nodes = [${(options.pingNodes ?? []).map((a) => `"${a}"`).join(", ")}]
ping_interval = "200ms"
ping_deadtime = "1s"
garp = { count = 3, interval = "100ms", repeat_after = "2s" }
links = [
${links.map((l) => `  ${l},`).join("\n")}
]

[dispatcher]
tun = "tandem0"
max_connections = 100000
timeouts = { tcp_syn = "5s", tcp_established = "60s", tcp_fin = "3s", tcp_time_wait = "2s", tcp_close = "2s", udp = "5s", icmp = "5s" }

[[vip]]
name = "www"
address = "${bed.addresses.vip}"
interface = "public"

[[vip]]
name = "gw"
address = "${PAIR_GATEWAY_VIP}"
interface = "private"

[[service]]
name = "http"
vip = "www"
port = 80
scheduler = "rr"
servers = [
${servers(80)}
]

[[service]]
name = "http-full"
vip = "www"
port = 81
forwarding = "fullnat"
local_addresses = ["10.201.0.200"]
scheduler = "rr"
servers = [
${servers(80)}
]

${BED_CONFIG_TAIL}${options.extra ?? ""}`;
}
