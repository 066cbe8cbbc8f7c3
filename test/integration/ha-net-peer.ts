/**
 * One side of test/integration/ha-net.test.ts, run as `ip netns exec NS bun ha-net-peer.ts`:
 * drives createBunHaNet as told by JSON lines on stdin and writes JSON lines on stdout: one
 * reply per command (`{ id, ... }` or `{ id, error }`) and one event per datagram or serial chunk
 * received. Times are clock_gettime(CLOCK_MONOTONIC) in nanoseconds, one clock for every
 * namespace on the host, so the test can subtract a sender's time from a receiver's (Bun's
 * process.hrtime counts from the process's own start, so it cannot be compared across peers). Sockets and lines opened with
 * `echo` send back what they receive, from inside the receive handler. Exits when stdin closes.
 */

import { dlopen, ptr } from "bun:ffi";
import type { DatagramOptions, DatagramSocket, SerialLine } from "../../src/core/ports.ts";
import { createBunHaNet } from "../../src/platform/bun/ha-net.ts";

interface Command {
  id: number;
  op: "udp" | "send" | "close" | "serial" | "write" | "fill" | "arp" | "ping";
  name?: string;
  options?: DatagramOptions;
  echo?: boolean;
  hex?: string;
  address?: string;
  port?: number;
  device?: string;
  baud?: number;
  timeoutMs?: number;
  chunkBytes?: number;
  maxBytes?: number;
}

const net = createBunHaNet();
const sockets = new Map<string, DatagramSocket>();
const lines = new Map<string, SerialLine>();
const CLOCK_MONOTONIC = 1;
const libc = dlopen("libc.so.6", { clock_gettime: { args: ["i32", "ptr"], returns: "i32" } }).symbols;
const timespec = new BigInt64Array(new ArrayBuffer(16));
const timespecPtr = ptr(timespec);
const nowNs = () => {
  libc.clock_gettime(CLOCK_MONOTONIC, timespecPtr);
  return Number(timespec[0]!) * 1e9 + Number(timespec[1]!);
};
const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
const emit = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);

function need<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`Missing "${what}"`);
  return value;
}

async function handle(c: Command): Promise<object> {
  const name = c.name ?? "";
  switch (c.op) {
    case "udp": {
      const socket: DatagramSocket = await net.openDatagram(need(c.options, "options"), (bytes, from) => {
        const atNs = nowNs();
        if (c.echo) socket.send(bytes, bytes.length, from.address, from.port);
        emit({ event: "udp", name, from, hex: hex(bytes), atNs });
      });
      sockets.set(name, socket);
      return {};
    }
    case "send": {
      const bytes = Buffer.from(need(c.hex, "hex"), "hex");
      const atNs = nowNs();
      return { ok: need(sockets.get(name), name).send(bytes, bytes.length, need(c.address, "address"), need(c.port, "port")), atNs };
    }
    case "close":
      sockets.get(name)?.close();
      lines.get(name)?.close();
      return {};
    case "serial": {
      const line: SerialLine = await net.openSerial(need(c.device, "device"), need(c.baud, "baud"), (chunk) => {
        const atNs = nowNs();
        if (c.echo) line.write(chunk, chunk.length);
        emit({ event: "serial", name, hex: hex(chunk), atNs });
      });
      lines.set(name, line);
      return {};
    }
    case "write": {
      const bytes = Buffer.from(need(c.hex, "hex"), "hex");
      const atNs = nowNs();
      return { ok: need(lines.get(name), name).write(bytes, bytes.length), atNs };
    }
    case "fill": {
      // Writes until the line refuses; must return at once, never block.
      const line = need(lines.get(name), name);
      const chunk = new Uint8Array(need(c.chunkBytes, "chunkBytes")).fill(0x55);
      const start = performance.now();
      let written = 0;
      while (written < need(c.maxBytes, "maxBytes") && line.write(chunk, chunk.length)) written += chunk.length;
      return { refusedAfterBytes: written < need(c.maxBytes, "maxBytes") ? written : null, elapsedMs: performance.now() - start };
    }
    case "arp":
      await net.announceArp(need(c.device, "device"), need(c.address, "address"));
      return {};
    case "ping": {
      const start = performance.now();
      const result = await net.ping(need(c.address, "address"), need(c.timeoutMs, "timeoutMs"));
      return { result, elapsedMs: performance.now() - start };
    }
  }
}

emit({ event: "ready", pid: process.pid });
const decoder = new TextDecoder();
let pending = "";
for await (const chunk of Bun.stdin.stream()) {
  pending += decoder.decode(chunk, { stream: true });
  let nl: number;
  while ((nl = pending.indexOf("\n")) >= 0) {
    const text = pending.slice(0, nl);
    pending = pending.slice(nl + 1);
    if (text.trim() === "") continue;
    const command = JSON.parse(text) as Command;
    handle(command).then(
      (reply) => emit({ id: command.id, ...reply }),
      (error: unknown) => emit({ id: command.id, error: (error as Error)?.message ?? String(error) }),
    );
  }
}
for (const socket of sockets.values()) socket.close();
for (const line of lines.values()) line.close();
process.exit(0);
