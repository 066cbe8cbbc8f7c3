/**
 * The keepalived anchor of `bench/failover.ts`: Debian's keepalived (VRRP only) in the d1 and d2
 * namespaces of a fresh bed shaped like tandem's (same VIP, same floating gateway 10.201.0.1 the
 * servers route through), with the kernel doing the load balancing: an nftables DNAT rule in
 * each dispatcher sends VIP:80 round-robin to the three servers (IPVS would be keepalived's own
 * choice, but this kernel is built without it). No conntrackd: established connections are not
 * synced. Two runs: VRRPv2 with the default advert_int 1 s, and VRRPv3 with advert_int 0.1 s.
 * The master "dies" as tandem's active node does in the node-death trial: its keepalived
 * processes are frozen and killed -9 (so no priority-0 advert goes out) and its links go down.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { PAIR_GATEWAY_VIP } from "../test/integration/pair-config.ts";
import { curl } from "../test/integration/testbed/clients.ts";
import { createTestbed, type BedProcess, type Testbed } from "../test/integration/testbed/topology.ts";
import { BIG_FILE_BYTES, epochMs, runTrial, type TrialResult } from "./failover-trial.ts";

/** The two keepalived runs: advert interval and VRRP version. */
export const KEEPALIVED_VARIANTS = [
  { id: "default", advertIntS: 1, vrrpVersion: 2 },
  { id: "fast", advertIntS: 0.1, vrrpVersion: 3 },
] as const;

/** One run's id. */
export type KeepalivedVariant = (typeof KEEPALIVED_VARIANTS)[number]["id"];

const MASTER_TIMEOUT_MS = 15_000;
const POLL_MS = 5;
const NODES = [
  { name: "d1", priority: 200 },
  { name: "d2", priority: 100 },
] as const;

/** A running keepalived: the parent we spawned and the VRRP child it forked (from its pid file). */
interface Keepalived {
  readonly node: string;
  readonly proc: BedProcess;
  readonly configPath: string;
  readonly vrrpPidFile: string;
}

