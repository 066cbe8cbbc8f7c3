/**
 * One QEMU virtual machine booting the appliance image, run as the image contract (issue 4) says:
 * `qemu-system-x86_64 -accel tcg -cpu Nehalem -m 256 -nographic`, a qcow2 overlay on virtio,
 * virtio-net NICs on tap devices, an i6300esb watchdog that resets, and the serial console on a
 * unix socket QEMU waits on (server=on,wait=on) so not one byte of console output is lost.
 *
 * The harness keeps the whole console text (carriage returns dropped) and appends it to
 * `RUN/console-NAME.log`; tests wait on it with `waitForConsole`. A QMP socket
 * (`RUN/qmp-NAME.sock`) lets tests reset the machine or drop a NIC's carrier.
 *
 * Every QEMU gets `-name tandem-vm-<owner pid>-<owner start time>-<name>`, the marker
 * `cleanupStaleVms()` uses to kill (by PID) machines left behind by dead test processes.
 */
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { aliveNotZombie, processStartTime } from "../integration/testbed/topology.ts";

/** Boot firmware: SeaBIOS (QEMU's default) or OVMF (UEFI). */
export type Firmware = "bios" | "uefi";

/** One NIC: the tap device (in the namespace QEMU runs in) and the guest's MAC address. */
export interface VmNic {
  tap: string;
  mac: string;
}

/** The serial heartbeat link on the guest's ttyS1: a unix socket one VM listens on and the other connects to. */
export interface VmSerialLink {
  role: "server" | "client";
  socketPath: string;
}

/** What startVm() builds. */
export interface VmOptions {
  /** Short name: lower-case letters, digits and '-' (part of file names and of the `-name` marker). */
  name: string;
  /** The disk: a qcow2 file (normally an overlay over a per-test copy of the image). */
  disk: string;
  /** Directory for the console socket and log, the QMP socket and the UEFI variable store. */
  runDir: string;
  /** NICs in guest order: the first is eth0 (default none). */
  nics?: VmNic[];
  /** Boot firmware (default "bios"). */
  firmware?: Firmware;
  /** Guest memory (default 256 MB). */
  memoryMb?: number;
  /** QEMU CPU model (default "Nehalem": no AVX, like the oldest hardware tandem supports). */
  cpu?: string;
  /** The heartbeat serial link on ttyS1 (default none). */
  serialLink?: VmSerialLink;
  /** Network namespace QEMU runs in, via `ip netns exec` (where the taps are); default the current one. */
  netns?: string;
  /** More QEMU arguments, appended last. */
  extraArgs?: string[];
  /** Deadline for QEMU to open the console socket (default 30,000 ms). */
  connectTimeoutMs?: number;
  /** How long an unfinished last line must stay unchanged before a pattern ending there counts (default 200 ms). */
  settleMs?: number;
}

/** A match on the console: `index` is the offset in the console text, `end` the offset just after the match (pass it as `after`). */
export type ConsoleMatch = RegExpExecArray & { end: number };

/** Options of waitForConsole(). */
export interface WaitForConsoleOptions {
  /** Console offset (from consoleOffset() or a previous match's `end`) where the search starts (default 0: all output). */
  after?: number;
}

/** The QEMU binary the harness runs. */
export const QEMU = "qemu-system-x86_64";

/** Where Debian's `ovmf` package installs its firmware files. */
export const OVMF_DIR = "/usr/share/OVMF";

const MARKER = "tandem-vm";
const MARKER_PATTERN = /^tandem-vm-(\d+)-(\d+)-[a-z0-9-]+$/;
const NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/;
const STDERR_LIMIT_CHARS = 64 * 1024;
const TAIL_LINES = 60;

/** Live machines, killed synchronously if the test process exits without stopping them. */
const live = new Set<QemuVm>();
const exitHook = () => {
  for (const vm of live) vm.killSync();
};

/**
 * Starts QEMU and connects to its console; resolves once the console is connected (the guest
 * starts running at that moment). On failure QEMU is stopped and the error rethrown.
 */
export async function startVm(options: VmOptions): Promise<QemuVm> {
  const vm = new QemuVm(options);
  try {
    await vm.start();
  } catch (error) {
    await vm.stop();
    throw error;
  }
  return vm;
}

