/**
 * IPv4 / TCP / UDP / ICMP decoding into a reused view. Per-packet cost matters: no allocation, no
 * exceptions, manual big-endian reads. Wire input never makes `decodeIpv4` throw; what it cannot
 * use gets a drop-reason code instead.
 */

import { verifyIpv4HeaderChecksum } from "./checksum.ts";
import { DropReason } from "./drop-reason.ts";

/** `decodeIpv4` result for a usable packet; any other result is a `DropReason` code. */
export const DecodeResult = { Ok: 0 } as const;

/** Bit flags for `decodeIpv4`. */
export const DecodeFlags = {
  None: 0,
  /** Skip the IPv4 header checksum check (the caller knows it is valid, e.g. the kernel built it). */
  SkipIpChecksum: 1,
  /** The L4 checksum field holds a partial pseudo-header sum (virtio NEEDS_CSUM); sets `l4ChecksumPartial`. */
  L4ChecksumPartial: 2,
} as const;

/** IP protocol numbers the dispatcher handles (IANA). */
export const IpProtocol = { Icmp: 1, Tcp: 6, Udp: 17 } as const;

/** ICMP types the dispatcher looks at (RFC 792). */
export const IcmpType = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  Echo: 8,
  TimeExceeded: 11,
  ParameterProblem: 12,
} as const;

/** ICMP destination-unreachable code for "fragmentation needed and DF set" (RFC 792, RFC 1191). */
export const ICMP_CODE_FRAGMENTATION_NEEDED = 4;

/** TCP header flag bits (RFC 793, RFC 3168). */
export const TcpFlag = { Fin: 1, Syn: 2, Rst: 4, Psh: 8, Ack: 16, Urg: 32, Ece: 64, Cwr: 128 } as const;

/**
 * A decoded IPv4 packet: plain mutable fields, allocated once and overwritten by every
 * `decodeIpv4`. Offsets are absolute indexes into the buffer that was decoded. After a drop, only
 * the fields decoded before the failing check are meaningful. Addresses are unsigned 32-bit.
 */
export class PacketView {
  /** Index of the first IPv4 header byte. */
  l3Offset = 0;
  /** IHL × 4: IPv4 header length in bytes, options included. */
  headerLength = 0;
  /** IPv4 total length; bytes beyond it are ignored. */
  totalLength = 0;
  /** Index just past the IPv4 datagram: `l3Offset + totalLength`. */
  end = 0;
  /** IPv4 identification. */
  id = 0;
  /** DF flag set. */
  dontFragment = false;
  /** MF flag set: more fragments follow (this is a first or middle fragment). */
  moreFragments = false;
  /** Fragment offset in bytes; non-zero means no L4 header in this packet. */
  fragmentOffset = 0;
  /** Time to live. */
  ttl = 0;
  /** IP protocol number. */
  protocol = 0;
  /** Source address, unsigned 32-bit. */
  src = 0;
  /** Destination address, unsigned 32-bit. */
  dst = 0;
  /** Index of the L4 header. */
  l4Offset = 0;
  /** IP payload length: `totalLength - headerLength`. */
  l4Length = 0;
  /** Index of the L4 checksum field (TCP +16, UDP +6, ICMP +2); -1 when there is none. */
  l4ChecksumOffset = -1;
  /** The L4 checksum field holds an uncomplemented partial sum (NEEDS_CSUM); rewrites honour it. */
  l4ChecksumPartial = false;
  /** TCP/UDP source port; the echo identifier for ICMP echo; else 0. */
  srcPort = 0;
  /** TCP/UDP destination port; the echo identifier for ICMP echo; else 0. */
  dstPort = 0;
  /** TCP flags byte (see `TcpFlag`); 0 for other protocols. */
  tcpFlags = 0;
  /** TCP sequence number, unsigned 32-bit. */
  tcpSeq = 0;
  /** TCP acknowledgment number, unsigned 32-bit. */
  tcpAck = 0;
  /** TCP header length in bytes (data offset × 4). */
  tcpHeaderLength = 0;
  /** UDP length field. */
  udpLength = 0;
  /** ICMP type; -1 for other protocols. */
  icmpType = -1;
  /** ICMP code. */
  icmpCode = 0;
  /** ICMP echo identifier (types 0 and 8). */
  icmpId = 0;
  /** ICMP echo sequence number (types 0 and 8). */
  icmpSeq = 0;
  /** ICMP error (types 3, 11, 12) whose quoted packet was decoded into the `inner*` fields. */
  isIcmpError = false;
  /** Index of the quoted IPv4 header inside the ICMP error. */
  innerOffset = 0;
  /** Quoted header length in bytes. */
  innerHeaderLength = 0;
  /** Quoted packet's protocol (TCP, UDP or ICMP). */
  innerProtocol = 0;
  /** Quoted packet's source address. */
  innerSrc = 0;
  /** Quoted packet's destination address. */
  innerDst = 0;
  /** Index of the quoted L4 header (at least 8 bytes present). */
  innerL4Offset = 0;
  /** Quoted source port; the echo identifier for a quoted echo. */
  innerSrcPort = 0;
  /** Quoted destination port; the echo identifier for a quoted echo. */
  innerDstPort = 0;
  /** Quoted ICMP type (0 or 8) when the quoted packet is an echo; -1 otherwise. */
  innerIcmpType = -1;
  /** Index of the quoted L4 checksum when the quote contains it; -1 otherwise. */
  innerL4ChecksumOffset = -1;
}

