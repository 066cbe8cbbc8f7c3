/**
 * Issue 4 on the real image: UEFI boot (Debian OVMF) to serving, and a corrupt config partition
 * ending in a clear console error and a safe state with a rescue shell, not a boot loop.
 * Needs `just image` (the `vm` step of test/run-all.sh builds it) and root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl } from "../integration/testbed/clients.ts";
import { createVmBed, vmPairConfig, type VmBed } from "./vm-bed.ts";
import { BOOT_TIMEOUT_MS, shell } from "./vm-console.ts";

describe("UEFI", () => {
  let vms: VmBed;
  let bootS = 0;
  beforeAll(async () => {
    const started = performance.now();
    vms = await createVmBed({ vms: 1, servers: 3, clients: 1, firmware: "uefi", toml: (bed) => vmPairConfig(bed) });
    await vms.vm(1).waitForConsole(/tandem ready: node=d1/, BOOT_TIMEOUT_MS);
    bootS = (performance.now() - started) / 1000;
    console.log(`UEFI boot to serving under TCG (-cpu Nehalem -m 256): ${bootS.toFixed(1)} s`);
  }, BOOT_TIMEOUT_MS + 60_000);
  afterAll(async () => {
    const report = await vms?.destroy();
    if (report?.problems.length) throw new Error(`VM bed cleanup: ${report.problems.join("; ")}`);
  }, 120_000);

  test("OVMF boots GRUB's BOOTX64.EFI, and the node serves the VIP", async () => {
    expect(vms.vm(1).consoleText()).toContain("==== tandem d1 (active) ====");
    const r = await curl(vms.bed, `http://${vms.addresses.vip}/`, { timeoutMs: 20_000 });
    expect(r.status).toBe(200);
    expect(r.server).toMatch(/^s[123]$/);
  }, 60_000);
});

describe("a corrupt config partition", () => {
  let vms: VmBed;
  beforeAll(async () => {
    vms = await createVmBed({ vms: 1, servers: 1, clients: 1, firmware: "bios", toml: (bed) => vmPairConfig(bed), start: false });
    // Zero the FAT's boot sector and tables, as a botched re-format or a bad stick would.
    const offset = Number((await Bun.$`image/partition-offset.sh ${vms.baseImage} tandem-config`.text()).trim());
    await Bun.$`dd if=/dev/zero of=${vms.baseImage} bs=512 seek=${offset / 512} count=256 conv=notrunc status=none`;
    await vms.startVm(1);
  }, 120_000);
  afterAll(async () => {
    const report = await vms?.destroy();
    if (report?.problems.length) throw new Error(`VM bed cleanup: ${report.problems.join("; ")}`);
  }, 120_000);

  test("gives a clear console error and a safe state with a rescue shell, not a boot loop", async () => {
    const vm = vms.vm(1);
    await vm.waitForConsole(/tandem-init: CONFIG ERROR: cannot mount the config partition/, BOOT_TIMEOUT_MS);
    await vm.waitForConsole(/tandem-init: safe state: no address or VIP is configured/, BOOT_TIMEOUT_MS);
    // The box stays up and answers at the console: one boot, no restart of tandem.
    expect(await shell(vm, "echo alive-$((40+2)); ip -o -f inet addr show dev eth0 | wc -l")).toBe("alive-42\n0\n");
    const text = vm.consoleText();
    expect(text.match(/tandem-init: stage 1:/g)).toHaveLength(1);
    expect(text).not.toContain("tandem-supervise: starting tandem");
    const r = await curl(vms.bed, `http://${vms.addresses.vip}/`, { timeoutMs: 5000, connectTimeoutMs: 2000 });
    expect(r.ok).toBe(false);
  }, BOOT_TIMEOUT_MS + 180_000);
});