/** The OVMF code and variable-store template of Debian's `ovmf` package (4 MB build preferred); throws if it is not installed. */
export function findOvmf(): { code: string; vars: string } {
  for (const suffix of ["_4M", ""]) {
    const code = join(OVMF_DIR, `OVMF_CODE${suffix}.fd`);
    const vars = join(OVMF_DIR, `OVMF_VARS${suffix}.fd`);
    if (existsSync(code) && existsSync(vars)) return { code, vars };
  }
  throw new Error(`Cannot find OVMF firmware in "${OVMF_DIR}": install it with test/deps.sh vm`);
}

/** A console waiter: the pattern is tried line by line from `pos`. */
interface Waiter {
  pattern: RegExp;
  pos: number;
  /** True when the pattern matched only up to the end of the unfinished last line. */
  provisional: boolean;
  resolve: (match: ConsoleMatch) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** A running (or exited) QEMU; create it with startVm(). */
export class QemuVm {
  /** Resolves with QEMU's exit code (or 128+signal) once it has exited; never rejects. */
  readonly exited: Promise<number>;
  /** Files of this VM in the run directory: console socket and log, QMP socket, UEFI variable store. */
  readonly paths: { console: string; consoleLog: string; qmp: string; ovmfVars: string };
  /** The full QEMU command line (after `ip netns exec NS`, when a namespace is used). */
  readonly argv: string[];
  private proc: Subprocess<"ignore", "pipe", "pipe"> | undefined;
  private resolveExited!: (code: number) => void;
  private done = false;
  private exitCode: number | undefined;
  private stderrText = "";
  private text = "";
  private readonly decoder = new TextDecoder();
  private logFd: number | undefined;
  private consoleSocket: Socket | undefined;
  private consoleClosed: Promise<void> = Promise.resolve();
  private readonly waiters = new Set<Waiter>();
  private settleTimer: ReturnType<typeof setTimeout> | undefined;
  private stopping: Promise<void> | undefined;
  private qmpClient: QmpClient | undefined;
  private readonly options: Required<Omit<VmOptions, "serialLink" | "netns">> & Pick<VmOptions, "serialLink" | "netns">;

  constructor(options: VmOptions) {
    if (!NAME_PATTERN.test(options.name)) throw new Error(`Invalid VM name "${options.name}": use 1 to 32 lower-case letters, digits or '-'`);
    this.options = {
      nics: [], firmware: "bios", memoryMb: 256, cpu: "Nehalem", extraArgs: [], connectTimeoutMs: 30_000, settleMs: 200,
      ...options,
    };
    const { runDir, name } = this.options;
    this.paths = {
      console: join(runDir, `console-${name}.sock`),
      consoleLog: join(runDir, `console-${name}.log`),
      qmp: join(runDir, `qmp-${name}.sock`),
      ovmfVars: join(runDir, `ovmf-vars-${name}.fd`),
    };
    this.argv = this.commandLine();
    this.exited = new Promise((resolve) => (this.resolveExited = resolve));
  }

  /** The VM's name. */
  get name(): string {
    return this.options.name;
  }

  /** QEMU's process id (`ip netns exec` execs QEMU, so this is QEMU itself). */
  get pid(): number {
    if (!this.proc) throw new Error(`VM "${this.name}" was never started`);
    return this.proc.pid;
  }

  /** True until QEMU has exited. */
  get running(): boolean {
    return this.proc !== undefined && !this.done;
  }

  /** What QEMU wrote to stderr so far (its last 64 KB). */
  stderr(): string {
    return this.stderrText;
  }