/**
 * Decodes the IPv4 packet in `buf[offset, offset + length)` into `view` and returns
 * `DecodeResult.Ok` or a `DropReason` code. Never throws, never reads outside that range (nor
 * past `buf.length`); bytes after the IPv4 total length are ignored. Verifies the IPv4 header
 * checksum unless `DecodeFlags.SkipIpChecksum`; never verifies L4 checksums (rewrites preserve
 * them incrementally). A first fragment (MF set, offset 0) is Ok with `moreFragments` set: the
 * NAT layer decides; a non-first fragment is `DropReason.Fragment`.
 */
export function decodeIpv4(buf: Uint8Array, offset: number, length: number, view: PacketView, flags = 0): number {
  // Caller mistakes (bad offset, length past the buffer) must not make us read out of range either.
  if (!(offset >= 0 && offset === (offset | 0))) return DropReason.Truncated;
  const room = buf.length - offset;
  if (!(length <= room)) length = room;
  if (!(length > 0)) return DropReason.Truncated;
  const o = offset;
  const b0 = buf[o];
  const version = b0 >>> 4;
  if (version !== 4) return version === 6 ? DropReason.Ipv6 : DropReason.BadVersion;
  if (length < 20) return DropReason.Truncated;
  const headerLength = (b0 & 0x0f) << 2;
  if (headerLength < 20) return DropReason.BadIhl;
  if (headerLength > length) return DropReason.Truncated;
  const totalLength = (buf[o + 2] << 8) | buf[o + 3];
  if (totalLength < headerLength) return DropReason.BadTotalLength;
  if (totalLength > length) return DropReason.Truncated;
  if ((flags & DecodeFlags.SkipIpChecksum) === 0 && !verifyIpv4HeaderChecksum(buf, o, headerLength)) {
    return DropReason.BadIpChecksum;
  }
  const fragmentWord = (buf[o + 6] << 8) | buf[o + 7];
  view.l3Offset = o;
  view.headerLength = headerLength;
  view.totalLength = totalLength;
  view.end = o + totalLength;
  view.id = (buf[o + 4] << 8) | buf[o + 5];
  view.dontFragment = (fragmentWord & 0x4000) !== 0;
  view.moreFragments = (fragmentWord & 0x2000) !== 0;
  view.fragmentOffset = (fragmentWord & 0x1fff) << 3;
  view.ttl = buf[o + 8];
  view.protocol = buf[o + 9];
  view.src = ((buf[o + 12] << 24) | (buf[o + 13] << 16) | (buf[o + 14] << 8) | buf[o + 15]) >>> 0;
  view.dst = ((buf[o + 16] << 24) | (buf[o + 17] << 16) | (buf[o + 18] << 8) | buf[o + 19]) >>> 0;
  view.l4Offset = o + headerLength;
  view.l4Length = totalLength - headerLength;
  view.l4ChecksumOffset = -1;
  view.l4ChecksumPartial = (flags & DecodeFlags.L4ChecksumPartial) !== 0;
  view.srcPort = 0;
  view.dstPort = 0;
  view.tcpFlags = 0;
  view.icmpType = -1;
  view.isIcmpError = false;
  // RFC 791: only the first fragment carries the L4 header; later ones cannot be matched by port.
  if (view.fragmentOffset !== 0) return DropReason.Fragment;
  switch (view.protocol) {
    case IpProtocol.Tcp:
      return decodeTcp(buf, view);
    case IpProtocol.Udp:
      return decodeUdp(buf, view);
    case IpProtocol.Icmp:
      return decodeIcmp(buf, view);
    default:
      return DropReason.UnsupportedProtocol;
  }
}

function decodeTcp(buf: Uint8Array, view: PacketView): number {
  if (view.l4Length < 20) return DropReason.Truncated;
  const l4 = view.l4Offset;
  const tcpHeaderLength = (buf[l4 + 12] >>> 4) << 2;
  if (tcpHeaderLength < 20 || tcpHeaderLength > view.l4Length) return DropReason.BadTcpOffset;
  view.tcpHeaderLength = tcpHeaderLength;
  view.srcPort = (buf[l4] << 8) | buf[l4 + 1];
  view.dstPort = (buf[l4 + 2] << 8) | buf[l4 + 3];
  view.tcpSeq = ((buf[l4 + 4] << 24) | (buf[l4 + 5] << 16) | (buf[l4 + 6] << 8) | buf[l4 + 7]) >>> 0;
  view.tcpAck = ((buf[l4 + 8] << 24) | (buf[l4 + 9] << 16) | (buf[l4 + 10] << 8) | buf[l4 + 11]) >>> 0;
  view.tcpFlags = buf[l4 + 13];
  view.l4ChecksumOffset = l4 + 16;
  return DecodeResult.Ok;
}

