/**
 * In-place NAT rewrites of a decoded IPv4 packet. Every checksum is updated incrementally
 * (RFC 1624 eqn. 3), never recomputed, so the cost does not depend on the packet size and a
 * checksum that was right stays right. Preconditions for all functions: `view` holds the result
 * of a successful `decodeIpv4` of this very `buf`, and is kept up to date by these functions, so
 * several rewrites can follow one decode. Ports and identifiers are integers in 0..65535.
 */

import { checksumAdjust, checksumReplace16, partialChecksumAdjust, udpChecksumAdjust, wordDelta16, wordDelta32 } from "./checksum.ts";
import { DropReason } from "./drop-reason.ts";
import { DecodeResult, IcmpType, IpProtocol } from "./packet-view.ts";
import type { PacketView } from "./packet-view.ts";

function readU16(buf: Uint8Array, at: number): number {
  return (buf[at] << 8) | buf[at + 1];
}

function writeU16(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 8;
  buf[at + 1] = value;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = value >>> 16;
  buf[at + 2] = value >>> 8;
  buf[at + 3] = value;
}

/** Adds `delta` to the complemented checksum stored at `at`. */
function adjustChecksumAt(buf: Uint8Array, at: number, delta: number): void {
  writeU16(buf, at, checksumAdjust(readU16(buf, at), delta));
}

/**
 * Applies address (`pseudoDelta`) and header-word (`headerDelta`) changes to the TCP/UDP
 * checksum, honouring RFC 768's "0 means none" for UDP and the NEEDS_CSUM partial mode.
 */
function adjustTransportChecksum(buf: Uint8Array, view: PacketView, pseudoDelta: number, headerDelta: number): void {
  const at = view.l4ChecksumOffset;
  const old = readU16(buf, at);
  let next: number;
  if (view.l4ChecksumPartial) {
    // NEEDS_CSUM: the field holds only the uncomplemented pseudo-header sum; the kernel or NIC
    // sums the L4 bytes (ports included) later, so only address changes apply here.
    next = partialChecksumAdjust(old, pseudoDelta);
  } else if (view.protocol === IpProtocol.Udp) {
    next = udpChecksumAdjust(old, pseudoDelta + headerDelta);
  } else {
    next = checksumAdjust(old, pseudoDelta + headerDelta);
  }
  writeU16(buf, at, next);
}

/** Sets the ICMP echo identifier, fixing the ICMP checksum; a no-op for other ICMP types. */
function rewriteEchoId(buf: Uint8Array, view: PacketView, id: number): void {
  const type = view.icmpType;
  if ((type !== IcmpType.Echo && type !== IcmpType.EchoReply) || id === view.icmpId) return;
  const delta = wordDelta16(view.icmpId, id);
  writeU16(buf, view.l4Offset + 4, id);
  view.icmpId = id;
  view.srcPort = id;
  view.dstPort = id;
  // ICMP has no pseudo-header (RFC 792); in NEEDS_CSUM mode the id is summed later by the kernel.
  if (!view.l4ChecksumPartial) adjustChecksumAt(buf, view.l4ChecksumOffset, delta);
}

/**
 * Rewrites source and destination address and port in one pass (one IP and one L4 checksum
 * update); passing a current value again is harmless (its delta is one's-complement zero).
 * TCP/UDP: ports and the checksum including the pseudo-header. ICMP echo: addresses in the IP
 * header only; the identifier becomes whichever of `srcPort`/`dstPort` differs from the current
 * one (srcPort if both do). Other ICMP: ports ignored.
 */
export function rewriteSrcDst(buf: Uint8Array, view: PacketView, src: number, srcPort: number, dst: number, dstPort: number): void {
  const o = view.l3Offset;
  const addrDelta = wordDelta32(view.src, src) + wordDelta32(view.dst, dst);
  writeU32(buf, o + 12, src);
  writeU32(buf, o + 16, dst);
  adjustChecksumAt(buf, o + 10, addrDelta);
  view.src = src;
  view.dst = dst;
  const protocol = view.protocol;
  if (protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp) {
    const l4 = view.l4Offset;
    const portDelta = wordDelta16(view.srcPort, srcPort) + wordDelta16(view.dstPort, dstPort);
    writeU16(buf, l4, srcPort);
    writeU16(buf, l4 + 2, dstPort);
    view.srcPort = srcPort;
    view.dstPort = dstPort;
    adjustTransportChecksum(buf, view, addrDelta, portDelta);
  } else if (protocol === IpProtocol.Icmp) {
    rewriteEchoId(buf, view, srcPort !== view.icmpId ? srcPort : dstPort);
  }
}

/**
 * Rewrites the destination address and port (nat forward path). ICMP echo: `port` is the new
 * identifier; other ICMP: `port` is ignored.
 */
export function rewriteDst(buf: Uint8Array, view: PacketView, addr: number, port: number): void {
  // Specialised rather than delegating to rewriteSrcDst: half the writes on the hottest path.
  const o = view.l3Offset;
  const addrDelta = wordDelta32(view.dst, addr);
  writeU32(buf, o + 16, addr);
  adjustChecksumAt(buf, o + 10, addrDelta);
  view.dst = addr;
  const protocol = view.protocol;
  if (protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp) {
    const portDelta = wordDelta16(view.dstPort, port);
    writeU16(buf, view.l4Offset + 2, port);
    view.dstPort = port;
    adjustTransportChecksum(buf, view, addrDelta, portDelta);
  } else if (protocol === IpProtocol.Icmp) {
    rewriteEchoId(buf, view, port);
  }
}

