/**
 * openTun against the real kernel, as root, inside a network namespace this file creates and
 * deletes: packets routed into the device are read out, a crafted echo reply written back makes
 * ping succeed, the device vanishes when its fd closes, and all of it works from a Worker.
 * The device is created directly inside the namespace (the opening thread setns()es there
 * first), so nothing touches the host's own network.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CLONE_NEWNET, O_RDONLY_CLOEXEC, inNamespace, must, run } from "./netns-thread.ts";
import { openTun, TUN_MAX_PACKET, type TunDevice, type TunOptions } from "../../src/platform/bun/tun-device.ts";

const NS = `tandem-tun-${process.pid}`;
const LOCAL = "10.200.0.1";
const REMOTE = "10.200.9.9";
const UDP_PORT = 5555;
const READ_DEADLINE_MS = 3000;
/** Opens a TUN device inside the test namespace and routes REMOTE/32 through it. */
function openInNamespace(options: TunOptions): TunDevice {
  const dev = inNamespace(NS, () => openTun(options));
  try {
    must(["ip", "-n", NS, "addr", "add", `${LOCAL}/32`, "dev", dev.name]);
    must(["ip", "netns", "exec", NS, "sysctl", "-qw", `net.ipv6.conf.${dev.name}.disable_ipv6=1`]);
    must(["ip", "-n", NS, "link", "set", "dev", dev.name, "up"]);
    must(["ip", "-n", NS, "route", "add", `${REMOTE}/32`, "dev", dev.name]);
    return dev;
  } catch (error) {
    dev.close();
    throw error;
  }
}

function deviceExists(name: string): boolean {
  return run(["ip", "-n", NS, "link", "show", "dev", name]).code === 0;
}

interface Ipv4 {
  protocol: number;
  src: string;
  dst: string;
  /** Offset of the L4 header in the buffer. */
  l4: number;
  /** Offset just past the IPv4 packet. */
  end: number;
}

const dotted = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** Decodes the IPv4 header at `o`, or undefined for anything else (IPv6 noise). */
function ipv4At(b: Uint8Array, o: number, length: number): Ipv4 | undefined {
  if (length - o < 20 || b[o]! >> 4 !== 4) return undefined;
  return { protocol: b[o + 9]!, src: dotted(b, o + 12), dst: dotted(b, o + 16), l4: o + (b[o]! & 0xf) * 4, end: o + ((b[o + 2]! << 8) | b[o + 3]!) };
}

