/**
 * The six data paths `bench/dataplane.ts` compares, each set up and torn down inside the test
 * bed's dispatcher namespace d1 (nothing touches the root namespace): direct routing, kernel
 * nftables DNAT, HAProxy in tcp mode, the TUN floor (bench/dataplane-floor.ts), tandem nat and
 * tandem fullnat. Every path ends at the same
 * real server's nginx :80 and iperf3 :5201, and only one balancer runs at a time.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startTandem, type TandemNode } from "../test/integration/tandem-node.ts";
import type { BedProcess, Testbed } from "../test/integration/testbed/topology.ts";
import { IPERF_PORT, TANDEM_PORTS, benchDispatcher, benchServer, dataplaneConfig } from "./dataplane-config.ts";
import { tunFloorPath } from "./dataplane-floor.ts";

/** Column order of the report, and the order each round measures the paths in. */
export const PATH_IDS = ["direct", "nft", "haproxy", "tun-floor", "tandem-nat", "tandem-fullnat"] as const;

/** One of the compared paths. */
export type PathId = (typeof PATH_IDS)[number];

/** Where a client sends its traffic while a path is up. */
export interface PathTarget {
  readonly host: string;
  readonly httpPort: number;
  /** TCP (and, when `udp`, UDP) port of iperf3 as the client sees it. */
  readonly iperfPort: number;
  /** False when the path cannot carry UDP (HAProxy). */
  readonly udp: boolean;
  /** tandem's handle while a tandem path is up, and its iperf TCP service (for status counters). */
  readonly tandem?: { readonly node: TandemNode; readonly iperfService: string };
  /** What the path reported on start, e.g. tandem's "Dispatcher ready" line. */
  readonly note?: string;
}

/** A path that can be brought up and down repeatedly in the same bed. */
export interface DataPath {
  readonly id: PathId;
  /** Brings the path up; resolves once traffic can flow. */
  start(): Promise<PathTarget>;
  /** Takes the path down and removes what start() added; never throws on an already-stopped path. */
  stop(): Promise<void>;
}