/** Rewrites the source address and port (nat reply path, fullnat SNAT); ICMP as in `rewriteDst`. */
export function rewriteSrc(buf: Uint8Array, view: PacketView, addr: number, port: number): void {
  const o = view.l3Offset;
  const addrDelta = wordDelta32(view.src, addr);
  writeU32(buf, o + 12, addr);
  adjustChecksumAt(buf, o + 10, addrDelta);
  view.src = addr;
  const protocol = view.protocol;
  if (protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp) {
    const portDelta = wordDelta16(view.srcPort, port);
    writeU16(buf, view.l4Offset, port);
    view.srcPort = port;
    adjustTransportChecksum(buf, view, addrDelta, portDelta);
  } else if (protocol === IpProtocol.Icmp) {
    rewriteEchoId(buf, view, port);
  }
}

/**
 * Translates an ICMP error (`view.isIcmpError`): rewrites the quoted packet's addresses and
 * ports (for a quoted echo, `innerSrcPort` is the identifier), its IPv4 header checksum, its L4
 * checksum when the quote contains it (so the client sees exactly what it sent), the outer ICMP
 * checksum that covers all of it, and sets the outer destination to `innerSrc`: an ICMP error
 * always goes to the sender of the packet it quotes (RFC 5508 section 4.2). The outer source is
 * left alone; change it with `rewriteSrc` if wanted.
 */
export function rewriteIcmpErrorInner(
  buf: Uint8Array,
  view: PacketView,
  innerSrc: number,
  innerSrcPort: number,
  innerDst: number,
  innerDstPort: number,
): void {
  const inner = view.innerOffset;
  const addrDelta = wordDelta32(view.innerSrc, innerSrc) + wordDelta32(view.innerDst, innerDst);
  writeU32(buf, inner + 12, innerSrc);
  writeU32(buf, inner + 16, innerDst);
  view.innerSrc = innerSrc;
  view.innerDst = innerDst;
  // Every word changed inside the quote also changes the outer ICMP checksum, which covers it.
  let icmpDelta = addrDelta + rewriteWord(buf, inner + 10, checksumAdjust(readU16(buf, inner + 10), addrDelta));
  const innerL4 = view.innerL4Offset;
  const checksumAt = view.innerL4ChecksumOffset;
  if (view.innerProtocol === IpProtocol.Icmp) {
    const idDelta = wordDelta16(view.innerSrcPort, innerSrcPort);
    writeU16(buf, innerL4 + 4, innerSrcPort);
    view.innerSrcPort = innerSrcPort;
    view.innerDstPort = innerSrcPort;
    icmpDelta += idDelta + rewriteWord(buf, checksumAt, checksumAdjust(readU16(buf, checksumAt), idDelta));
  } else {
    const portDelta = wordDelta16(view.innerSrcPort, innerSrcPort) + wordDelta16(view.innerDstPort, innerDstPort);
    writeU16(buf, innerL4, innerSrcPort);
    writeU16(buf, innerL4 + 2, innerDstPort);
    view.innerSrcPort = innerSrcPort;
    view.innerDstPort = innerDstPort;
    icmpDelta += portDelta;
    if (checksumAt >= 0) {
      const old = readU16(buf, checksumAt);
      const next = view.innerProtocol === IpProtocol.Udp
        ? udpChecksumAdjust(old, addrDelta + portDelta)
        : checksumAdjust(old, addrDelta + portDelta);
      icmpDelta += rewriteWord(buf, checksumAt, next);
    }
  }
  if (!view.l4ChecksumPartial) adjustChecksumAt(buf, view.l4ChecksumOffset, icmpDelta);
  const o = view.l3Offset;
  adjustChecksumAt(buf, o + 10, wordDelta32(view.dst, innerSrc));
  writeU32(buf, o + 16, innerSrc);
  view.dst = innerSrc;
}

/** Stores `value` at `at` and returns the checksum delta of that change. */
function rewriteWord(buf: Uint8Array, at: number, value: number): number {
  const delta = wordDelta16(readU16(buf, at), value);
  writeU16(buf, at, value);
  return delta;
}

/**
 * Decrements the TTL as a forwarder must (RFC 1812 section 5.3.1), updating the IPv4 header
 * checksum incrementally (RFC 1624, superseding RFC 1141). Returns `DecodeResult.Ok`, or
 * `DropReason.TtlExceeded` without touching the packet when the TTL is 0 or 1.
 */
export function decrementTtl(buf: Uint8Array, view: PacketView): number {
  const ttl = view.ttl;
  if (ttl <= 1) return DropReason.TtlExceeded;
  const o = view.l3Offset;
  // TTL is the high byte of the word it shares with the protocol (RFC 791 header layout).
  const protocol = view.protocol;
  writeU16(buf, o + 10, checksumReplace16(readU16(buf, o + 10), (ttl << 8) | protocol, ((ttl - 1) << 8) | protocol));
  buf[o + 8] = ttl - 1;
  view.ttl = ttl - 1;
  return DecodeResult.Ok;
}
