/**
 * createBunHaNet against the real kernel, as root: two namespaces A and B joined by two veth
 * links (hb0 and hb1), one `ha-net-peer.ts` process in each driving the HaNet, and a socat pty
 * pair for the serial line. Covers unicast, broadcast and multicast heartbeats (with each socket
 * bound to its device), ARP announcements seen in the neighbour's table, the serial line in raw
 * mode, and witness pings. Namespaces are `tt-<pid>-hnet-{a,b}` and files live in
 * `/tmp/tandem-testbed/<pid>-hnet/` with an owner file: the test bed's conventions, so a crashed
 * run's leftovers are removed by the next `cleanupStaleTestbeds`.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { encodeSerialFrame, serialFrameBytes } from "../../src/core/ha/serial-framer.ts";
import { must, run } from "./netns-thread.ts";
import { TESTBED_ROOT, aliveNotZombie, cleanupStaleTestbeds, processStartTime } from "./testbed/topology.ts";

const RUN = `tt-${process.pid}-hnet`;
const NS_A = `${RUN}-a`;
const NS_B = `${RUN}-b`;
const A0 = "10.77.0.1";
const B0 = "10.77.0.2";
const A1 = "10.78.0.1";
const MAC_1 = "02:00:00:77:00:01";
const MAC_2 = "02:00:00:77:00:02";
const GROUP = "239.77.0.1";
const BUN = join(import.meta.dir, "../../node_modules/.bin/bun");
const PEER = join(import.meta.dir, "ha-net-peer.ts");
const EVENT_TIMEOUT_MS = 5000;

type Message = Record<string, unknown> & { event?: string; id?: number; name?: string; hex?: string; atNs?: number; error?: string };

/** A process whose output lines are kept and can be awaited; stopped by PID. */
class LineProcess {
  readonly lines: string[] = [];
  readonly errorLines: string[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(readonly label: string, readonly proc: Subprocess<"pipe", "pipe", "pipe">) {
    void this.#collect(proc.stdout, this.lines);
    void this.#collect(proc.stderr, this.errorLines);
  }

  static start(label: string, argv: string[]): LineProcess {
    const p = new LineProcess(label, Bun.spawn(argv, { stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    processes.push(p);
    return p;
  }

  /** Resolves with `probe()` once it is defined, re-checked at every new line; rejects after `timeoutMs`. */
  waitFor<T>(probe: () => T | undefined, what: string, timeoutMs = EVENT_TIMEOUT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const value = probe();
        if (value === undefined) return false;
        cleanup();
        resolve(value);
        return true;
      };
      const timer = setTimeout(() => {
        cleanup();
        const state = this.proc.exitCode !== null || this.proc.signalCode !== null ? `exited (code ${this.proc.exitCode}, signal ${this.proc.signalCode})` : "running";
        reject(new Error(`${this.label} (${state}): no ${what} within ${timeoutMs} ms; stdout tail: ${this.lines.slice(-2).join(" | ").slice(0, 600)}; stderr: ${this.errorLines.join(" | ")}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      if (!check()) this.#waiters.add(check);
    });
  }

  /** Resolves with the first stdout line (old or new) satisfying `match`. */
  waitLine(match: (line: string) => boolean, timeoutMs = EVENT_TIMEOUT_MS): Promise<string> {
    return this.waitFor(() => this.lines.find(match), "matching line", timeoutMs);
  }

  /** SIGTERM, then SIGKILL after a grace period; resolves once the process has exited. */
  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 2000);
    await this.proc.exited;
    clearTimeout(timer);
  }

  async #collect(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of stream) {
      rest += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = rest.indexOf("\n")) >= 0) {
        into.push(rest.slice(0, nl));
        rest = rest.slice(nl + 1);
      }
      for (const waiter of [...this.#waiters]) waiter();
    }
  }
}

/** A ha-net-peer.ts process in a namespace, spoken to in JSON lines. */
class Peer extends LineProcess {
  #nextId = 1;

  static async open(ns: string, label: string): Promise<Peer> {
    const peer = new Peer(label, Bun.spawn(["ip", "netns", "exec", ns, BUN, PEER], { stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
    processes.push(peer);
    await peer.waitLine((l) => l.includes('"event":"ready"'), 15_000);
    return peer;
  }

  /** Sends a command and resolves with its reply; rejects on an `error` reply or after the timeout. */
  async call(op: string, args: Record<string, unknown> = {}, timeoutMs = EVENT_TIMEOUT_MS): Promise<Message> {
    const id = this.#nextId++;
    this.proc.stdin.write(`${JSON.stringify({ id, op, ...args })}\n`);
    this.proc.stdin.flush();
    const prefix = `{"id":${id}`;
    const reply = JSON.parse(await this.waitLine((l) => l.startsWith(prefix) && (l[prefix.length] === "," || l[prefix.length] === "}"), timeoutMs)) as Message;
    if (reply.error !== undefined) throw new Error(`${this.label} ${op}: ${reply.error}`);
    return reply;
  }

  /** Every event received so far on socket or line `name`. */
  events(name: string): Message[] {
    return this.lines.filter((l) => l.startsWith('{"event"')).map((l) => JSON.parse(l) as Message).filter((m) => m.name === name);
  }

  /** Resolves with event number `index` (from 0) on `name`. */
  eventAt(name: string, index: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<Message> {
    return this.waitFor(() => this.events(name)[index], `event #${index} on "${name}"`, timeoutMs);
  }

  /** Resolves with the first event on `name` carrying `hex`. */
  async event(name: string, hex: string, timeoutMs = EVENT_TIMEOUT_MS): Promise<Message> {
    const line = await this.waitLine((l) => l.startsWith('{"event"') && l.includes(`"name":"${name}"`) && l.includes(`"hex":"${hex}"`), timeoutMs);
    return JSON.parse(line) as Message;
  }
}

const processes: LineProcess[] = [];
const latencies = { udpOneWayUs: [] as number[], udpRoundTripUs: [] as number[], serialOneWayUs: [] as number[], serialRoundTripUs: [] as number[] };
const dir = join(TESTBED_ROOT, `${process.pid}-hnet`);
let a: Peer;
let b: Peer;

const toHex = (text: string) => Buffer.from(text).toString("hex");
const inA = (argv: string[]) => must(["ip", "netns", "exec", NS_A, ...argv]);
const inB = (argv: string[]) => must(["ip", "netns", "exec", NS_B, ...argv]);

/** The lladdr B's neighbour table holds for `address` on hb0, or "" for none. */
function neighbourMac(address: string): string {
  return /lladdr (\S+)/.exec(inB(["ip", "neigh", "show", address, "dev", "hb0"]))?.[1] ?? "";
}

beforeAll(async () => {
  await cleanupStaleTestbeds();
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "owner"), `${process.pid} ${processStartTime(process.pid)}\n`);
  for (const ns of [NS_A, NS_B]) {
    must(["ip", "netns", "add", ns]);
    must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    // No IPv6 (no DAD, no router solicitations), and arp_notify off so that the kernel itself
    // announces nothing when a MAC changes: the only announcement is the one under test.
    must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1",
      "net.ipv4.conf.all.arp_notify=0", "net.ipv4.conf.default.arp_notify=0"]);
  }
  for (const [dev, subnet] of [["hb0", "10.77.0"], ["hb1", "10.78.0"]] as const) {
    must(["ip", "link", "add", dev, "netns", NS_A, "type", "veth", "peer", "name", dev, "netns", NS_B]);
    must(["ip", "-n", NS_A, "addr", "add", `${subnet}.1/24`, "dev", dev]);
    must(["ip", "-n", NS_B, "addr", "add", `${subnet}.2/24`, "dev", dev]);
  }
  must(["ip", "-n", NS_A, "link", "set", "dev", "hb0", "address", MAC_1]);
  for (const ns of [NS_A, NS_B]) for (const dev of ["hb0", "hb1"]) must(["ip", "-n", ns, "link", "set", dev, "up"]);
  [a, b] = await Promise.all([Peer.open(NS_A, "peer A"), Peer.open(NS_B, "peer B")]);
}, 60_000);

afterAll(async () => {
  const problems: string[] = [];
  for (const p of processes) await p.stop();
  for (const ns of [NS_A, NS_B]) {
    const pids = run(["ip", "netns", "pids", ns]).stdout.split("\n").filter((l) => /^\d+$/.test(l)).map(Number);
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    const r = run(["ip", "netns", "del", ns]);
    if (r.code !== 0 && !r.stderr.includes("No such file")) problems.push(`Cannot delete namespace "${ns}": ${r.stderr.trim()}`);
  }
  rmSync(dir, { recursive: true, force: true });
  const left = run(["ip", "netns", "list"]).stdout.split("\n").filter((l) => l.startsWith(RUN));
  if (left.length > 0) problems.push(`Namespaces left behind: ${left.join(", ")}`);
  const us = (xs: number[]) => xs.length === 0 ? "-" : `median ${median(xs).toFixed(0)} µs, max ${Math.max(...xs).toFixed(0)} µs, n=${xs.length}`;
  console.log(`ha-net latencies: UDP one-way ${us(latencies.udpOneWayUs)}; UDP round trip ${us(latencies.udpRoundTripUs)}; `
    + `serial one-way ${us(latencies.serialOneWayUs)}; serial round trip ${us(latencies.serialRoundTripUs)}`);
  if (problems.length > 0) throw new Error(problems.join("; "));
}, 30_000);

function median(xs: number[]): number {
  const sorted = [...xs].sort((x, y) => x - y);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

describe("createBunHaNet in two namespaces", () => {
  test("heartbeat-sized unicast datagrams cross both ways between device-bound sockets", async () => {
    await a.call("udp", { name: "ua", options: { address: A0, port: 6940, device: "hb0" } });
    await b.call("udp", { name: "ub", options: { address: B0, port: 6940, device: "hb0" }, echo: true });
    for (let i = 0; i < 20; i++) {
      const hex = toHex(`heartbeat ${i} `.padEnd(180, "."));
      const sent = await a.call("send", { name: "ua", hex, address: B0, port: 6940 });
      expect(sent.ok).toBe(true);
      const atB = await b.event("ub", hex);
      const back = await a.event("ua", hex);
      expect(atB.from).toEqual({ address: A0, port: 6940 });
      expect(back.from).toEqual({ address: B0, port: 6940 });
      latencies.udpOneWayUs.push((atB.atNs! - (sent.atNs as number)) / 1000);
      latencies.udpRoundTripUs.push((back.atNs! - (sent.atNs as number)) / 1000);
    }
    expect(latencies.udpOneWayUs.every((us) => us > 0)).toBe(true);
  });

  test("send returns false instead of throwing when the kernel refuses, and opening names what failed", async () => {
    await a.call("udp", { name: "free", options: { address: A0, port: 6949 } });
    // No route to 192.0.2.1 in A (ENETUNREACH); "nowhere" is not an address (EINVAL).
    expect((await a.call("send", { name: "free", hex: "00", address: "192.0.2.1", port: 9 })).ok).toBe(false);
    expect((await a.call("send", { name: "free", hex: "00", address: "nowhere", port: 9 })).ok).toBe(false);
    // To a port nothing listens on: B's echo socket must see only what the next tests send.
    expect((await a.call("send", { name: "free", hex: "00", address: B0, port: 6959 })).ok).toBe(true);
    await expect(a.call("udp", { name: "bad", options: { address: "0.0.0.0", port: 6950, device: "nope0" } })).rejects.toThrow('Cannot open UDP socket "0.0.0.0:6950" on "nope0": No such device');
    await expect(a.call("udp", { name: "dup", options: { address: A0, port: 6949 } })).rejects.toThrow('Cannot open UDP socket "10.77.0.1:6949": Address already in use');
  });

  test("a broadcast reaches the wildcard socket bound to its device only, and loops back to the sender", async () => {
    await a.call("udp", { name: "ba0", options: { address: "0.0.0.0", port: 6941, device: "hb0", broadcast: true } });
    await a.call("udp", { name: "ba1", options: { address: "0.0.0.0", port: 6941, device: "hb1", broadcast: true } });
    await b.call("udp", { name: "bb0", options: { address: "0.0.0.0", port: 6941, device: "hb0" } });
    await b.call("udp", { name: "bb1", options: { address: "0.0.0.0", port: 6941, device: "hb1" } });
    const subnet = toHex("broadcast to 10.77.0.255");
    const limited = toHex("broadcast to 255.255.255.255");
    expect((await a.call("send", { name: "ba0", hex: subnet, address: "10.77.0.255", port: 6941 })).ok).toBe(true);
    expect((await a.call("send", { name: "ba0", hex: limited, address: "255.255.255.255", port: 6941 })).ok).toBe(true);
    expect((await b.event("bb0", subnet)).from).toEqual({ address: A0, port: 6941 });
    await b.event("bb0", limited);
    // Linux loops a broadcast back to the sender's matching sockets: the engine must ignore its own heartbeats.
    await a.event("ba0", subnet);
    // Had hb1's socket matched, it would have been handed its copy in the same pass; a marker
    // sent afterwards over hb1 shows what it got before.
    const marker = toHex("marker on hb1");
    await a.call("send", { name: "ba1", hex: marker, address: "10.78.0.255", port: 6941 });
    await b.event("bb1", marker);
    expect(b.events("bb1").map((e) => e.hex)).toEqual([marker]);
    await a.event("ba1", marker);
    expect(a.events("ba1").map((e) => e.hex)).toEqual([marker]);
    // Without the broadcast option the kernel refuses (EACCES).
    expect((await b.call("send", { name: "bb0", hex: subnet, address: "10.77.0.255", port: 6941 })).ok).toBe(false);
  });

  test("a multicast datagram reaches the group on the sender's device only, with no loopback", async () => {
    for (const [peer, prefix] of [[a, "ma"], [b, "mb"]] as const) {
      await peer.call("udp", { name: `${prefix}0`, options: { address: "0.0.0.0", port: 6942, device: "hb0", multicastGroup: GROUP } });
      await peer.call("udp", { name: `${prefix}1`, options: { address: "0.0.0.0", port: 6942, device: "hb1", multicastGroup: GROUP } });
    }
    const hello = toHex("multicast from A");
    expect((await a.call("send", { name: "ma0", hex: hello, address: GROUP, port: 6942 })).ok).toBe(true);
    expect((await b.event("mb0", hello)).from).toEqual({ address: A0, port: 6942 });
    // A looped copy would reach A before B's reply does.
    const reply = toHex("multicast from B");
    await b.call("send", { name: "mb0", hex: reply, address: GROUP, port: 6942 });
    await a.event("ma0", reply);
    expect(a.events("ma0").map((e) => e.hex)).toEqual([reply]);
    const marker = toHex("marker on hb1");
    await a.call("send", { name: "ma1", hex: marker, address: GROUP, port: 6942 });
    expect((await b.event("mb1", marker)).from).toEqual({ address: A1, port: 6942 });
    expect(b.events("mb1").map((e) => e.hex)).toEqual([marker]);
  });

  test("an ARP announcement moves the neighbour's existing entry to the new MAC", async () => {
    expect((await b.call("ping", { address: A0, timeoutMs: 2000 })).result).toBe(true);
    expect(neighbourMac(A0)).toBe(MAC_1);
    inA(["ip", "link", "set", "dev", "hb0", "address", MAC_2]);
    // arp_notify is off: changing the MAC told B nothing.
    expect(neighbourMac(A0)).toBe(MAC_1);
    const monitor = LineProcess.start("ip monitor neigh", ["ip", "-n", NS_B, "monitor", "neigh"]);
    try {
      // A permanent entry added by hand proves the monitor is listening before we announce.
      inB(["ip", "neigh", "replace", "10.77.0.200", "lladdr", "02:00:00:00:00:c8", "dev", "hb0", "nud", "permanent"]);
      await monitor.waitLine((l) => l.includes("10.77.0.200"));
      await a.call("arp", { device: "hb0", address: A0 });
      // RFC 5227 announcements update an existing entry even with arp_accept off.
      await monitor.waitLine((l) => l.startsWith(`${A0} dev hb0 lladdr ${MAC_2}`));
      expect(neighbourMac(A0)).toBe(MAC_2);
    } finally {
      await monitor.stop();
    }
  });

  test("an ARP announcement on a device that is down or missing is refused", async () => {
    inA(["ip", "link", "set", "dev", "hb1", "down"]);
    try {
      await expect(a.call("arp", { device: "hb1", address: A1 })).rejects.toThrow('Cannot announce "10.78.0.1" on "hb1": Network is down');
    } finally {
      inA(["ip", "link", "set", "dev", "hb1", "up"]);
    }
    await expect(a.call("arp", { device: "nope0", address: A1 })).rejects.toThrow('Cannot announce "10.78.0.1" on "nope0": no such device');
  });

  test("a serial line in raw mode carries framed bytes both ways and drops writes when full", async () => {
    const socat = LineProcess.start("socat", ["socat", "-d", "-d", `pty,raw,echo=0,link=${dir}/a`, `pty,raw,echo=0,link=${dir}/b`]);
    try {
      await waitStderr(socat, "starting data transfer loop");
      // Cooked mode first (echo, canonical, CR/NL and XON/XOFF handling), so raw mode is openSerial's doing.
      must(["stty", "-F", `${dir}/a`, "sane"]);
      expect(sttyFlags(`${dir}/a`)).toContain("icanon");
      await a.call("serial", { name: "sa", device: `${dir}/a`, baud: 57600 });
      await b.call("serial", { name: "sb", device: `${dir}/b`, baud: 57600, echo: true });
      const flags = sttyFlags(`${dir}/a`);
      for (const flag of ["57600", "-icanon", "-echo", "-isig", "-iexten", "-ixon", "-ixoff", "-icrnl", "-opost", "cs8", "-parenb", "-cstopb", "-crtscts", "clocal", "cread"]) {
        expect(flags).toContain(flag);
      }
      let echoed = "";
      for (let i = 0; i < 20; i++) {
        // Payload bytes sweep every value, control characters (^C, ^D, ^Q, ^S, CR, DEL) included.
        const payload = Uint8Array.from({ length: 120 }, (_, j) => (i * 120 + j) & 0xff);
        const frame = new Uint8Array(serialFrameBytes(payload.length));
        const hex = Buffer.from(frame.subarray(0, encodeSerialFrame(payload, payload.length, frame))).toString("hex");
        // Every earlier frame came back whole, so B's next chunk is this frame's first.
        const chunksAtB = b.events("sb").length;
        const sent = await a.call("write", { name: "sa", hex });
        expect(sent.ok).toBe(true);
        const expected = echoed + hex;
        const firstAtB = await b.eventAt("sb", chunksAtB);
        const done = await a.waitFor(() => concatenated(a, "sa").length >= expected.length ? a.events("sa").at(-1) : undefined, "echo of the frame");
        echoed = concatenated(a, "sa");
        expect(echoed).toBe(expected);
        latencies.serialOneWayUs.push((firstAtB.atNs! - (sent.atNs as number)) / 1000);
        latencies.serialRoundTripUs.push((done.atNs! - (sent.atNs as number)) / 1000);
      }
      expect(concatenated(b, "sb")).toBe(echoed);
      // With B's side closed nobody drains the pty pair: A's writes must be refused, at once.
      await b.call("close", { name: "sb" });
      const fill = await a.call("fill", { name: "sa", chunkBytes: 1024, maxBytes: 8 * 1024 * 1024 });
      expect(fill.refusedAfterBytes).not.toBeNull();
      expect(fill.elapsedMs as number).toBeLessThan(1000);
      await a.call("close", { name: "sa" });
    } finally {
      await socat.stop();
    }
  });

  test("a witness ping is true for an address that answers and false, within its timeout, for one that does not", async () => {
    expect((await b.call("ping", { address: A0, timeoutMs: 2000 })).result).toBe(true);
    const silent = await b.call("ping", { address: "10.77.0.99", timeoutMs: 500 });
    expect(silent.result).toBe(false);
    expect(silent.elapsedMs as number).toBeGreaterThanOrEqual(490);
    expect(silent.elapsedMs as number).toBeLessThan(1500);
    expect((await b.call("ping", { address: "-c", timeoutMs: 500 })).result).toBe(false);
    // The ping that timed out was killed: nothing but the peer is left in B.
    const deadline = Date.now() + 2000;
    let others: number[] = [];
    do {
      others = run(["ip", "netns", "pids", NS_B]).stdout.split("\n").filter((l) => /^\d+$/.test(l)).map(Number)
        .filter((pid) => pid !== b.proc.pid && aliveNotZombie(pid));
      if (others.length === 0) break;
      await Bun.sleep(20);
    } while (Date.now() < deadline);
    expect(others).toEqual([]);
  });
});

/** Everything peer `p` received on serial line `name`, as one hex string. */
function concatenated(p: Peer, name: string): string {
  return p.events(name).map((e) => e.hex).join("");
}

/** The words of `stty -a` for a tty: flags such as "-icanon", and the speed. */
function sttyFlags(device: string): string[] {
  return must(["stty", "-F", device, "-a"]).split(/[\s;]+/);
}

/** Resolves once `p` has written a line containing `text` to stderr; rejects early if it exits. */
async function waitStderr(p: LineProcess, text: string): Promise<void> {
  await Promise.race([
    p.waitFor(() => p.errorLines.find((l) => l.includes(text)), `"${text}" on stderr`),
    p.proc.exited.then((code) => Promise.reject(new Error(`${p.label} exited with ${code}: ${p.errorLines.join(" | ")}`))),
  ]);
}
