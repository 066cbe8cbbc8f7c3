/**
 * Commands on an appliance VM's serial console, through the rescue shell that busybox init's
 * `askfirst` offers there: what an operator at the console would type.
 */
import type { QemuVm } from "./qemu-vm.ts";

/** Longest wait for an appliance boot to reach `tandem ready` under TCG (software emulation). */
export const BOOT_TIMEOUT_MS = Number(process.env.TANDEM_VM_BOOT_TIMEOUT_MS ?? 300_000);

let sequence = 0;

/**
 * Types `command` into the console shell (pressing Enter first, which activates the shell the
 * first time) and resolves with what it printed, carriage returns removed. The markers around the
 * output are typed as arithmetic (`$((n+0))`) so the terminal's echo of the typed line never
 * matches them. With `wait: false` it only types the line (for `reboot`).
 */
export async function shell(vm: QemuVm, command: string, options: { wait?: boolean; timeoutMs?: number } = {}): Promise<string> {
  const n = ++sequence + 7000;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const from = vm.consoleOffset();
  await vm.sendLine("");
  if (options.wait === false) {
    await vm.sendLine(command);
    return "";
  }
  await vm.sendLine(`echo __S$((${n}+0))__; ${command}; echo __E$((${n}+0))__`);
  const start = await vm.waitForConsole(new RegExp(`^__S${n}__\\s*$`), timeoutMs, { after: from });
  const end = await vm.waitForConsole(new RegExp(`^__E${n}__\\s*$`), timeoutMs, { after: start.end });
  return vm.consoleText(start.end).slice(0, end.index - start.end).replace(/\r/g, "").replace(/^\n/, "");
}