/** The bench's bed roles: client, dispatcher and the one real server every path ends at. */
export interface BenchNodes {
  readonly client: string;
  readonly dispatcher: string;
  readonly server: string;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 10_000;

/**
 * Prepares the bed for all paths (idempotent per bed): the client routes the private segment via
 * d1's public address so the direct path exists, and d1's conntrack and local ports are sized for
 * tens of thousands of short connections per second (TIME_WAIT 2 s, as tandem's bench config).
 */
export async function prepareBed(bed: Testbed, nodes: BenchNodes): Promise<void> {
  const d = dispatcherOf(bed, nodes);
  await bed.execOk(nodes.client, ["ip", "route", "replace", bed.addresses.subnets.private, "via", d.public]);
  await bed.execOk(nodes.dispatcher, ["sysctl", "-qw", "net.ipv4.ip_local_port_range=1024 65535", "net.ipv4.tcp_tw_reuse=1"]);
}

/** The six paths over `nodes`, in PATH_IDS order. */
export function createPaths(bed: Testbed, nodes: BenchNodes): DataPath[] {
  return [directPath(bed, nodes), nftPath(bed, nodes), haproxyPath(bed, nodes), tunFloorPath(bed, nodes), tandemPath(bed, nodes, "nat"), tandemPath(bed, nodes, "fullnat")];
}

function directPath(bed: Testbed, nodes: BenchNodes): DataPath {
  const host = serverAddress(bed, nodes);
  return {
    id: "direct",
    start: async () => ({ host, httpPort: 80, iperfPort: IPERF_PORT, udp: true }),
    stop: async () => {},
  };
}

/** Kernel DNAT in d1's prerouting; the VIP is a local address of eth0 only so d1 answers ARP for it. */
function nftPath(bed: Testbed, nodes: BenchNodes): DataPath {
  const vip = bed.addresses.vip;
  const server = serverAddress(bed, nodes);
  const rules = join(bed.runDir, "bench-nft.conf");
  let up = false;
  return {
    id: "nft",
    async start() {
      writeFileSync(rules, `table ip bench {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${vip} tcp dport 80 dnat to ${server}:80
    ip daddr ${vip} tcp dport ${IPERF_PORT} dnat to ${server}:${IPERF_PORT}
    ip daddr ${vip} udp dport ${IPERF_PORT} dnat to ${server}:${IPERF_PORT}
  }
}
`);
      up = true;
      await addVip(bed, nodes);
      await bed.execOk(nodes.dispatcher, ["nft", "-f", rules]);
      // Per-netns conntrack timeouts, equal to tandem's bench config, so neither table fills.
      await bed.execOk(nodes.dispatcher, ["sysctl", "-qw", "net.netfilter.nf_conntrack_tcp_timeout_time_wait=2", "net.netfilter.nf_conntrack_udp_timeout=2", "net.netfilter.nf_conntrack_udp_timeout_stream=2"]);
      return { host: vip, httpPort: 80, iperfPort: IPERF_PORT, udp: true };
    },
    async stop() {
      if (!up) return;
      up = false;
      await bed.exec(nodes.dispatcher, ["nft", "delete", "table", "ip", "bench"]);
      await removeVip(bed, nodes);
    },
  };
}

/** HAProxy 2 threads, tcp mode, bound to the VIP (a local address of d1 while it runs). */
function haproxyPath(bed: Testbed, nodes: BenchNodes): DataPath {
  const vip = bed.addresses.vip;
  const server = serverAddress(bed, nodes);
  const config = join(bed.runDir, "bench-haproxy.cfg");
  let proc: BedProcess | undefined;
  let up = false;
  return {
    id: "haproxy",
    async start() {
      writeFileSync(config, `global
  nbthread 2
  maxconn ${haproxyMaxconn()}

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend http
  bind ${vip}:80
  default_backend http

backend http
  server s1 ${server}:80

frontend iperf
  bind ${vip}:${IPERF_PORT}
  default_backend iperf

backend iperf
  server s1 ${server}:${IPERF_PORT}
`);
      up = true;
      await addVip(bed, nodes);
      proc = bed.spawn(nodes.dispatcher, ["haproxy", "-f", config, "-db"], "haproxy");
      await waitListening(bed, nodes.dispatcher, [80, IPERF_PORT], proc);
      return { host: vip, httpPort: 80, iperfPort: IPERF_PORT, udp: false };
    },
    async stop() {
      if (!up) return;
      up = false;
      // By PID: BedProcess.stop() sends SIGTERM, then SIGKILL after the grace period.
      await proc?.stop("SIGTERM", STOP_GRACE_MS);
      proc = undefined;
      await removeVip(bed, nodes);
      await dropClosingSockets(bed, nodes);
    },
  };
}

/** tandem's real binary in d1 with the bench config; one process per phase. */
function tandemPath(bed: Testbed, nodes: BenchNodes, mode: "nat" | "fullnat"): DataPath {
  let handle: TandemNode | undefined;
  return {
    id: mode === "nat" ? "tandem-nat" : "tandem-fullnat",
    async start() {
      handle = await startTandem(bed, nodes.dispatcher, dataplaneConfig(bed, nodes.server));
      const ready = await handle.waitForLog(/ Dispatcher ready /);
      const ports = TANDEM_PORTS[mode];
      return { host: bed.addresses.vip, httpPort: ports.http, iperfPort: ports.iperf, udp: true, tandem: { node: handle, iperfService: `iperf-${mode}` }, note: ready.trim() };
    },
    async stop() {
      const h = handle;
      handle = undefined;
      if (!h) {
        // start() failed before it had a handle: stop whatever tandem process it left, by PID.
        await Promise.all(bed.processes.filter((p) => p.label === `tandem-${nodes.dispatcher}@${nodes.dispatcher}`).map((p) => p.stop("SIGTERM", STOP_GRACE_MS)));
        return;
      }
      // SIGTERM through the handle's process (by PID), SIGKILL if it does not exit in time.
      await h.proc.stop("SIGTERM", STOP_GRACE_MS);
      const code = await h.proc.exited;
      if (code !== 0) throw new Error(`tandem ${mode} exited with code "${code}": ${h.proc.stderr().trim().split("\n").slice(-5).join(" | ")}`);
    },
  };
}

/**
 * 100,000 unless the open-files hard limit is lower: HAProxy needs two descriptors per connection
 * and refuses to start when it cannot raise its limit that far (this sandbox caps it at 20,000).
 * The bench holds at most 64 connections, so any of these values leaves HAProxy unconstrained.
 */
function haproxyMaxconn(): number {
  const limits = readFileSync("/proc/self/limits", "utf8");
  const hard = /^Max open files\s+\S+\s+(\S+)/m.exec(limits)?.[1];
  const fds = hard === undefined || hard === "unlimited" ? Infinity : Number(hard);
  return Math.min(100_000, Math.floor((fds - 100) / 2));
}

/**
 * Removes the TIME_WAIT (and other closing) sockets HAProxy left in d1 for VIP:port ↔ client:port.
 * Left alone they break the next path for 60 s: a packet matching a local socket is claimed by
 * TCP early demux, and ip_forward() drops any packet that carries a socket, so the client's
 * reused ports would stall when tandem forwards the same 4-tuples.
 */
async function dropClosingSockets(bed: Testbed, nodes: BenchNodes): Promise<void> {
  const states = ["time-wait", "fin-wait-1", "fin-wait-2", "last-ack", "closing", "close-wait"].flatMap((st) => ["state", st]);
  // ss -K (sock_diag destroy) also reports EINVAL for sockets it skips; what matters is the recount.
  await bed.exec(nodes.dispatcher, ["ss", "-K", "-t", ...states]);
  const left = await bed.exec(nodes.dispatcher, ["ss", "-Htan", "src", bed.addresses.vip]);
  const count = left.stdout.split("\n").filter((l) => l.trim() !== "").length;
  if (count > 0) throw new Error(`HAProxy left ${count} sockets on the VIP in "${nodes.dispatcher}" that ss -K could not remove`);
}

async function addVip(bed: Testbed, nodes: BenchNodes): Promise<void> {
  await bed.execOk(nodes.dispatcher, ["ip", "addr", "replace", `${bed.addresses.vip}/32`, "dev", dispatcherOf(bed, nodes).devices.public]);
}

async function removeVip(bed: Testbed, nodes: BenchNodes): Promise<void> {
  await bed.exec(nodes.dispatcher, ["ip", "addr", "del", `${bed.addresses.vip}/32`, "dev", dispatcherOf(bed, nodes).devices.public]);
}

/** Polls `ss` in `node` until every TCP port listens; fails early if `proc` exits. */
async function waitListening(bed: Testbed, node: string, ports: number[], proc: BedProcess): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const filter = ports.map((p) => `sport = :${p}`).join(" or ");
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`${proc.label} exited with code "${await proc.exited}" before listening: ${proc.stderr().trim()}`);
    const r = await bed.exec(node, ["ss", "-Hltn", filter], { timeoutMs: 3000 });
    if (r.stdout.trim().split("\n").filter((l) => l !== "").length >= ports.length) return;
    await Promise.race([proc.exited, Bun.sleep(20)]);
  }
  throw new Error(`${proc.label} is not listening on ports "${ports.join(", ")}" after ${READY_TIMEOUT_MS} ms: ${proc.stderr().trim()}`);
}

function dispatcherOf(bed: Testbed, nodes: BenchNodes) {
  return benchDispatcher(bed, nodes.dispatcher);
}

function serverAddress(bed: Testbed, nodes: BenchNodes): string {
  return benchServer(bed, nodes.server).private;
}