/** RFC 1071 checksum over `b[start, end)`. */
function checksum(b: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if ((end - start) % 2 === 1) sum += b[end - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Reads packets until one satisfies `match`; fails after READ_DEADLINE_MS. */
function readUntil(dev: TunDevice, buf: Uint8Array, match: (n: number) => boolean): number {
  const deadline = performance.now() + READ_DEADLINE_MS;
  for (;;) {
    const n = dev.read(buf);
    if (n < 0) throw new Error(`TUN device "${dev.name}" is gone (errno ${dev.lastErrno})`);
    if (n > 0 && match(n)) return n;
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`No matching packet on "${dev.name}" within ${READ_DEADLINE_MS} ms`);
    if (n === 0) dev.waitReadable(Math.ceil(left));
  }
}

/** Turns the echo request at `o` into an echo reply in place, with both checksums recomputed. */
function makeEchoReply(b: Uint8Array, o: number, ip: Ipv4): void {
  const src = b.slice(o + 12, o + 16);
  b.copyWithin(o + 12, o + 16, o + 20);
  b.set(src, o + 16);
  b[o + 8] = 64;
  b[o + 10] = b[o + 11] = 0;
  const ipSum = checksum(b, o, ip.l4);
  b[o + 10] = ipSum >> 8;
  b[o + 11] = ipSum & 0xff;
  b[ip.l4] = 0; // echo reply
  b[ip.l4 + 2] = b[ip.l4 + 3] = 0;
  const icmpSum = checksum(b, ip.l4, ip.end);
  b[ip.l4 + 2] = icmpSum >> 8;
  b[ip.l4 + 3] = icmpSum & 0xff;
}

beforeAll(() => {
  run(["ip", "netns", "del", NS]);
  must(["ip", "netns", "add", NS]);
  must(["ip", "-n", NS, "link", "set", "lo", "up"]);
});

afterAll(() => {
  run(["ip", "netns", "del", NS]);
});

const variants: { label: string; options: Omit<TunOptions, "name"> }[] = [
  { label: "plain", options: {} },
  { label: "with a virtio-net header", options: { vnetHdr: true } },
  { label: "with a virtio-net header and offloads", options: { vnetHdr: true, offload: true } },
];

describe("openTun", () => {
  variants.forEach(({ label, options }, i) => {
    test(`a device ${label} delivers a routed UDP datagram and a ping, takes an echo reply back, and vanishes on close`, async () => {
      const name = `tdt${process.pid % 100000}v${i}`;
      const dev = openInNamespace({ name, ...options });
      let ping: ReturnType<typeof Bun.spawn> | undefined;
      try {
        expect(dev.name).toBe(name);
        expect(dev.vnetHdr).toBe(options.vnetHdr ?? false);
        const o = dev.vnetHdr ? 10 : 0;
        const buf = new Uint8Array(TUN_MAX_PACKET);

        must(["ip", "netns", "exec", NS, "bash", "-c", `printf tandem > /dev/udp/${REMOTE}/${UDP_PORT}`]);
        const n = readUntil(dev, buf, (len) => ipv4At(buf, o, len)?.protocol === 17);
        const udp = ipv4At(buf, o, n)!;
        expect(udp.dst).toBe(REMOTE);
        expect((buf[udp.l4 + 2]! << 8) | buf[udp.l4 + 3]!).toBe(UDP_PORT);
        expect(new TextDecoder().decode(buf.subarray(udp.l4 + 8, udp.end))).toBe("tandem");
        expect(udp.end).toBe(n);
        // With checksum offload the kernel leaves the UDP checksum to us: NEEDS_CSUM (flag 1).
        if (dev.vnetHdr) expect(buf[0]! & 1).toBe(options.offload ? 1 : 0);

        ping = Bun.spawn(["ip", "netns", "exec", NS, "ping", "-c1", "-W2", REMOTE], { stdout: "ignore", stderr: "pipe" });
        const m = readUntil(dev, buf, (len) => {
          const ip = ipv4At(buf, o, len);
          return ip?.protocol === 1 && buf[ip.l4] === 8;
        });
        const echo = ipv4At(buf, o, m)!;
        expect(echo.dst).toBe(REMOTE);
        expect(echo.src).toBe(LOCAL);
        makeEchoReply(buf, o, echo);
        if (dev.vnetHdr) buf.fill(0, 0, 10); // no offload metadata: a plain, fully checksummed packet
        expect(dev.write(buf, m)).toBe(m);
        expect(await ping.exited).toBe(0);
      } finally {
        ping?.kill();
        dev.close();
      }
      expect(dev.read(new Uint8Array(64))).toBe(-1);
      expect(deviceExists(name)).toBe(false);
    });
  });

  test("a second non-multi-queue open of a held name fails with a clear error", () => {
    const name = `tdt${process.pid % 100000}b`;
    const dev = inNamespace(NS, () => openTun({ name }));
    try {
      expect(() => inNamespace(NS, () => openTun({ name }))).toThrow(`Cannot create TUN device "${name}": Device or resource busy`);
    } finally {
      dev.close();
    }
  });

  test("invalid options are refused before the kernel is asked", () => {
    expect(() => openTun({ name: "a-name-far-too-long" })).toThrow('Cannot create TUN device "a-name-far-too-long": a device name has 1 to 15 bytes');
    expect(() => openTun({ name: "t0", offload: true })).toThrow('Cannot create TUN device "t0": offloads need vnetHdr');
  });

  test("a device deleted under its reader reads as gone", () => {
    const name = `tdt${process.pid % 100000}d`;
    const dev = inNamespace(NS, () => openTun({ name }));
    try {
      must(["ip", "-n", NS, "link", "del", "dev", name]);
      expect(dev.waitReadable(1000)).toBe(true);
      expect(dev.read(new Uint8Array(2048))).toBe(-1);
      expect(dev.write(new Uint8Array(40), 40)).toBe(-1);
    } finally {
      dev.close();
    }
  });

  test("multi-queue devices take one queue per open and vanish with the last one", () => {
    const name = `tdt${process.pid % 100000}q`;
    const first = inNamespace(NS, () => openTun({ name, multiQueue: true }));
    let second: TunDevice | undefined;
    try {
      second = inNamespace(NS, () => openTun({ name, multiQueue: true }));
      expect(second.fd).not.toBe(first.fd);
      first.close();
      expect(deviceExists(name)).toBe(true);
    } finally {
      first.close();
      second?.close();
    }
    expect(deviceExists(name)).toBe(false);
  });

  test("a Worker opens its own device and answers a ping through it", async () => {
    const name = `tdt${process.pid % 100000}w`;
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(URL.createObjectURL(new Blob([workerSource()], { type: "text/javascript" })));
    let ping: ReturnType<typeof Bun.spawn> | undefined;
    try {
      const messages = workerMessages(worker);
      worker.postMessage({ ns: NS, name, stop });
      expect(await messages.next()).toEqual({ opened: name });
      must(["ip", "-n", NS, "addr", "add", `${LOCAL}/32`, "dev", name]);
      must(["ip", "-n", NS, "link", "set", "dev", name, "up"]);
      must(["ip", "-n", NS, "route", "add", `${REMOTE}/32`, "dev", name]);
      ping = Bun.spawn(["ip", "netns", "exec", NS, "ping", "-c3", "-i0.2", "-W2", REMOTE], { stdout: "ignore", stderr: "pipe" });
      expect(await ping.exited).toBe(0);
      Atomics.store(stop, 0, 1);
      const done = (await messages.next()) as { closed: boolean; answered: number };
      expect(done.closed).toBe(true);
      expect(done.answered).toBeGreaterThanOrEqual(3);
      expect(deviceExists(name)).toBe(false);
    } finally {
      ping?.kill();
      Atomics.store(stop, 0, 1);
      worker.terminate();
    }
  });

  test("a read and write echo loop answers a two-second ping flood", async () => {
    const dev = openInNamespace({ name: `tdt${process.pid % 100000}f` });
    const flood = Bun.spawn(["ip", "netns", "exec", NS, "ping", "-f", "-q", "-l", "64", "-w", "2", REMOTE], { stdout: "pipe", stderr: "pipe" });
    try {
      const buf = new Uint8Array(TUN_MAX_PACKET);
      let answered = 0;
      let emptyReads = 0;
      let first = 0;
      let last = 0;
      const cpuBefore = process.cpuUsage();
      const start = performance.now();
      // Bounded: ping stops after 2 s; the loop ends once the device stays idle for 300 ms (this
      // synchronous loop keeps the event loop, hence ping's exit status, waiting), or after 6 s.
      while (performance.now() - start < 6000) {
        const n = dev.read(buf);
        if (n > 0) {
          const ip = ipv4At(buf, 0, n);
          if (ip?.protocol !== 1 || buf[ip.l4] !== 8) continue;
          makeEchoReply(buf, 0, ip);
          if (dev.write(buf, n) === n) answered++;
          last = performance.now();
          if (first === 0) first = last;
        } else if (n === 0) {
          emptyReads++;
          if (!dev.waitReadable(300) && answered > 0) break;
        } else {
          break;
        }
      }
      const seconds = (last - first) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      expect(await flood.exited).toBe(0);
      const summary = (await new Response(flood.stdout).text()).match(/(\d+) packets transmitted, (\d+) received/);
      const perSecond = Math.round(answered / seconds);
      const cpuUsPerPacket = (cpu.user + cpu.system) / Math.max(answered, 1);
      console.log(`ping flood: ${answered} echoes answered in ${seconds.toFixed(2)} s = ${perSecond}/s; ${cpuUsPerPacket.toFixed(2)} us CPU per read+write; ${emptyReads} empty reads; ping: ${summary?.[0]}`);
      expect(answered).toBeGreaterThan(1000);
      // Every request ping sent was answered, except at most the preload still in flight at its deadline.
      expect(Number(summary?.[2])).toBeGreaterThan(Number(summary?.[1]) - 64);
    } finally {
      flood.kill();
      dev.close();
    }
  });
});

/** Reads a Worker's messages one at a time. */
function workerMessages(worker: Worker): { next(): Promise<unknown> } {
  const queue: unknown[] = [];
  const waiting: ((value: unknown) => void)[] = [];
  worker.onmessage = (event) => {
    const w = waiting.shift();
    if (w) w(event.data);
    else queue.push(event.data);
  };
  worker.onerror = (event) => {
    const w = waiting.shift();
    if (w) w({ error: String(event.message) });
    else queue.push({ error: String(event.message) });
  };
  return {
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise((resolve) => waiting.push(resolve))),
  };
}

