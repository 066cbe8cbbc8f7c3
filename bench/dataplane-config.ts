/**
 * The lean tandem.toml `bench/dataplane.ts` runs: the shape of the dispatcher tests' config
 * (test/integration/dispatcher-config.ts) but every service over ONE real server, so each path
 * the bench compares (direct, nftables, HAProxy, tandem nat, tandem fullnat) ends at the same
 * nginx and the same iperf3.
 */
import { BED_CONFIG_TAIL, bedConfigHead } from "../test/integration/dispatcher-config.ts";
import type { Testbed } from "../test/integration/testbed/topology.ts";

/** VIP ports of the bench's tandem services; nat and fullnat each get their own. */
export const TANDEM_PORTS = {
  nat: { http: 80, iperf: 5201 },
  fullnat: { http: 81, iperf: 5202 },
} as const;

/** Port iperf3 listens on in the real server. */
export const IPERF_PORT = 5201;

/** The fullnat source address (the first of the bed's free 10.201.0.200–.249). */
export const FULLNAT_LOCAL_ADDRESS = "10.201.0.200";

/**
 * tandem.toml for node d1 of `bed`: http and iperf3 (tcp and udp) services in nat and fullnat
 * over server `serverName`, no monitors, offloads as `offload` (default true). The timeouts are
 * the dispatcher tests' short ones, so tens of thousands of short connections per second never
 * fill the table and reused client ports find their old entry expired.
 */
export function dataplaneConfig(bed: Testbed, serverName: string, options: { offload?: boolean } = {}): string {
  const server = benchServer(bed, serverName);
  const one = (port: number) => `servers = [{ address = "${server.private}", port = ${port} }]`;
  const service = (name: string, port: number, target: number, protocol: "tcp" | "udp", mode: "nat" | "fullnat") => `
[[service]]
name = "${name}"
vip = "www"
port = ${port}
protocol = "${protocol}"
forwarding = "${mode}"
${mode === "fullnat" ? `local_addresses = ["${FULLNAT_LOCAL_ADDRESS}"]\n` : ""}scheduler = "rr"
${one(target)}
`;
  const services = (["nat", "fullnat"] as const).flatMap((mode) => {
    const p = TANDEM_PORTS[mode];
    return [
      service(`http-${mode}`, p.http, 80, "tcp", mode),
      service(`iperf-${mode}`, p.iperf, IPERF_PORT, "tcp", mode),
      service(`iperf-udp-${mode}`, p.iperf, IPERF_PORT, "udp", mode),
    ];
  });
  return `${bedConfigHead(bed, { cluster: "bench", offload: options.offload ?? true, maxConnections: 1000000 })}${services.join("")}
${BED_CONFIG_TAIL}
`;
}

/** Real server `name` of `bed`; throws naming the servers there are. */
export function benchServer(bed: Testbed, name: string): Testbed["addresses"]["servers"][number] {
  const server = bed.addresses.servers.find((s) => s.name === name);
  if (!server) throw new Error(`Unknown server "${name}": expected one of ${bed.addresses.servers.map((s) => s.name).join(", ")}`);
  return server;
}

/** Dispatcher namespace `name` of `bed`; throws naming the dispatchers there are. */
export function benchDispatcher(bed: Testbed, name: string): Testbed["addresses"]["dispatchers"][number] {
  const d = bed.addresses.dispatchers.find((x) => x.name === name);
  if (!d) throw new Error(`Unknown dispatcher "${name}": expected one of ${bed.addresses.dispatchers.map((x) => x.name).join(", ")}`);
  return d;
}