  /** Launches QEMU and connects the console; called once by startVm(). */
  async start(): Promise<void> {
    if (this.proc) throw new Error(`VM "${this.name}" is already started`);
    mkdirSync(this.options.runDir, { recursive: true });
    // A socket file left by an earlier run of the same VM would accept no connection; QEMU makes a new one.
    rmSync(this.paths.console, { force: true });
    rmSync(this.paths.qmp, { force: true });
    if (this.options.firmware === "uefi" && !existsSync(this.paths.ovmfVars)) copyFileSync(findOvmf().vars, this.paths.ovmfVars);
    this.logFd = openSync(this.paths.consoleLog, "a");
    const argv = this.options.netns ? ["ip", "netns", "exec", this.options.netns, ...this.argv] : this.argv;
    const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    live.add(this);
    if (live.size === 1) process.on("exit", exitHook);
    void this.collect(proc.stdout);
    void this.collect(proc.stderr);
    void proc.exited.then((code) => this.onExit(code));
    await this.connectConsole();
  }

  /** Offset of the end of the console text so far: pass it as `after` to wait only for what follows. */
  consoleOffset(): number {
    return this.text.length;
  }

  /** The console text from `after` (default all of it), carriage returns removed. */
  consoleText(after = 0): string {
    return this.text.slice(after);
  }

  /** The last `lines` lines of the console (default 60). */
  consoleTail(lines = TAIL_LINES): string {
    return this.text.split("\n").slice(-lines).join("\n");
  }

