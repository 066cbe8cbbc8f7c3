import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { DROP_REASON_SLOTS, DropCounters, DropReason, dropReasonNames } from "../../../../src/core/packet/drop-reason.ts";
import { icmpEchoReply } from "../../../../src/core/packet/icmp-echo-reply.ts";
import { DecodeFlags, DecodeResult, PacketView, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import { decrementTtl, rewriteDst, rewriteIcmpErrorInner, rewriteSrc, rewriteSrcDst } from "../../../../src/core/packet/rewrite.ts";
import { VirtioNetHdr, decodeVirtioNetHdr } from "../../../../src/core/packet/virtio-net-hdr.ts";
import { refChecksum, refSum } from "./packet-builder.ts";
import { Prng, seedFrom } from "./prng.ts";
import { build, randomRecipe } from "./random-packets.ts";

const TOTAL = 1_000_000;
const MAX_LENGTH = 1600;
const GUARD = 64;
const JITTER = 16;
const ARENA = GUARD + JITTER + MAX_LENGTH + GUARD;
const FILL_A = 0xa5;
const FILL_B = 0x5a;

/** Fields compared between two decodes of the same bytes with different surroundings. */
const VIEW_FIELDS = [
  "l3Offset", "headerLength", "totalLength", "end", "id", "dontFragment", "moreFragments", "fragmentOffset", "ttl",
  "protocol", "src", "dst", "l4Offset", "l4Length", "l4ChecksumOffset", "l4ChecksumPartial", "srcPort", "dstPort",
  "tcpFlags", "tcpSeq", "tcpAck", "tcpHeaderLength", "udpLength", "icmpType", "icmpCode", "icmpId", "icmpSeq",
  "isIcmpError", "innerOffset", "innerHeaderLength", "innerProtocol", "innerSrc", "innerDst", "innerL4Offset",
  "innerSrcPort", "innerDstPort", "innerIcmpType", "innerL4ChecksumOffset",
] as const;

function sameView(a: PacketView, b: PacketView): string | undefined {
  for (const key of VIEW_FIELDS) if (a[key] !== b[key]) return key;
  return undefined;
}

/** Rewrites an Ok packet with random values, choosing an operation valid for what it is. */
function randomRewrite(rng: Prng, buf: Uint8Array, view: PacketView): void {
  const choice = rng.int(6);
  if (view.isIcmpError && choice < 3) {
    rewriteIcmpErrorInner(buf, view, rng.next(), rng.int(65536), rng.next(), rng.int(65536));
  } else if (choice === 3 && icmpEchoReply(buf, view)) {
    // done: it was an echo request
  } else if (choice === 4) {
    decrementTtl(buf, view);
  } else if (choice === 5) {
    rewriteSrcDst(buf, view, rng.next(), rng.int(65536), rng.next(), rng.int(65536));
  } else if (rng.chance(0.5)) {
    rewriteDst(buf, view, rng.next(), rng.int(65536));
  } else {
    rewriteSrc(buf, view, rng.next(), rng.int(65536));
  }
}

/** Index of the first byte outside [from, to) that is not `fill`, or -1. */
function firstDirty(arena: Uint8Array, words: Uint32Array, from: number, to: number, fill: number): number {
  const fillWord = (fill * 0x01010101) >>> 0;
  const headWords = from >>> 2;
  for (let w = 0; w < headWords; w++) if (words[w] !== fillWord) return w * 4;
  for (let i = headWords * 4; i < from; i++) if (arena[i] !== fill) return i;
  const tailWord = (to + 3) >>> 2;
  for (let i = to; i < tailWord * 4 && i < arena.length; i++) if (arena[i] !== fill) return i;
  for (let w = tailWord; w < words.length; w++) if (words[w] !== fillWord) return w * 4;
  return -1;
}

/** Mutates `pkt[0, len)` in place a few times; returns the new length. */
function mutate(rng: Prng, pkt: Uint8Array, len: number): number {
  const rounds = rng.range(1, 4);
  for (let r = 0; r < rounds; r++) {
    const ihl = (pkt[0]! & 15) * 4;
    const l4 = ihl >= 20 ? ihl : 20;
    switch (rng.int(9)) {
      case 0: // random byte anywhere
        if (len > 0) pkt[rng.int(len)] = rng.next();
        break;
      case 1: // one bit flip
        if (len > 0) pkt[rng.int(len)]! ^= 1 << rng.int(8);
        break;
      case 2: // truncate
        len = rng.int(len + 1);
        break;
      case 3: { // extend with random bytes
        const extra = Math.min(rng.range(1, 64), MAX_LENGTH - len);
        for (let i = 0; i < extra; i++) pkt[len + i] = rng.next();
        len += extra;
        break;
      }
      case 4: // version / IHL
        pkt[0] = rng.chance(0.5) ? 0x40 | rng.int(16) : rng.next();
        break;
      case 5: { // total length near the real length, or anything
        const total = rng.chance(0.5) ? len + rng.range(-8, 8) : rng.int(65536);
        pkt[2] = total >>> 8;
        pkt[3] = total;
        break;
      }
      case 6: // fragment word, protocol
        if (rng.chance(0.5)) {
          pkt[6] = rng.pick([0x00, 0x20, 0x40, 0x60, rng.next()]);
          pkt[7] = rng.chance(0.5) ? 0 : rng.next();
        } else pkt[9] = rng.pick([1, 6, 17, 0, 4, 41, 47, 255]);
        break;
      case 7: // L4 fields decode depends on: TCP offset, UDP length, ICMP type
        if (l4 + 14 <= len) {
          pkt[l4 + rng.pick([0, 4, 5, 12])] = rng.pick([0, 3, 8, 11, 12, 0x40, 0x50, 0xf0, rng.next()]);
        }
        break;
      default: // quoted header of an ICMP error
        if (l4 + 30 <= len) pkt[l4 + 8 + rng.pick([0, 6, 9])] = rng.pick([0x45, 0x46, 0x4f, 0x65, 0x20, 1, 6, 17, 47, rng.next()]);
    }
  }
  return len;
}

/** Recomputes the IPv4 header checksum when the header fits, so fuzzing reaches L4 parsing. */
function fixIpChecksum(pkt: Uint8Array, len: number): void {
  const ihl = (pkt[0]! & 15) * 4;
  if (ihl < 20 || ihl > len) return;
  pkt[10] = 0;
  pkt[11] = 0;
  const check = refChecksum(refSum(pkt, 0, ihl));
  pkt[10] = check >> 8;
  pkt[11] = check & 0xff;
}

describe("packet fuzz", () => {
  test(`${TOTAL} random and mutated packets never throw, never touch bytes outside, and every drop is counted`, () => {
    const seed = seedFrom(process.env, "PACKET_FUZZ_SEED", 0x5eed_f00d);
    process.stdout.write(`packet fuzz seed=${seed} (set PACKET_FUZZ_SEED to reproduce)\n`);
    const rng = new Prng(seed);
    const templates: Uint8Array[] = [];
    for (let i = 0; i < 512; i++) templates.push(build(randomRecipe(rng, rng.chance(0.1))).slice(0, MAX_LENGTH));
    const arenaA = new Uint8Array(ARENA).fill(FILL_A);
    const arenaB = new Uint8Array(ARENA).fill(FILL_B);
    const wordsA = new Uint32Array(arenaA.buffer);
    const pkt = new Uint8Array(MAX_LENGTH);
    const viewA = new PacketView();
    const viewB = new PacketView();
    const viewC = new PacketView();
    const hdr = new VirtioNetHdr();
    const drops = new DropCounters();
    let ok = 0;
    let rewritten = 0;
    const started = Date.now();
    for (let i = 0; i < TOTAL; i++) {
      let len: number;
      if (rng.chance(0.1)) {
        len = rng.int(MAX_LENGTH + 1);
        for (let j = 0; j < len; j++) pkt[j] = rng.next();
        if (len > 0 && rng.chance(0.5)) pkt[0] = 0x45;
        if (len >= 4 && rng.chance(0.3)) {
          pkt[2] = len >>> 8;
          pkt[3] = len;
        }
      } else {
        const t = templates[rng.int(templates.length)]!;
        pkt.set(t);
        len = mutate(rng, pkt, t.length);
      }
      if (rng.chance(0.5)) fixIpChecksum(pkt, len);
      let flags = 0;
      if (rng.chance(0.2)) flags |= DecodeFlags.SkipIpChecksum;
      if (rng.chance(0.1)) flags |= DecodeFlags.L4ChecksumPartial;
      const off = GUARD + rng.int(JITTER);
      const data = pkt.subarray(0, len);
      arenaA.set(data, off);
      arenaB.set(data, off);

      // Both views start equal, so fields a decode does not reach compare equal too.
      Object.assign(viewB, viewA);
      const result = decodeIpv4(arenaA, off, len, viewA, flags);
      // Same bytes, different surroundings: any read outside [off, off+len) would show here.
      const resultB = decodeIpv4(arenaB, off, len, viewB, flags);
      if (result !== resultB || sameView(viewA, viewB) !== undefined) {
        assert.fail(`case ${i} (seed ${seed}): decode read outside its range (${result}/${resultB}, field ${sameView(viewA, viewB)})`);
      }
      if (!(Number.isInteger(result) && result >= 0 && result < DROP_REASON_SLOTS)) {
        assert.fail(`case ${i} (seed ${seed}): unknown decode result ${result}`);
      }
      if (result === DecodeResult.Ok) ok++;
      else drops.count(result);

      if (i % 97 === 0) {
        // A caller passing a length beyond the buffer gets the same answer as with the real length.
        const tight = arenaA.subarray(0, off + len);
        // Fields a decode does not reach keep their previous values; start from the same ones.
        Object.assign(viewC, viewA);
        const r = decodeIpv4(tight, off, len + rng.range(1, 5000), viewC, flags);
        if (r !== result || (r === DecodeResult.Ok && sameView(viewA, viewC) !== undefined)) {
          assert.fail(`case ${i} (seed ${seed}): length past the buffer changed the verdict`);
        }
        decodeVirtioNetHdr(arenaA, off, len, hdr);
      }

      if (result === DecodeResult.Ok) {
        randomRewrite(rng, arenaA, viewA);
        rewritten++;
        Object.assign(viewC, viewA);
        const again = decodeIpv4(arenaA, off, len, viewC, flags);
        if (again !== DecodeResult.Ok) assert.fail(`case ${i} (seed ${seed}): rewritten packet no longer decodes (${dropReasonNames[again]})`);
        const field = sameView(viewA, viewC);
        if (field !== undefined) assert.fail(`case ${i} (seed ${seed}): view.${field} out of step after rewrite`);
      }
      const dirty = firstDirty(arenaA, wordsA, off, off + len, FILL_A);
      if (dirty >= 0) assert.fail(`case ${i} (seed ${seed}): wrote outside the packet at ${dirty - off} (length ${len})`);
      arenaA.fill(FILL_A, off, off + len);
      arenaB.fill(FILL_B, off, off + len);
    }
    const snapshot = drops.snapshot();
    process.stdout.write(`packet fuzz: ${TOTAL} packets in ${Date.now() - started} ms, ok=${ok} rewritten=${rewritten} ${JSON.stringify(snapshot)}\n`);
    assert.equal(ok + drops.total(), TOTAL);
    assert.equal(ok + Object.values(snapshot).reduce((a, b) => a + b, 0), TOTAL);
    for (const reason of [
      DropReason.Truncated, DropReason.BadVersion, DropReason.Ipv6, DropReason.BadIhl, DropReason.BadTotalLength,
      DropReason.BadIpChecksum, DropReason.Fragment, DropReason.UnsupportedProtocol, DropReason.BadTcpOffset,
      DropReason.BadUdpLength, DropReason.IcmpTruncated, DropReason.IcmpInnerBad,
    ]) {
      assert.ok(drops.get(reason) > 0, `fuzzing never reached ${dropReasonNames[reason]}`);
    }
    assert.ok(ok > TOTAL / 10, `only ${ok} packets decoded Ok: the fuzzer is not reaching the rewrites`);
  });

  test("decode survives nonsense arguments without throwing", () => {
    const view = new PacketView();
    const buf = new Uint8Array(64).fill(0x45);
    for (const [offset, length] of [[-1, 20], [0, -5], [Number.NaN, 20], [0, Number.NaN], [1.5, 20], [70, 20], [0, 1e9], [64, 0]]) {
      const r = decodeIpv4(buf, offset!, length!, view);
      assert.ok(r > 0 && r < DROP_REASON_SLOTS, `offset ${offset} length ${length} gave ${r}`);
    }
    assert.equal(decodeIpv4(new Uint8Array(0), 0, 0, view), DropReason.Truncated);
  });
});
