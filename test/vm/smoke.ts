/**
 * Smoke check of the VM harness (not a test): boots one VM in a VM bed and prints how long each
 * boot milestone took, then removes everything.
 *
 *   bun test/vm/smoke.ts [--firmware bios|uefi] [--image PATH | --stand-in] [--memory-mb N] [--timeout-ms N]
 *
 * With dist/tandem.img (or --image) it waits for `tandem-init: stage 1` (or the kernel banner)
 * and, briefly, for `tandem ready`. Without an image (or with --stand-in) it boots a blank stand-in disk from its own
 * temporary directory and waits for the firmware's console output ("SeaBIOS", "Booting from",
 * OVMF's "BdsDxe"): that proves QEMU starts, the console socket connects and no output is lost.
 * It also exercises QMP (query-status, set_link) and, at the UEFI shell, sendLine(). Needs root.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Firmware } from "./qemu-vm.ts";
import { createVmBed, IMAGE, SET_CONFIG, vmPairConfig, type VmBed } from "./vm-bed.ts";

/** Parses the command line; exits with status 2 on a bad argument. */
function parseArgs(argv: string[]): { firmware: Firmware; image: string | undefined; standIn: boolean; memoryMb: number; timeoutMs: number } {
  let firmware: Firmware = "bios";
  let image: string | undefined;
  let standIn = false;
  let timeoutMs = 180_000;
  let memoryMb = 256;
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === "--stand-in") {
      standIn = true;
      continue;
    }
    if (argv[i] === "--firmware" && (value === "bios" || value === "uefi")) firmware = value;
    else if (argv[i] === "--image" && value) image = value;
    else if (argv[i] === "--memory-mb" && value && Number(value) >= 64) memoryMb = Number(value);
    else if (argv[i] === "--timeout-ms" && value && Number(value) > 0) timeoutMs = Number(value);
    else {
      console.error(`smoke: unknown argument "${argv[i]}": usage: bun test/vm/smoke.ts [--firmware bios|uefi] [--image PATH | --stand-in] [--memory-mb N] [--timeout-ms N]`);
      process.exit(2);
    }
    i++;
  }
  return { firmware, image, standIn, memoryMb, timeoutMs };
}

/** Makes a blank 64 MiB raw disk in a fresh temporary directory: no firmware can boot it, but each says so on the console. */
async function makeStandIn(): Promise<{ dir: string; image: string }> {
  const dir = mkdtempSync(join(tmpdir(), "tandem-vm-smoke-"));
  const image = join(dir, "stand-in.img");
  await Bun.write(image, "");
  const r = Bun.spawnSync(["truncate", "-s", "64M", image], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`Cannot make the stand-in disk "${image}": ${r.stderr.toString().trim()}`);
  return { dir, image };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const { firmware, memoryMb, timeoutMs } = args;
  const image = args.standIn ? undefined : (args.image ?? (existsSync(IMAGE) ? IMAGE : undefined));
  const standIn = image === undefined ? await makeStandIn() : undefined;
  // The real image gets the VM config when the image helper's script is there; otherwise it boots with its own.
  const writeConfig = image !== undefined && existsSync(SET_CONFIG);
  console.log(`smoke: ${firmware} firmware, ${memoryMb} MB, ${image ? `image ${image}` : `blank stand-in disk ${standIn!.image} ${args.standIn ? "" : " (no dist/tandem.img)"}`}${writeConfig ? ", VM config written" : ""}`);
  const t0 = performance.now();
  const since = () => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
  let vmBed: VmBed | undefined;
  try {
    vmBed = await createVmBed({ vms: 1, servers: 1, firmware, memoryMb, image: image ?? standIn!.image, toml: writeConfig ? (bed) => vmPairConfig(bed) : undefined });
    const vm = vmBed.vm(1);
    console.log(`smoke: QEMU pid ${vm.pid} in ${vmBed.bed.switchNs}, console connected after ${since()}`);
    console.log(`smoke: QMP query-status: ${JSON.stringify(await vm.qmp("query-status"))}`);
    await vm.setLink(0, false);
    await vm.setLink(0, true);
    console.log("smoke: QMP set_link nic0 down and up: ok");
    const firmwareLine = await vm.waitForConsole(firmware === "bios" ? /SeaBIOS|Booting from/ : /BdsDxe|UEFI/, timeoutMs);
    console.log(`smoke: firmware output "${firmwareLine[0]}" after ${since()}`);
    if (image) {
      const boot = await vm.waitForConsole(/tandem-init: stage 1.*|Linux version \S+/, timeoutMs);
      console.log(`smoke: "${boot[0]}" after ${since()}`);
      try {
        const ready = await vm.waitForConsole(/tandem ready: node=\S+/, 60_000, { after: boot.end });
        console.log(`smoke: "${ready[0]}" after ${since()}`);
      } catch {
        console.log(`smoke: no "tandem ready" within a further 60 s (not required); last console lines:\n${vm.consoleTail(20)}`);
      }
    } else if (firmware === "uefi") {
      // OVMF falls back to its built-in shell on a disk it cannot boot: a place to prove input reaches the guest.
      const prompt = await vm.waitForConsole(/Shell> /, timeoutMs);
      await vm.sendLine("echo harness-input-ok");
      await vm.waitForConsole(/^harness-input-ok$/, 30_000, { after: prompt.end });
      console.log(`smoke: the UEFI shell echoed what sendLine() typed after ${since()}`);
    } else {
      const failed = await vm.waitForConsole(/No bootable device|Boot failed.*/, timeoutMs);
      console.log(`smoke: "${failed[0]}" after ${since()}`);
    }
    console.log(`smoke: console log ${vm.paths.consoleLog} holds ${vm.consoleOffset()} characters`);
    return 0;
  } catch (error) {
    console.error(`smoke: FAILED after ${since()}: ${(error as Error).message}`);
    return 1;
  } finally {
    const report = await vmBed?.destroy();
    if (standIn) rmSync(standIn.dir, { recursive: true, force: true });
    console.log(`smoke: cleaned up${report && report.problems.length > 0 ? ` with problems: ${report.problems.join("; ")}` : ""}`);
  }
}

process.exit(await main());