function decodeUdp(buf: Uint8Array, view: PacketView): number {
  if (view.l4Length < 8) return DropReason.Truncated;
  const l4 = view.l4Offset;
  const udpLength = (buf[l4 + 4] << 8) | buf[l4 + 5];
  // RFC 768: the length covers header and data. A first fragment holds only part of the datagram.
  if (udpLength < 8 || (udpLength > view.l4Length && !view.moreFragments)) return DropReason.BadUdpLength;
  view.udpLength = udpLength;
  view.srcPort = (buf[l4] << 8) | buf[l4 + 1];
  view.dstPort = (buf[l4 + 2] << 8) | buf[l4 + 3];
  view.l4ChecksumOffset = l4 + 6;
  return DecodeResult.Ok;
}

function decodeIcmp(buf: Uint8Array, view: PacketView): number {
  if (view.l4Length < 8) return DropReason.Truncated;
  const l4 = view.l4Offset;
  const type = buf[l4];
  view.icmpType = type;
  view.icmpCode = buf[l4 + 1];
  view.l4ChecksumOffset = l4 + 2;
  if (type === IcmpType.Echo || type === IcmpType.EchoReply) {
    const id = (buf[l4 + 4] << 8) | buf[l4 + 5];
    view.icmpId = id;
    view.icmpSeq = (buf[l4 + 6] << 8) | buf[l4 + 7];
    view.srcPort = id;
    view.dstPort = id;
    return DecodeResult.Ok;
  }
  if (type === IcmpType.DestinationUnreachable || type === IcmpType.TimeExceeded || type === IcmpType.ParameterProblem) {
    return decodeIcmpInner(buf, view);
  }
  return DecodeResult.Ok;
}

/** RFC 792: an ICMP error quotes the original IP header and at least its first 64 bits of data. */
function decodeIcmpInner(buf: Uint8Array, view: PacketView): number {
  const inner = view.l4Offset + 8;
  const end = view.end;
  if (end - inner < 20) return DropReason.IcmpTruncated;
  const b0 = buf[inner];
  if (b0 >>> 4 !== 4) return DropReason.IcmpInnerBad;
  const innerHeaderLength = (b0 & 0x0f) << 2;
  if (innerHeaderLength < 20) return DropReason.IcmpInnerBad;
  const innerL4 = inner + innerHeaderLength;
  if (innerL4 + 8 > end) return DropReason.IcmpTruncated;
  // A quoted non-first fragment carries no ports, so it cannot be matched to a flow.
  if ((((buf[inner + 6] << 8) | buf[inner + 7]) & 0x1fff) !== 0) return DropReason.IcmpInnerBad;
  // The quoted header's checksum is not verified: routers may quote it after changing the TTL.
  const protocol = buf[inner + 9];
  view.innerOffset = inner;
  view.innerHeaderLength = innerHeaderLength;
  view.innerProtocol = protocol;
  view.innerSrc = ((buf[inner + 12] << 24) | (buf[inner + 13] << 16) | (buf[inner + 14] << 8) | buf[inner + 15]) >>> 0;
  view.innerDst = ((buf[inner + 16] << 24) | (buf[inner + 17] << 16) | (buf[inner + 18] << 8) | buf[inner + 19]) >>> 0;
  view.innerL4Offset = innerL4;
  view.innerIcmpType = -1;
  if (protocol === IpProtocol.Tcp || protocol === IpProtocol.Udp) {
    view.innerSrcPort = (buf[innerL4] << 8) | buf[innerL4 + 1];
    view.innerDstPort = (buf[innerL4 + 2] << 8) | buf[innerL4 + 3];
    const checksumAt = protocol === IpProtocol.Tcp ? innerL4 + 16 : innerL4 + 6;
    view.innerL4ChecksumOffset = checksumAt + 2 <= end ? checksumAt : -1;
  } else if (protocol === IpProtocol.Icmp) {
    // RFC 1122 3.2.2: no ICMP error about an ICMP error, so only a quoted echo is usable.
    const type = buf[innerL4];
    if (type !== IcmpType.Echo && type !== IcmpType.EchoReply) return DropReason.IcmpInnerBad;
    const id = (buf[innerL4 + 4] << 8) | buf[innerL4 + 5];
    view.innerIcmpType = type;
    view.innerSrcPort = id;
    view.innerDstPort = id;
    view.innerL4ChecksumOffset = innerL4 + 2;
  } else {
    return DropReason.IcmpInnerBad;
  }
  view.isIcmpError = true;
  return DecodeResult.Ok;
}