/** Runs `rounds` trials of each keepalived variant in one bed (destroyed before it returns); failures become notes. */
export async function keepalivedPhase(rounds: number, notes: string[], progress: (m: string) => void): Promise<Record<KeepalivedVariant, TrialResult[]>> {
  const results: Record<KeepalivedVariant, TrialResult[]> = { default: [], fast: [] };
  progress("keepalived: building the bed (2 dispatchers, 3 servers, 1 client)");
  const bed = await createTestbed({ dispatchers: 2, servers: 3, serverGateway: PAIR_GATEWAY_VIP, accessLog: false, bigFileBytes: BIG_FILE_BYTES });
  const running: Keepalived[] = [];
  try {
    for (const d of NODES) await installDnat(bed, d.name);
    for (const variant of KEEPALIVED_VARIANTS) {
      for (let round = 1; round <= rounds; round++) {
        progress(`keepalived ${variant.id} ${round}/${rounds}: advert_int ${variant.advertIntS} s, VRRPv${variant.vrrpVersion}, master d1 dies`);
        try {
          for (const d of NODES) running.push(startKeepalived(bed, d.name, d.priority, variant, round));
          const [k1, k2] = [running.at(-2)!, running.at(-1)!];
          await Promise.all([waitState(k1, "MASTER"), waitState(k2, "BACKUP")]);
          const r = await curl(bed, `http://${bed.addresses.vip}/`, { timeoutMs: 5000 });
          if (r.status !== 200) throw new Error(`The VIP does not serve through d1's DNAT: ${r.status} ${r.error}`);
          results[variant.id].push(await runTrial(bed, "c1", bed.addresses.vip, {
            kill: () => killNode(bed, k1),
            takeover: (at, deadline) => masterAt(k2, at, deadline),
          }));
        } catch (error) {
          notes.push(`keepalived ${variant.id} ${round}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
        } finally {
          await resetNodes(bed, running.splice(0));
        }
      }
    }
  } finally {
    progress("keepalived: destroying the bed");
    await resetNodes(bed, running.splice(0)).catch(() => {});
    const report = await bed.destroy();
    for (const p of report.problems) notes.push(`cleanup: ${p}`);
  }
  return results;
}

/** The kernel balancer of a dispatcher: VIP:80 DNAT round-robin to the servers' :80. */
async function installDnat(bed: Testbed, node: string): Promise<void> {
  const map = bed.addresses.servers.map((s, i) => `${i} : ${s.private}`).join(", ");
  const file = join(bed.runDir, `nft-${node}.conf`);
  writeFileSync(file, `table ip failover {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr ${bed.addresses.vip} tcp dport 80 dnat to numgen inc mod ${bed.addresses.servers.length} map { ${map} }
  }
}
`);
  await bed.execOk(node, ["nft", "-f", file]);
}

function keepalivedConf(bed: Testbed, node: string, priority: number, variant: (typeof KEEPALIVED_VARIANTS)[number]): string {
  return `global_defs {
  router_id tandem-bench-${node}
  vrrp_version ${variant.vrrpVersion}
  script_user root
}

vrrp_instance www {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority ${priority}
  advert_int ${variant.advertIntS}
  virtual_ipaddress {
    ${bed.addresses.vip}/32 dev eth0
    ${PAIR_GATEWAY_VIP}/32 dev eth1
  }
}
`;
}

/**
 * Starts keepalived (VRRP only, foreground, console log) in `node` with config and pid files of
 * its own for this round: keepalived refuses to start while its pid file names a live process,
 * and a VRRP child killed -9 may linger as a zombie until PID 1 reaps it.
 */
function startKeepalived(bed: Testbed, node: string, priority: number, variant: (typeof KEEPALIVED_VARIANTS)[number], round: number): Keepalived {
  const base = join(bed.runDir, `keepalived-${variant.id}-${round}-${node}`);
  writeFileSync(`${base}.conf`, keepalivedConf(bed, node, priority, variant));
  const argv = ["keepalived", "-f", `${base}.conf`, "-P", "-n", "-l", "-D", "-G", "-p", `${base}.pid`, "-r", `${base}.vrrp.pid`];
  return { node, proc: bed.spawn(node, argv, `keepalived-${variant.id}`), configPath: `${base}.conf`, vrrpPidFile: `${base}.vrrp.pid` };
}

function output(k: Keepalived): string {
  return k.proc.stdout() + k.proc.stderr();
}

/** Waits until keepalived logged entering `state` (bounded). */
async function waitState(k: Keepalived, state: "MASTER" | "BACKUP"): Promise<void> {
  const deadline = Date.now() + MASTER_TIMEOUT_MS;
  while (!new RegExp(`Entering ${state} STATE`).test(output(k))) {
    if (!k.proc.running) throw new Error(`keepalived in "${k.node}" exited with code "${await k.proc.exited}": ${output(k).trim().slice(-500)}`);
    if (Date.now() > deadline) throw new Error(`keepalived in "${k.node}" did not enter ${state} within ${MASTER_TIMEOUT_MS} ms: ${output(k).trim().slice(-500)}`);
    await Bun.sleep(20);
  }
}

/**
 * When the backup logs "Entering MASTER STATE" after the kill. keepalived's console lines carry
 * whole seconds only, so the time is when this process saw the line (polled every few ms).
 */
async function masterAt(k: Keepalived, killAtMs: number, deadlineMs: number): Promise<number | null> {
  const seen = (output(k).match(/Entering MASTER STATE/g) ?? []).length;
  while (epochMs() < deadlineMs) {
    if ((output(k).match(/Entering MASTER STATE/g) ?? []).length > seen) return Math.max(killAtMs, epochMs());
    await Bun.sleep(POLL_MS);
  }
  return null;
}

/** The VRRP child's PID from its pid file, or null when there is none or it is no longer this keepalived's child. */
function vrrpPid(k: Keepalived): number | null {
  try {
    const pid = Number(readFileSync(k.vrrpPidFile, "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0) return null;
    // The PID may have been reused since: it must still run with this round's config file.
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(k.configPath) ? pid : null;
  } catch {
    return null;
  }
}

function signalPid(pid: number | null, signal: NodeJS.Signals): void {
  if (pid === null) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * The master dies: both keepalived processes are frozen first (so neither can send a priority-0
 * advert or respawn the other), then killed -9 by PID, then the node's links go down.
 */
async function killNode(bed: Testbed, k: Keepalived): Promise<void> {
  const child = vrrpPid(k);
  signalPid(child, "SIGSTOP");
  k.proc.signal("SIGSTOP");
  signalPid(child, "SIGKILL");
  k.proc.signal("SIGKILL");
  await bed.execOk(k.node, ["sh", "-c", "ip link set eth0 down; ip link set eth1 down; ip link set eth2 down"]);
  await k.proc.exited;
}

/**
 * Stops every keepalived by PID (SIGTERM to the parent, which stops and reaps its VRRP child;
 * SIGKILL to both if that takes too long), then puts each dispatcher back: links up, no VIPs
 * left behind.
 */
async function resetNodes(bed: Testbed, list: Keepalived[]): Promise<void> {
  for (const k of list) {
    await k.proc.stop("SIGTERM", 3000);
    signalPid(vrrpPid(k), "SIGKILL");
  }
  for (const d of NODES) {
    await bed.exec(d.name, ["sh", "-c", `ip link set eth0 up; ip link set eth1 up; ip link set eth2 up; ip addr del ${bed.addresses.vip}/32 dev eth0; ip addr del ${PAIR_GATEWAY_VIP}/32 dev eth1; true`]);
  }
}
