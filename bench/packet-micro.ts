/**
 * Micro-benchmark of the pure packet layer: decode + NAT rewrites on one reused buffer, in ns per
 * packet. Prints a table and one JSON line `{"bench":"packet-micro",...}`. Not part of the tests.
 * Run: `node_modules/.bin/bun bench/packet-micro.ts` (or `deno run bench/packet-micro.ts`).
 */

import { internetChecksum, pseudoHeaderSum, foldChecksum, writeIpv4HeaderChecksum } from "../src/core/packet/checksum.ts";
import { parseIpv4 } from "../src/core/packet/ipv4-address.ts";
import { DecodeFlags, DecodeResult, PacketView, decodeIpv4 } from "../src/core/packet/packet-view.ts";
import { rewriteDst, rewriteSrc, rewriteSrcDst } from "../src/core/packet/rewrite.ts";
import { VNET_HDR_LEN } from "../src/core/packet/virtio-net-hdr.ts";

const ITERATIONS = 2_000_000;
const ROUNDS = 7;

function addr(text: string): number {
  const value = parseIpv4(text);
  if (value === undefined) throw new Error(`Bad address "${text}"`);
  return value;
}

/** A valid IPv4/TCP packet of `totalLength` bytes at `offset` in a fresh buffer. */
function tcpPacket(totalLength: number, offset: number, partial: boolean): Uint8Array {
  const buf = new Uint8Array(offset + totalLength);
  const p = buf.subarray(offset);
  for (let i = 40; i < totalLength; i++) p[i] = (i * 31) & 0xff;
  p[0] = 0x45;
  p[2] = totalLength >>> 8;
  p[3] = totalLength;
  p[6] = 0x40;
  p[8] = 64;
  p[9] = 6;
  p.set([198, 51, 100, 7, 203, 0, 113, 10], 12);
  p.set([0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0xfa, 0xf0], 20);
  writeIpv4HeaderChecksum(p, 0, 20);
  const src = addr("198.51.100.7");
  const dst = addr("203.0.113.10");
  const check = partial
    ? foldChecksum(pseudoHeaderSum(src, dst, 6, totalLength - 20))
    : internetChecksum(p, 20, totalLength, pseudoHeaderSum(src, dst, 6, totalLength - 20));
  p[36] = check >>> 8;
  p[37] = check;
  return buf;
}

const servers = ["10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"].map(addr);
const vip = addr("203.0.113.10");
const local = addr("10.0.0.2");

/** A timed loop: runs `iterations` packets and returns how many failed to decode (must be 0). */
type Loop = (buf: Uint8Array, offset: number, flags: number, iterations: number) => number;

/** Best-of-ROUNDS ns per packet; each case has its own loop so call sites stay monomorphic. */
function measure(buf: Uint8Array, offset: number, flags: number, loop: Loop): number {
  let best = Infinity;
  for (let round = 0; round < ROUNDS; round++) {
    const started = performance.now();
    const failures = loop(buf, offset, flags, ITERATIONS);
    const ns = ((performance.now() - started) * 1e6) / ITERATIONS;
    if (failures !== 0) throw new Error(`Benchmark packets failed to decode: ${failures} failures`);
    if (round > 0 && ns < best) best = ns; // round 0 is warm-up
  }
  return best;
}

const decodeLoop: Loop = (buf, offset, flags, iterations) => {
  const view = new PacketView();
  const length = buf.length - offset;
  let failures = 0;
  for (let i = 0; i < iterations; i++) if (decodeIpv4(buf, offset, length, view, flags) !== DecodeResult.Ok) failures++;
  return failures;
};

const natLoop: Loop = (buf, offset, flags, iterations) => {
  const view = new PacketView();
  const length = buf.length - offset;
  let failures = 0;
  for (let i = 0; i < iterations; i++) {
    if (decodeIpv4(buf, offset, length, view, flags) !== DecodeResult.Ok) {
      failures++;
      continue;
    }
    // Forward (to a server) then reply (back from the VIP), as nat does for the two directions.
    rewriteDst(buf, view, servers[i & 3]!, 8080 + (i & 1));
    rewriteSrc(buf, view, vip, 80);
  }
  return failures;
};

const fullnatLoop: Loop = (buf, offset, flags, iterations) => {
  const view = new PacketView();
  const length = buf.length - offset;
  let failures = 0;
  for (let i = 0; i < iterations; i++) {
    if (decodeIpv4(buf, offset, length, view, flags) !== DecodeResult.Ok) {
      failures++;
      continue;
    }
    rewriteSrcDst(buf, view, local, 40000 + (i & 1023), servers[i & 3]!, 8080);
  }
  return failures;
};

const checksumLoop: Loop = (buf, offset, _flags, iterations) => {
  let sink = 0;
  for (let i = 0; i < iterations; i++) sink += internetChecksum(buf, offset + 20, buf.length);
  return sink < 0 ? 1 : 0;
};

const tcp64 = tcpPacket(64, 0, false);
const tcp1500 = tcpPacket(1500, 0, false);
const super64k = tcpPacket(65000, VNET_HDR_LEN, true);

const rows: Array<[string, string, number]> = [
  ["decode", "tcp 64 B", measure(tcp64, 0, DecodeFlags.None, decodeLoop)],
  ["decode + rewriteDst + rewriteSrc", "tcp 64 B", measure(tcp64, 0, DecodeFlags.None, natLoop)],
  ["decode + rewriteDst + rewriteSrc", "tcp 1500 B", measure(tcp1500, 0, DecodeFlags.None, natLoop)],
  ["decode + rewriteSrcDst (fullnat)", "tcp 64 B", measure(tcp64, 0, DecodeFlags.None, fullnatLoop)],
  ["decode + rewriteDst + rewriteSrc", "tcp 65000 B NEEDS_CSUM", measure(super64k, VNET_HDR_LEN, DecodeFlags.L4ChecksumPartial, natLoop)],
  ["full checksum (reference, not used)", "1480 B", measure(tcp1500, 0, DecodeFlags.None, checksumLoop)],
];

const runtime = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent ?? "unknown";
const lines = [`packet-micro (${runtime}), best of ${ROUNDS - 1} rounds x ${ITERATIONS} iterations`, ""];
lines.push(`${"operation".padEnd(38)}${"packet".padEnd(26)}ns/op`);
for (const [op, packet, ns] of rows) lines.push(`${op.padEnd(38)}${packet.padEnd(26)}${ns.toFixed(1)}`);
const summary = {
  bench: "packet-micro",
  runtime,
  decode_64_ns: round1(rows[0]![2]),
  nat_64_ns: round1(rows[1]![2]),
  nat_1500_ns: round1(rows[2]![2]),
  fullnat_64_ns: round1(rows[3]![2]),
  nat_super_65000_partial_ns: round1(rows[4]![2]),
  full_checksum_1480_ns: round1(rows[5]![2]),
};
lines.push("", JSON.stringify(summary));
console.log(lines.join("\n"));

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}
