/**
 * The "TUN floor" path of `bench/dataplane.ts`: bench/tun-floor.c, a C program that does nothing
 * but rewrite addresses over a TUN device opened as tandem opens its own, with the same kernel
 * plumbing (route VIP/32 into the TUN, proxy ARP for the VIP, policy rules steering the server's
 * replies into it). It shows what the TUN round trip itself costs on this machine, so tandem's
 * figures can be read as "share of the floor" as well as "share of nftables".
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BedProcess, Testbed } from "../test/integration/testbed/topology.ts";
import type { BenchNodes, DataPath } from "./dataplane-paths.ts";
import { IPERF_PORT, benchDispatcher, benchServer } from "./dataplane-config.ts";

const SOURCE = resolve(import.meta.dir, "tun-floor.c");
const DEVICE = "tfloor0";
/** Routing table and rule priority of the floor's steering; apart from tandem's own. */
const TABLE = "4243";
const RULE_PRIORITY = "91";
const READY_TIMEOUT_MS = 5000;
const STOP_GRACE_MS = 5000;

/** Compiles bench/tun-floor.c into the bed's run directory (once per bed) and returns its path. */
async function compile(bed: Testbed): Promise<string> {
  const binary = join(bed.runDir, "tun-floor");
  if (existsSync(binary)) return binary;
  const cc = Bun.spawn(["cc", "-O2", "-Wall", "-Werror", "-o", binary, SOURCE], { stdout: "pipe", stderr: "pipe" });
  const [stderr, code] = await Promise.all([new Response(cc.stderr).text(), cc.exited]);
  if (code !== 0) throw new Error(`cc bench/tun-floor.c failed with exit code ${code}: ${stderr.trim()}`);
  return binary;
}

/** Waits for the floor's "ready" line; fails if it exits or stays silent past READY_TIMEOUT_MS. */
async function waitReady(proc: BedProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!proc.stderr().includes("ready")) {
    if (!proc.running) throw new Error(`tun-floor exited with code "${await proc.exited}" before it was ready: ${proc.stderr().trim()}`);
    if (Date.now() > deadline) throw new Error(`tun-floor was not ready after ${READY_TIMEOUT_MS} ms: ${proc.stderr().trim()}`);
    await Promise.race([proc.exited, Bun.sleep(10)]);
  }
}

/** The floor path over `nodes`: nat-mode rewriting of every TCP and UDP port to the real server. */
export function tunFloorPath(bed: Testbed, nodes: BenchNodes): DataPath {
  const vip = bed.addresses.vip;
  const d = benchDispatcher(bed, nodes.dispatcher);
  const server = benchServer(bed, nodes.server).private;
  const rules = ["tcp", "udp"].map((proto) => ["from", server, "iif", d.devices.private, "ipproto", proto, "lookup", TABLE, "priority", RULE_PRIORITY]);
  let proc: BedProcess | undefined;
  let up = false;
  const ip = (args: string[]) => bed.execOk(nodes.dispatcher, ["ip", ...args]);
  return {
    id: "tun-floor",
    async start() {
      const binary = await compile(bed);
      up = true;
      proc = bed.spawn(nodes.dispatcher, [binary, DEVICE, vip, server], "tun-floor");
      await waitReady(proc);
      await ip(["link", "set", DEVICE, "up"]);
      await ip(["route", "add", `${vip}/32`, "dev", DEVICE]);
      await ip(["neigh", "add", "proxy", vip, "dev", d.devices.public]);
      await ip(["route", "add", "default", "dev", DEVICE, "table", TABLE]);
      for (const rule of rules) await ip(["rule", "add", ...rule]);
      // What tandem sets too: forwarding, no reverse-path filter (clients' sources leave the
      // TUN), and proxy ARP answered at once.
      await bed.execOk(nodes.dispatcher, ["sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0", `net.ipv4.conf.${DEVICE}.rp_filter=0`, `net.ipv4.neigh.${d.devices.public}.proxy_delay=0`]);
      return { host: vip, httpPort: 80, iperfPort: IPERF_PORT, udp: true };
    },
    async stop() {
      if (!up) return;
      up = false;
      // By PID; the TUN device and its routes go with the process.
      await proc?.stop("SIGTERM", STOP_GRACE_MS);
      proc = undefined;
      for (const rule of rules) await bed.exec(nodes.dispatcher, ["ip", "rule", "del", ...rule]);
      await bed.exec(nodes.dispatcher, ["ip", "neigh", "del", "proxy", vip, "dev", d.devices.public]);
      await bed.exec(nodes.dispatcher, ["ip", "route", "flush", "table", TABLE]);
      const left = await bed.exec(nodes.dispatcher, ["ip", "rule", "show", "priority", RULE_PRIORITY]);
      if (left.stdout.trim() !== "") throw new Error(`tun-floor's rules are still in "${nodes.dispatcher}": ${left.stdout.trim()}`);
    },
  };
}
