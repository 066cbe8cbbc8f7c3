/**
 * The VM test bed: the netns test bed (clients, real servers, the three bridges) built without
 * dispatcher namespaces, and one or two QEMU machines booting the appliance image in their place.
 * VM k has the addresses dk would have had (10.200.0.(1+k), 10.201.0.(1+k), 10.202.0.(1+k)),
 * NICs `52:54:00:00:0k:0i` on taps `tvkni` in the switch namespace, enslaved to br-pub (eth0),
 * br-priv (eth1) and br-hb (eth2); with two VMs their ttyS1 are joined by a unix socket.
 *
 * Disks: a sparse raw copy of `dist/tandem.img` per bed, the given tandem.toml (and authkey)
 * written onto its config partition with `image/set-config.sh`, and one qcow2 overlay per VM on
 * top of it, all in the bed's run directory. Needs root, `test/deps.sh netns vm` and qemu-img.
 */
import { existsSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { cleanupStaleTestbeds, createTestbed, type DestroyReport, type DispatcherNode, type Testbed, type TestbedAddresses, type TestbedOptions } from "../integration/testbed/topology.ts";
import { cleanupStaleVms, startVm, type Firmware, type QemuVm } from "./qemu-vm.ts";

/** The repository root. */
const ROOT = resolve(import.meta.dir, "../..");

/** The appliance image built by `just image`. */
export const IMAGE = join(ROOT, "dist/tandem.img");

/** The image helper's script writing tandem.toml (and authkey) onto an image file's config partition. */
export const SET_CONFIG = join(ROOT, "image/set-config.sh");

/** Segment roles in NIC order: eth0, eth1, eth2. */
export const VM_ROLES = ["public", "private", "heartbeat"] as const;

/** A segment role of a VM NIC. */
export type VmRole = (typeof VM_ROLES)[number];

/** The MAC address of VM `k` (1-based), NIC `nic` (0 = eth0): `52:54:00:00:0k:0i`. */
export function vmMac(k: number, nic: number): string {
  const hex = (n: number) => n.toString(16).padStart(2, "0");
  return `52:54:00:00:${hex(k)}:${hex(nic)}`;
}

/** The tap device of VM `k`, NIC `nic`, in the switch namespace. */
export function vmTap(k: number, nic: number): string {
  return `tv${k}n${nic}`;
}

/** What to build; the test bed options (servers, clients, gateways, ...) pass through. */
export interface VmBedOptions extends Omit<TestbedOptions, "dispatchers" | "dispatcherNamespaces"> {
  /** Number of appliance VMs (default 2). */
  vms?: 1 | 2;
  /** Boot firmware of every VM (default "bios"). */
  firmware?: Firmware;
  /** Guest memory (default 256 MB). */
  memoryMb?: number;
  /** QEMU CPU model (default "Nehalem"). */
  cpu?: string;
  /** The raw image to boot (default dist/tandem.img); it is copied, never written. */
  image?: string;
  /** tandem.toml written onto the copy's config partition, or a function of the bed making it; omitted, the image's own file stays. */
  toml?: string | ((bed: Testbed) => string);
  /** The authkey file written beside tandem.toml (only with `toml`). */
  authkey?: string;
  /** Whether the two VMs' ttyS1 are joined (default true with two VMs). */
  serialLink?: boolean;
  /** Whether createVmBed() starts the VMs (default true); otherwise call startVm(k). */
  start?: boolean;
  /** More QEMU arguments for every VM. */
  extraArgs?: string[];
}

/**
 * Builds the bed, prepares the disks and (unless `start: false`) starts the VMs, VM 1 first;
 * resolves once every console is connected (the guests are booting). Kills QEMUs of dead
 * earlier runs first. On failure everything made so far is removed and the error rethrown.
 */
export async function createVmBed(options: VmBedOptions = {}): Promise<VmBed> {
  const image = resolve(options.image ?? IMAGE);
  if (!existsSync(image)) throw new Error(`Image "${image}" is missing: run "just image" first`);
  await cleanupStaleVms();
  const { vms = 2, firmware, memoryMb, cpu, toml, authkey, serialLink, start, extraArgs, ...bedOptions } = options;
  // A pair's nat servers route through the floating gateway VIP "gw" (vmPairConfig), which moves
  // with the active node; a lone VM is their gateway itself.
  const serverGateway = bedOptions.serverGateway !== undefined || vms < 2 ? bedOptions.serverGateway : PAIR_GATEWAY;
  const bed = await createTestbed({ ...bedOptions, serverGateway, dispatchers: vms, dispatcherNamespaces: false });
  const vmBed = new VmBed(bed, {
    vms, image, firmware: firmware ?? "bios", memoryMb: memoryMb ?? 256, cpu: cpu ?? "Nehalem",
    toml: typeof toml === "function" ? toml(bed) : toml, authkey, serialLink: serialLink ?? vms === 2, extraArgs: extraArgs ?? [],
  });
  try {
    await vmBed.build();
    if (start ?? true) for (let k = 1; k <= vms; k++) await vmBed.startVm(k);
  } catch (error) {
    await vmBed.destroy();
    throw error;
  }
  return vmBed;
}

interface VmBedSettings {
  vms: 1 | 2;
  image: string;
  firmware: Firmware;
  memoryMb: number;
  cpu: string;
  toml: string | undefined;
  authkey: string | undefined;
  serialLink: boolean;
  extraArgs: string[];
}

/** A running VM bed; `destroy()` removes everything it made. */
export class VmBed {
  /** The sparse raw copy of the image every overlay is backed by. */
  readonly baseImage: string;
  private readonly machines = new Map<number, QemuVm>();
  private readonly taps: string[] = [];
  private destroying: Promise<DestroyReport> | undefined;

  constructor(
    /** The netns test bed the VMs are plugged into (clients, servers, switch). */
    readonly bed: Testbed,
    private readonly settings: VmBedSettings,
  ) {
    this.baseImage = join(bed.runDir, "tandem-base.img");
  }

  /** Number of VMs. */
  get count(): number {
    return this.settings.vms;
  }

  /** The bed's addresses; `dispatchers[k-1]` are VM k's. */
  get addresses(): TestbedAddresses {
    return this.bed.addresses;
  }

  /** The run directory: disks, console logs (console-k.log) and sockets. */
  get runDir(): string {
    return this.bed.runDir;
  }

  /** VM k's addresses and guest device names (the planned dispatcher dk). */
  node(k: number): DispatcherNode {
    this.check(k);
    return this.bed.addresses.dispatchers[k - 1]!;
  }

  /** The qcow2 overlay of VM k (it keeps the guest's writes across restartVm()). */
  overlay(k: number): string {
    this.check(k);
    return join(this.bed.runDir, `vm${k}.qcow2`);
  }

  /** The current QEMU of VM k (a new handle after restartVm(); its console text starts empty). */
  vm(k: number): QemuVm {
    this.check(k);
    const vm = this.machines.get(k);
    if (!vm) throw new Error(`VM ${k} was never started`);
    return vm;
  }

  /** Creates the taps and the disks; called once by createVmBed(). */
  async build(): Promise<void> {
    for (let k = 1; k <= this.count; k++) {
      for (const [nic, role] of VM_ROLES.entries()) {
        const tap = vmTap(k, nic);
        // Recorded first so a failure half-way still removes it.
        this.taps.push(tap);
        await this.switchCommand(["ip", "tuntap", "add", "dev", tap, "mode", "tap"]);
        await this.switchCommand(["ip", "link", "set", tap, "master", this.bed.bridges[role], "up"]);
      }
    }
    await command(["cp", "--sparse=always", this.settings.image, this.baseImage], 120_000);
    if (this.settings.toml !== undefined) {
      const tomlFile = join(this.bed.runDir, "tandem.toml");
      const keyFile = join(this.bed.runDir, "authkey");
      writeFileSync(tomlFile, this.settings.toml);
      const argv = ["bash", SET_CONFIG, this.baseImage, tomlFile];
      if (this.settings.authkey !== undefined) {
        writeFileSync(keyFile, this.settings.authkey, { mode: 0o600 });
        argv.push(keyFile);
      }
      await command(argv, 60_000);
    }
    for (let k = 1; k <= this.count; k++) {
      await command(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", this.baseImage, this.overlay(k)], 30_000);
    }
  }

  /** Starts VM k on its overlay (it must not be running); resolves once its console is connected. */
  async startVm(k: number): Promise<QemuVm> {
    this.check(k);
    if (this.destroying) throw new Error(`Cannot start VM ${k}: the VM bed is destroyed`);
    if (this.machines.get(k)?.running) throw new Error(`VM ${k} is already running`);
    const s = this.settings;
    const vm = await startVm({
      name: String(k),
      disk: this.overlay(k),
      runDir: this.bed.runDir,
      nics: VM_ROLES.map((_, nic) => ({ tap: vmTap(k, nic), mac: vmMac(k, nic) })),
      firmware: s.firmware,
      memoryMb: s.memoryMb,
      cpu: s.cpu,
      serialLink: s.serialLink ? { role: k === 1 ? "server" : "client", socketPath: join(this.bed.runDir, "serial-hb.sock") } : undefined,
      netns: this.bed.switchNs,
      extraArgs: s.extraArgs,
    });
    this.machines.set(k, vm);
    return vm;
  }

  /** Stops VM k's QEMU (SIGTERM, then SIGKILL): a power cut for the guest. Its overlay stays. */
  async stopVm(k: number): Promise<void> {
    await this.machines.get(k)?.stop();
  }

  /** Stops VM k and starts it again on the same overlay; resolves with the new handle. */
  async restartVm(k: number): Promise<QemuVm> {
    await this.stopVm(k);
    return this.startVm(k);
  }

  /** Takes VM k's tap on a segment down in the switch: the guest keeps its carrier but nothing passes. */
  async cutLink(k: number, role: VmRole): Promise<void> {
    this.check(k);
    await this.switchCommand(["ip", "link", "set", vmTap(k, VM_ROLES.indexOf(role)), "down"]);
  }

  /** Brings a tap taken down by cutLink() back up. */
  async restoreLink(k: number, role: VmRole): Promise<void> {
    this.check(k);
    await this.switchCommand(["ip", "link", "set", vmTap(k, VM_ROLES.indexOf(role)), "up"]);
  }

  /** Sets the carrier VM k's guest sees on a segment's NIC (QMP set_link): the guest sees the cable pulled or plugged. */
  async setCarrier(k: number, role: VmRole, up: boolean): Promise<void> {
    await this.vm(k).setLink(VM_ROLES.indexOf(role), up);
  }

  /**
   * Removes everything: stops every QEMU by PID, deletes the taps, the overlays and the image
   * copy, then destroys the test bed. Idempotent; never throws; reports what it could not remove.
   */
  destroy(): Promise<DestroyReport> {
    this.destroying ??= this.teardown();
    return this.destroying;
  }

  private async teardown(): Promise<DestroyReport> {
    const problems: string[] = [];
    await Promise.all([...this.machines.values()].map((vm) => vm.stop()));
    for (const vm of this.machines.values()) if (vm.running) problems.push(`QEMU ${vm.pid} of VM ${vm.name} survived SIGKILL`);
    for (const tap of this.taps) {
      const r = await run(["ip", "-n", this.bed.switchNs, "link", "del", tap], 10_000);
      if (r.code !== 0) problems.push(`Cannot delete tap "${tap}": ${r.stderr.trim()}`);
    }
    for (const file of [...Array.from({ length: this.count }, (_, i) => this.overlay(i + 1)), this.baseImage]) {
      try {
        rmSync(file, { force: true });
      } catch (error) {
        problems.push(`Cannot remove "${file}": ${String(error)}`);
      }
    }
    const report = await this.bed.destroy();
    return { problems: [...problems, ...report.problems] };
  }

  private check(k: number): void {
    if (!Number.isInteger(k) || k < 1 || k > this.count) throw new Error(`Unknown VM ${k}: the bed has VMs 1 to ${this.count}`);
  }

  private async switchCommand(argv: string[]): Promise<void> {
    await command(["ip", "netns", "exec", this.bed.switchNs, ...argv], 15_000);
  }
}

/** Options of vmPairConfig(). */
export interface VmPairConfigOptions {
  /** Cluster name (default "vm"). */
  cluster?: string;
  /** Heartbeat interval as a TOML duration (default "1s"; TCG guests are slow). */
  keepalive?: string;
  /** Heartbeat deadtime as a TOML duration (default "5s"). */
  deadtime?: string;
  /** Whether the pair also heartbeats over the joined ttyS1 (default true). */
  serialLink?: boolean;
  /** The services (TOML `[[service]]` tables); default one "http" service, rr over every server on :80. */
  services?: string;
  /** Extra TOML appended at the end. */
  extra?: string;
}

/**
 * The tandem.toml both VMs boot with: one [[node]] per VM (d1 priority 200, d2 100), each with
 * its eth0 MAC so the host finds its own entry, and its public/private/heartbeat addresses; with
 * two nodes `auth_key_file = "authkey"` (pass `authkey` to createVmBed) and heartbeats over the
 * heartbeat segment (udp) and ttyS1 (serial); the bed's VIP named "www"; short test timeouts.
 */
export function vmPairConfig(bed: { readonly addresses: TestbedAddresses }, options: VmPairConfigOptions = {}): string {
  const a = bed.addresses;
  const pair = a.dispatchers.length > 1;
  const nodes = a.dispatchers.map((d, i) => `[[node]]
name = "${d.name}"
mac = "${vmMac(i + 1, 0)}"
priority = ${i === 0 ? 200 : 100}
interfaces.public = { device = "${d.devices.public}", address = "${d.public}/24" }
interfaces.private = { device = "${d.devices.private}", address = "${d.private}/24" }
interfaces.heartbeat = { device = "${d.devices.heartbeat}", address = "${d.heartbeat}/24" }
`).join("\n");
  const links = ['{ kind = "udp", interface = "heartbeat" }'];
  if (options.serialLink ?? true) links.push('{ kind = "serial", device = "/dev/ttyS1" }');
  const heartbeat = pair ? `
[heartbeat]
keepalive = "${options.keepalive ?? "1s"}"
deadtime = "${options.deadtime ?? "5s"}"
links = [
${links.map((l) => `  ${l},`).join("\n")}
]
` : "";
  const servers = a.servers.map((s) => `  { address = "${s.private}", port = 80 },`).join("\n");
  const services = options.services ?? `[[service]]
name = "http"
vip = "www"
port = 80
scheduler = "rr"
servers = [
${servers}
]
`;
  return `version = 1

[cluster]
name = "${options.cluster ?? "vm"}"
${pair ? 'auth_key_file = "authkey"\n' : ""}
${nodes}${heartbeat}
[dispatcher]
max_connections = 100000
timeouts = { tcp_syn = "3s", tcp_established = "20s", tcp_fin = "3s", tcp_time_wait = "2s", tcp_close = "2s", udp = "2s", icmp = "2s" }

[[vip]]
name = "www"
address = "${a.vip}"
interface = "public"
${pair ? `
[[vip]]
name = "gw"
address = "${PAIR_GATEWAY}"
interface = "private"
` : ""}
${services}${options.extra ?? ""}`;
}

/** The pair's floating gateway on the private segment (the bed's suggested shared router). */
export const PAIR_GATEWAY = "10.201.0.1";

/** A random authkey (64 hex characters, above tandem's 32-byte minimum) for a VM pair. */
export function randomAuthkey(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex") + "\n";
}

/** Kills QEMUs of dead test processes and removes their beds (namespaces, run directories). */
export async function cleanupStaleVmBeds(): Promise<string[]> {
  const killed = await cleanupStaleVms();
  return [...killed.map((pid) => `qemu ${pid}`), ...(await cleanupStaleTestbeds())];
}

interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(argv: string[], timeoutMs: number): Promise<CommandResult> {
  const proc = Bun.spawn(argv, { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), timeoutMs);
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** Runs a command to completion; throws with its stderr when it fails. */
async function command(argv: string[], timeoutMs: number): Promise<CommandResult> {
  const r = await run(argv, timeoutMs);
  if (r.code !== 0) throw new Error(`Command "${argv.join(" ")}" failed with exit code ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}