  /**
   * Resolves with the first match of `pattern` on the console after `options.after`. The pattern is
   * tried on one line at a time (without its newline, so `^` and `$` anchor to the line); on the
   * unfinished last line a match that reaches its end counts only once the line has stayed
   * unchanged for `settleMs` (so `node=(\S+)` never captures half a name, and prompts without a
   * newline still match). Event-driven: it is checked on every piece of output. Rejects at the
   * deadline or when QEMU exits, with the last console lines.
   */
  waitForConsole(pattern: RegExp, timeoutMs = 60_000, options: WaitForConsoleOptions = {}): Promise<ConsoleMatch> {
    const after = Math.max(0, Math.min(options.after ?? 0, this.text.length));
    // A copy without g/y: those flags make exec() stateful and start at lastIndex.
    const re = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, ""));
    return new Promise<ConsoleMatch>((resolve, reject) => {
      const waiter: Waiter = {
        pattern: re, pos: after, provisional: false, resolve, reject,
        timer: setTimeout(() => {
          this.waiters.delete(waiter);
          reject(new Error(`VM "${this.name}" printed nothing matching ${pattern} within ${timeoutMs} ms: ${this.qemuComplaints()}last console lines:\n${this.consoleTail()}`));
        }, timeoutMs),
      };
      this.waiters.add(waiter);
      this.scan(waiter, false);
      if (this.waiters.has(waiter) && this.done) this.rejectWaiter(waiter);
      this.armSettle(false);
    });
  }

  /** Types `text` and Enter (a carriage return, like a terminal) on the console; resolves once written. */
  sendLine(text: string): Promise<void> {
    return this.sendText(`${text}\r`);
  }

  /** Writes `text` to the console as is; resolves once written. */
  sendText(text: string): Promise<void> {
    const socket = this.consoleSocket;
    if (!socket || socket.destroyed || this.done) return Promise.reject(new Error(`Cannot write to the console of VM "${this.name}": it is not connected`));
    return new Promise((resolve, reject) => socket.write(text, (error) => (error ? reject(error) : resolve())));
  }

  /** Sends one QMP command and resolves with its `return` value; rejects with QEMU's error. */
  async qmp(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (!this.running) throw new Error(`Cannot send QMP "${command}" to VM "${this.name}": QEMU is not running`);
    this.qmpClient ??= new QmpClient(this.paths.qmp, this.name);
    return this.qmpClient.execute(command, args);
  }

  /** Sets the carrier of NIC `index` (0 = eth0) as the guest sees it (QMP set_link). */
  async setLink(index: number, up: boolean): Promise<void> {
    if (index < 0 || index >= this.options.nics.length) throw new Error(`Unknown NIC ${index} of VM "${this.name}": it has ${this.options.nics.length}`);
    await this.qmp("set_link", { name: `nic${index}`, up });
  }

  /** Presses the reset button (QMP system_reset): the guest reboots at once, without shutting down. */
  async systemReset(): Promise<void> {
    await this.qmp("system_reset");
  }

  /**
   * Stops QEMU: SIGTERM by PID, SIGKILL after `graceMs` (default 5,000 ms); resolves once it has
   * exited and the console and QMP sockets are closed. Idempotent; never throws.
   */
  stop(graceMs = 5000): Promise<void> {
    this.stopping ??= this.terminate(graceMs);
    return this.stopping;
  }

  /** SIGKILLs QEMU at once (from the exit hook, where nothing asynchronous runs). */
  killSync(): void {
    if (this.running) killQuietly(this.pid, "SIGKILL");
  }

  private async terminate(graceMs: number): Promise<void> {
    if (this.running) {
      killQuietly(this.pid, "SIGTERM");
      if (!(await within(this.exited, graceMs))) {
        killQuietly(this.pid, "SIGKILL");
        await within(this.exited, 5000);
      }
    }
    this.qmpClient?.close();
    this.consoleSocket?.destroy();
    if (!this.proc) this.finish(-1);
    await within(this.consoleClosed, 1000);
  }

  private commandLine(): string[] {
    const o = this.options;
    for (const path of [o.disk, o.runDir, o.serialLink?.socketPath ?? ""]) {
      // QEMU splits option values at commas; none of the harness's paths has one.
      if (path.includes(",")) throw new Error(`Cannot use path "${path}" for VM "${o.name}": QEMU options cannot hold a comma`);
    }
    const args = [
      QEMU,
      "-name", `${MARKER}-${process.pid}-${processStartTime(process.pid)}-${o.name}`,
      "-accel", process.env.TANDEM_VM_KVM === "1" ? "kvm" : "tcg",
      "-cpu", o.cpu,
      "-m", String(o.memoryMb),
      "-smp", "1",
      "-nographic",
      "-monitor", "none",
      "-qmp", `unix:${this.paths.qmp},server=on,wait=off`,
    ];
    if (o.firmware === "uefi") {
      const { code } = findOvmf();
      args.push("-drive", `if=pflash,format=raw,unit=0,readonly=on,file=${code}`);
      args.push("-drive", `if=pflash,format=raw,unit=1,file=${this.paths.ovmfVars}`);
      // No network boot: a disk OVMF cannot boot ends in its shell at once instead of after minutes
      // of PXE and HTTP timeouts on every NIC (fw_cfg knobs of OvmfPkg; unknown ones are ignored).
      for (const knob of ["IPv4PXESupport", "IPv6PXESupport", "IPv4Support", "IPv6Support"]) {
        args.push("-fw_cfg", `name=opt/org.tianocore/${knob},string=no`);
      }
    }
    args.push("-drive", `if=virtio,format=qcow2,file=${o.disk}`);
    // The heartbeat chardev comes before the console's: QEMU creates chardevs in order and blocks
    // on the console (wait=on), so the listening side must already listen by then.
    const link = o.serialLink;
    if (link?.role === "server") args.push("-chardev", `socket,id=hb,path=${link.socketPath},server=on,wait=off`);
    if (link?.role === "client") args.push("-chardev", `socket,id=hb,path=${link.socketPath},reconnect=1`);
    args.push("-chardev", `socket,id=con,path=${this.paths.console},server=on,wait=on`, "-serial", "chardev:con");
    if (link) args.push("-serial", "chardev:hb");
    o.nics.forEach((nic, i) => {
      args.push("-netdev", `tap,id=net${i},ifname=${nic.tap},script=no,downscript=no`);
      // romfile= drops the iPXE option ROM: no network boot attempts, a faster firmware.
      args.push("-device", `virtio-net-pci,id=nic${i},netdev=net${i},mac=${nic.mac},romfile=`);
    });
    // QEMU 7.2 takes both -action watchdog=reset and the older -watchdog-action reset; -action is the current one.
    args.push("-device", "i6300esb", "-action", "watchdog=reset");
    args.push(...o.extraArgs);
    return args;
  }

  /** Connects to the console socket, retrying until QEMU has created it. */
  private async connectConsole(): Promise<void> {
    const deadline = Date.now() + this.options.connectTimeoutMs;
    let last = "no attempt";
    while (Date.now() < deadline) {
      if (this.done) throw new Error(`QEMU of VM "${this.name}" exited with code ${this.exitCode} before its console connected: ${this.stderrText.trim()}`);
      try {
        const socket = await connectUnix(this.paths.console);
        this.attachConsole(socket);
        return;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== "ENOENT" && code !== "ECONNREFUSED") throw error;
        last = String(code);
      }
      // QEMU creates the socket a few milliseconds after it starts; an exit ends the wait early.
      await Promise.race([this.exited, Bun.sleep(20)]);
    }
    throw new Error(`Console socket "${this.paths.console}" of VM "${this.name}" did not accept a connection within ${this.options.connectTimeoutMs} ms: last error: ${last}; stderr: ${this.stderrText.trim()}`);
  }

  private attachConsole(socket: Socket): void {
    this.consoleSocket = socket;
    this.consoleClosed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.on("data", (chunk: Buffer) => this.onConsoleData(chunk));
    // A reset connection ends the console like a normal close; QEMU's exit reports the cause.
    socket.on("error", () => {});
  }

  private onConsoleData(chunk: Buffer): void {
    const piece = this.decoder.decode(chunk, { stream: true }).replaceAll("\r", "");
    if (piece === "") return;
    this.text += piece;
    if (this.logFd !== undefined) writeSync(this.logFd, piece);
    for (const w of [...this.waiters]) this.scan(w, false);
    this.armSettle(true);
  }

  /** Tries a waiter's pattern on every complete line from its position, then on the unfinished last line. */
  private scan(w: Waiter, settled: boolean): void {
    for (;;) {
      const newline = this.text.indexOf("\n", w.pos);
      if (newline < 0) break;
      const m = w.pattern.exec(this.text.slice(w.pos, newline));
      if (m) return this.settle(w, m, w.pos);
      w.pos = newline + 1;
    }
    const partial = this.text.slice(w.pos);
    const m = partial === "" ? null : w.pattern.exec(partial);
    w.provisional = false;
    if (!m) return;
    if (settled || m.index + m[0].length < partial.length) return this.settle(w, m, w.pos);
    w.provisional = true;
  }

  private settle(w: Waiter, m: RegExpExecArray, lineStart: number): void {
    const match = m as ConsoleMatch;
    match.index += lineStart;
    match.end = match.index + m[0].length;
    clearTimeout(w.timer);
    this.waiters.delete(w);
    w.resolve(match);
  }

  /** (Re)starts the settle timer while a waiter has a match at the end of an unfinished line; new output restarts it. */
  private armSettle(restart: boolean): void {
    const pending = [...this.waiters].some((w) => w.provisional);
    if (this.settleTimer !== undefined && (restart || !pending)) {
      clearTimeout(this.settleTimer);
      this.settleTimer = undefined;
    }
    if (!pending || this.settleTimer !== undefined) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      for (const w of [...this.waiters]) if (w.provisional) this.scan(w, true);
    }, this.options.settleMs);
  }

  /** QEMU's stderr lines other than its "waiting for connection" note, as "QEMU stderr: ...⏎" (for error messages) or "". */
  private qemuComplaints(): string {
    const lines = this.stderrText.split("\n").filter((l) => l.trim() !== "" && !l.includes("QEMU waiting for connection"));
    return lines.length === 0 ? "" : `QEMU stderr: ${lines.slice(-20).join("\n")}\n`;
  }

  private rejectWaiter(w: Waiter): void {
    clearTimeout(w.timer);
    this.waiters.delete(w);
    w.reject(new Error(`QEMU of VM "${this.name}" exited with code ${this.exitCode} before printing ${w.pattern}: ${this.qemuComplaints()}last console lines:\n${this.consoleTail()}`));
  }

  private async onExit(code: number): Promise<void> {
    // Output QEMU wrote just before exiting may still be on its way through the socket.
    await within(this.consoleClosed, 1000);
    this.finish(code);
  }

  private finish(code: number): void {
    if (this.done) return;
    this.done = true;
    this.exitCode = code;
    for (const w of [...this.waiters]) {
      this.scan(w, true);
      if (this.waiters.has(w)) this.rejectWaiter(w);
    }
    if (this.settleTimer !== undefined) clearTimeout(this.settleTimer);
    if (this.logFd !== undefined) closeSync(this.logFd);
    this.logFd = undefined;
    this.qmpClient?.close();
    rmSync(this.paths.console, { force: true });
    rmSync(this.paths.qmp, { force: true });
    live.delete(this);
    if (live.size === 0) process.off("exit", exitHook);
    this.resolveExited(code);
  }

  private async collect(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.stderrText = (this.stderrText + decoder.decode(chunk, { stream: true })).slice(-STDERR_LIMIT_CHARS);
    }
  }
}

