/**
 * Random valid packets as recipes: a recipe is plain data the reference builder turns into
 * bytes, and the model functions below apply each rewrite to a recipe. Property tests compare
 * the code under test (incremental, in place) against builder(model(recipe)) (full recomputation).
 */

import { icmpEcho, icmpError, tcp, udp } from "./packet-builder.ts";
import type { ChecksumMode } from "./packet-builder.ts";
import type { Prng } from "./prng.ts";

/** IPv4 header fields a recipe controls. */
export interface IpPart {
  src: number;
  dst: number;
  ttl: number;
  id: number;
  df: boolean;
  options: number[];
}

/** A packet recipe. Ports double as the echo identifier for echo recipes (both equal). */
export type Recipe =
  | { kind: "tcp"; ip: IpPart; srcPort: number; dstPort: number; seq: number; ack: number; flags: number; tcpOptions: number[]; payload: Uint8Array; checksum: ChecksumMode }
  | { kind: "udp"; ip: IpPart; srcPort: number; dstPort: number; payload: Uint8Array; checksum: ChecksumMode }
  | { kind: "echo"; ip: IpPart; type: number; id: number; seq: number; payload: Uint8Array }
  | { kind: "error"; ip: IpPart; type: number; code: number; mtu: number; inner: Recipe; quoteLength: number };

/** Builds the bytes of a recipe with the reference builder. */
export function build(r: Recipe): Uint8Array {
  const ipSpec = { src: r.ip.src, dst: r.ip.dst, ttl: r.ip.ttl, id: r.ip.id, df: r.ip.df, options: r.ip.options };
  switch (r.kind) {
    case "tcp":
      return tcp(ipSpec, { srcPort: r.srcPort, dstPort: r.dstPort, seq: r.seq, ack: r.ack, flags: r.flags, tcpOptions: r.tcpOptions, payload: r.payload, checksum: r.checksum });
    case "udp":
      return udp(ipSpec, { srcPort: r.srcPort, dstPort: r.dstPort, payload: r.payload, checksum: r.checksum });
    case "echo":
      return icmpEcho(ipSpec, { type: r.type, id: r.id, seq: r.seq, payload: r.payload });
    case "error":
      return icmpError(ipSpec, { type: r.type, code: r.code, mtu: r.mtu, original: build(r.inner), quoteLength: r.quoteLength });
  }
}

/** A deep copy of a recipe (payload bytes shared: models never change them). */
export function clone(r: Recipe): Recipe {
  const ip = { ...r.ip, options: [...r.ip.options] };
  return r.kind === "error" ? { ...r, ip, inner: clone(r.inner) } : { ...r, ip };
}

function randomIp(rng: Prng, allowOptions: boolean): IpPart {
  const optionWords = allowOptions && rng.chance(0.2) ? rng.range(1, 10) : 0;
  return {
    src: rng.next(),
    dst: rng.next(),
    ttl: rng.range(0, 255),
    id: rng.int(65536),
    df: rng.chance(0.5),
    // Option bytes are opaque to the decoder; NOPs keep them plausible.
    options: Array.from({ length: optionWords * 4 }, () => 1),
  };
}

/** Random TCP/UDP/echo recipe; `maxPayload` bounds the data length. */
function randomTransport(rng: Prng, maxPayload: number, partial: boolean): Recipe {
  const ip = randomIp(rng, true);
  // Linux leaves partial checksums on TCP and UDP only; ICMP is always complete.
  const which = rng.int(partial ? 2 : 3);
  if (which === 0) {
    return {
      kind: "tcp",
      ip,
      srcPort: rng.int(65536),
      dstPort: rng.int(65536),
      seq: rng.next(),
      ack: rng.next(),
      flags: rng.int(256),
      tcpOptions: rng.chance(0.3) ? Array.from({ length: rng.range(1, 10) * 4 }, () => 1) : [],
      payload: rng.bytes(rng.range(0, maxPayload)),
      checksum: partial ? "partial" : "full",
    };
  }
  if (which === 1) {
    return {
      kind: "udp",
      ip,
      srcPort: rng.int(65536),
      dstPort: rng.int(65536),
      payload: rng.bytes(rng.range(0, maxPayload)),
      checksum: partial ? "partial" : rng.chance(0.2) ? "none" : "full",
    };
  }
  return { kind: "echo", ip, type: rng.pick([0, 8]), id: rng.int(65536), seq: rng.int(65536), payload: rng.bytes(rng.range(0, maxPayload)) };
}

/** Random valid recipe of any kind, ICMP errors included (their quotes never partial). */
export function randomRecipe(rng: Prng, partial = false): Recipe {
  if (partial || !rng.chance(0.25)) return randomTransport(rng, 1400, partial);
  const inner = randomTransport(rng, 600, false);
  const innerBytes = build(inner);
  const innerHeader = (innerBytes[0]! & 15) * 4;
  let quoteLength = rng.chance(0.3) ? innerBytes.length : rng.range(innerHeader + 8, innerBytes.length);
  // A quote ending inside the TCP checksum cannot be updated (its low byte is unknown), so
  // the model's "byte-exact original" does not hold there; that case has its own unit test.
  if (inner.kind === "tcp" && quoteLength === innerHeader + 17) quoteLength += 1;
  const type = rng.pick([3, 11, 12]);
  return { kind: "error", ip: randomIp(rng, false), type, code: rng.int(16), mtu: rng.int(65536), inner, quoteLength };
}

/** Model of rewriteSrcDst (echo: the identifier becomes whichever port differs from it). */
export function modelSrcDst(r: Recipe, src: number, srcPort: number, dst: number, dstPort: number): void {
  r.ip.src = src;
  r.ip.dst = dst;
  if (r.kind === "tcp" || r.kind === "udp") {
    r.srcPort = srcPort;
    r.dstPort = dstPort;
  } else if (r.kind === "echo") {
    r.id = srcPort !== r.id ? srcPort : dstPort;
  }
}

/** Model of rewriteIcmpErrorInner: quoted tuple replaced, outer destination = new inner source. */
export function modelIcmpErrorInner(r: Recipe, innerSrc: number, innerSrcPort: number, innerDst: number, innerDstPort: number): void {
  if (r.kind !== "error") throw new Error("Model misuse: not an ICMP error recipe");
  const inner = r.inner;
  inner.ip.src = innerSrc;
  inner.ip.dst = innerDst;
  if (inner.kind === "echo") inner.id = innerSrcPort;
  else if (inner.kind === "tcp" || inner.kind === "udp") {
    inner.srcPort = innerSrcPort;
    inner.dstPort = innerDstPort;
  }
  r.ip.dst = innerSrc;
}

/** Model of icmpEchoReply. */
export function modelEchoReply(r: Recipe): void {
  if (r.kind !== "echo") throw new Error("Model misuse: not an echo recipe");
  const { src, dst } = r.ip;
  r.ip.src = dst;
  r.ip.dst = src;
  r.ip.ttl = 64;
  r.type = 0;
}
