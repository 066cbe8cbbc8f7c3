/**
 * Issue 4 on the real image, BIOS boot: two VMs from one image and one TOML find their own node by
 * MAC, the active one serves the VIP (rr over three nginx servers, a 50 MB download intact), the
 * supervisor restarts a SIGKILLed tandem, and the data partition keeps the store across a reboot.
 * Needs `just image` (the `vm` step of test/run-all.sh builds it) and root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { curl } from "../integration/testbed/clients.ts";
import { createVmBed, randomAuthkey, vmPairConfig, type VmBed } from "./vm-bed.ts";
import { BOOT_TIMEOUT_MS, shell } from "./vm-console.ts";

const BIG = 50 * 1024 * 1024;
let vms: VmBed;
const bootSeconds: number[] = [];

beforeAll(async () => {
  const started = performance.now();
  vms = await createVmBed({ vms: 2, servers: 3, clients: 1, firmware: "bios", bigFileBytes: BIG, toml: (bed) => vmPairConfig(bed), authkey: randomAuthkey() });
  await Promise.all([1, 2].map(async (k) => {
    await vms.vm(k).waitForConsole(new RegExp(`tandem ready: node=d${k}`), BOOT_TIMEOUT_MS);
    bootSeconds[k] = (performance.now() - started) / 1000;
  }));
  console.log(`BIOS boot to serving under TCG (-cpu Nehalem -m 256): d1 ${bootSeconds[1]!.toFixed(1)} s, d2 ${bootSeconds[2]!.toFixed(1)} s (both booting at once)`);
}, BOOT_TIMEOUT_MS + 120_000);

afterAll(async () => {
  const report = await vms?.destroy();
  if (report?.problems.length) throw new Error(`VM bed cleanup: ${report.problems.join("; ")}`);
}, 120_000);

describe("one image, one TOML, two hosts", () => {
  test("each VM identifies itself by MAC; the higher priority is active, the other standby", () => {
    const d1 = vms.vm(1).consoleText();
    const d2 = vms.vm(2).consoleText();
    expect(d1).toContain("==== tandem d1 (active) ====");
    expect(d1).toContain("identified by MAC 52:54:00:00:01:00");
    expect(d2).toContain("==== tandem d2 (standby) ====");
    expect(d2).toContain("identified by MAC 52:54:00:00:02:00");
    expect(d1).toContain("tandem-init: stage 1: root slot a on /dev/vda3");
  });
});

describe("serving through the active VM", () => {
  test("30 sequential requests to the VIP reach all three servers in rr order", async () => {
    const seen: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await curl(vms.bed, `http://${vms.addresses.vip}/`, { timeoutMs: 20_000 });
      expect(r.status).toBe(200);
      seen.push(r.server ?? "none");
    }
    const first = ["s1", "s2", "s3"].indexOf(seen[0]!);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `s${((first + i) % 3) + 1}`));
  }, 300_000);

  test("a 50 MB download through the VIP has the right sha256", async () => {
    const r = await curl(vms.bed, `http://${vms.addresses.vip}/big`, { timeoutMs: 240_000 });
    expect(r.status).toBe(200);
    expect(r.bytes).toBe(BIG);
    expect(r.sha256).toBe(vms.bed.bigFile.sha256);
    console.log(`50 MB through the VM's dispatcher under TCG: ${(r.timeMs / 1000).toFixed(1)} s`);
  }, 250_000);
});

/** d1 is active again: its first status screen says so, or a later role line. */
const D1_ACTIVE = /==== tandem d1 \(active\) ====|tandem: d1 is now active/;

describe("supervision and persistence", () => {
  test("SIGKILL of tandem inside the VM: the supervisor restarts it and the VIP answers again", async () => {
    const vm = vms.vm(1);
    const from = vm.consoleOffset();
    await shell(vm, "kill -9 $(cat /run/tandem.pid)");
    await vm.waitForConsole(/tandem-supervise: tandem exited with code 137; restarting in \d+ s/, 60_000, { after: from });
    await vm.waitForConsole(/tandem ready: node=d1/, BOOT_TIMEOUT_MS, { after: from });
    // d2 took over meanwhile; d1 (priority 200, auto_failback) takes the VIPs back once synced.
    await vm.waitForConsole(D1_ACTIVE, BOOT_TIMEOUT_MS, { after: from });
    const r = await curl(vms.bed, `http://${vms.addresses.vip}/`, { timeoutMs: 20_000 });
    expect(r.status).toBe(200);
  }, BOOT_TIMEOUT_MS + 90_000);

  test("the store on the data partition survives a reboot", async () => {
    const vm = vms.vm(1);
    const before = await shell(vm, "tandem config history --store /data/tandem.db");
    expect(before).toMatch(/\* *1 /);
    const from = vm.consoleOffset();
    await shell(vm, "reboot", { wait: false });
    await vm.waitForConsole(/tandem-init: data partition unmounted/, 60_000, { after: from });
    await vm.waitForConsole(/tandem-init: data: \/data \(ext4\)/, BOOT_TIMEOUT_MS, { after: from });
    await vm.waitForConsole(/tandem ready: node=d1/, BOOT_TIMEOUT_MS, { after: from });
    // The failback's console line must not land inside the shell command's output.
    await vm.waitForConsole(D1_ACTIVE, BOOT_TIMEOUT_MS, { after: from });
    const after = await shell(vm, "tandem config history --store /data/tandem.db");
    // The same version 1 with the same time: the store was kept, not re-created at boot.
    expect(after).toBe(before);
  }, 2 * BOOT_TIMEOUT_MS + 60_000);
});