/** A minimal QMP client: one command at a time, correlated by id; events are ignored. */
class QmpClient {
  private socket: Socket | undefined;
  private ready: Promise<void> | undefined;
  private buffer = "";
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  private greeted: (() => void) | undefined;

  constructor(private readonly path: string, private readonly vmName: string) {}

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    this.ready ??= this.connect();
    await this.ready;
    return this.send(command, args);
  }

  close(): void {
    this.socket?.destroy();
    for (const p of this.pending.values()) p.reject(new Error(`QMP of VM "${this.vmName}" closed`));
    this.pending.clear();
  }

  private async connect(): Promise<void> {
    const socket = await connectUnix(this.path);
    this.socket = socket;
    const greeting = new Promise<void>((resolve) => (this.greeted = resolve));
    socket.on("data", (chunk: Buffer) => this.onData(chunk.toString("utf8")));
    socket.on("error", () => {});
    socket.on("close", () => this.close());
    await greeting;
    await this.send("qmp_capabilities");
  }

  private send(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.reject(new Error(`QMP of VM "${this.vmName}" is closed`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ execute: command, ...(args ? { arguments: args } : {}), id })}\n`);
    });
  }

  private onData(text: string): void {
    this.buffer += text;
    for (let newline = this.buffer.indexOf("\n"); newline >= 0; newline = this.buffer.indexOf("\n")) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line === "") continue;
      const message = JSON.parse(line) as { QMP?: unknown; id?: number; return?: unknown; error?: { class: string; desc: string } };
      if (message.QMP !== undefined) this.greeted?.();
      const p = message.id === undefined ? undefined : this.pending.get(message.id);
      if (!p) continue;
      this.pending.delete(message.id!);
      if (message.error) p.reject(new Error(`QMP command of VM "${this.vmName}" failed: ${message.error.class}: ${message.error.desc}`));
      else p.resolve(message.return);
    }
  }
}

/**
 * Kills (SIGKILL, by PID) every QEMU started by this harness whose owning test process is dead,
 * recognised by its `-name tandem-vm-<pid>-<start time>-...` argument; machines of live test
 * processes are left alone. Resolves with the PIDs it killed once they are gone.
 */
export async function cleanupStaleVms(): Promise<number[]> {
  const killed: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const marker = markerOf(Number(entry));
    if (!marker) continue;
    const m = MARKER_PATTERN.exec(marker);
    if (!m || ownerAlive(Number(m[1]), m[2]!)) continue;
    killQuietly(Number(entry), "SIGKILL");
    killed.push(Number(entry));
  }
  const deadline = Date.now() + 5000;
  while (killed.some(aliveNotZombie) && Date.now() < deadline) await Bun.sleep(10);
  return killed;
}

/** The `-name` value of a QEMU process of this harness, or undefined for any other process. */
function markerOf(pid: number): string | undefined {
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return undefined;
  }
  if (!(argv[0] ?? "").endsWith(QEMU)) return undefined;
  const i = argv.indexOf("-name");
  const value = i >= 0 ? argv[i + 1] : undefined;
  return value?.startsWith(`${MARKER}-`) ? value : undefined;
}

function ownerAlive(pid: number, startTime: string): boolean {
  return aliveNotZombie(pid) && processStartTime(pid) === startTime;
}

/** Connects to a unix socket; rejects with the errno error (ENOENT, ECONNREFUSED, ...). */
function connectUnix(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ path });
    const onError = (error: Error) => {
      socket.destroy();
      reject(error);
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}



function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/** True if `promise` settles within `ms`. */
async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const result = await Promise.race([promise.then(() => true as const), timeout]);
  clearTimeout(timer);
  return result;
}