/** The Worker: enters the namespace on its own thread, opens the device, echoes pings until told to stop. */
function workerSource(): string {
  const module = join(import.meta.dir, "..", "..", "src", "platform", "bun", "tun-device.ts");
  return `
import { dlopen } from "bun:ffi";
import { openTun } from ${JSON.stringify(module)};
const libc = dlopen("libc.so.6", {
  open: { args: ["cstring", "i32"], returns: "i32" },
  setns: { args: ["i32", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
}).symbols;
self.onmessage = ({ data: { ns, name, stop } }) => {
  const fd = libc.open("/run/netns/" + ns, ${O_RDONLY_CLOEXEC});
  if (fd < 0 || libc.setns(fd, ${CLONE_NEWNET}) !== 0) throw new Error("Cannot enter namespace " + ns);
  libc.close(fd);
  const dev = openTun({ name });
  postMessage({ opened: dev.name });
  const buf = new Uint8Array(2048);
  let answered = 0;
  while (Atomics.load(stop, 0) === 0) {
    const n = dev.read(buf);
    if (n === 0) { dev.waitReadable(20); continue; }
    if (n < 0) break;
    if (buf[0] >> 4 !== 4 || buf[9] !== 1) continue;
    const l4 = (buf[0] & 15) * 4;
    if (buf[l4] !== 8) continue;
    const src = buf.slice(12, 16);
    buf.copyWithin(12, 16, 20);
    buf.set(src, 16);
    buf[l4] = 0;
    // Incremental checksum update for type 8 -> 0 (RFC 1624): add 0x0800 with end-around carry.
    let sum = ((buf[l4 + 2] << 8) | buf[l4 + 3]) + 0x0800;
    sum = (sum & 0xffff) + (sum >>> 16);
    buf[l4 + 2] = sum >> 8;
    buf[l4 + 3] = sum & 0xff;
    if (dev.write(buf, n) === n) answered++;
  }
  dev.close();
  postMessage({ closed: true, answered });
};
`;
}
