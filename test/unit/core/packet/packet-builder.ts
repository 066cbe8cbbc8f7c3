/**
 * Test-only packet builder: an independent reference for the packet layer. It imports nothing
 * from src/ and computes every checksum by full recomputation from scratch, so the incremental
 * code under test is checked against arithmetic it does not share.
 */

/** Parses "a.b.c.d" without validation beyond what tests need; returns an unsigned 32-bit number. */
export function ip(text: string): number {
  const parts = text.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    throw new Error(`Bad test address "${text}"`);
  }
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** Plain sum of big-endian 16-bit words of bytes[start, end), odd byte padded; unfolded. */
export function refSum(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i += 2) {
    const hi = bytes[i]!;
    const lo = i + 1 < end ? bytes[i + 1]! : 0;
    sum += hi * 256 + lo;
  }
  return sum;
}

/** Folds with end-around carry, by repeated modulo (deliberately unlike the production code). */
export function refFold(sum: number): number {
  while (sum > 0xffff) sum = Math.floor(sum / 65536) + (sum % 65536);
  return sum;
}

/** Pseudo-header sum (RFC 793 / RFC 768). */
export function refPseudo(src: number, dst: number, protocol: number, l4Length: number): number {
  return Math.floor(src / 65536) + (src % 65536) + Math.floor(dst / 65536) + (dst % 65536) + protocol + l4Length;
}

/** Complemented checksum: 0xFFFF - fold(sum). */
export function refChecksum(sum: number): number {
  return 0xffff - refFold(sum);
}

function put16(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = (value >> 8) & 0xff;
  bytes[at + 1] = value & 0xff;
}

function put32(bytes: Uint8Array, at: number, value: number): void {
  put16(bytes, at, Math.floor(value / 65536));
  put16(bytes, at + 2, value % 65536);
}

function get16(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 256 + bytes[at + 1]!;
}

function get32(bytes: Uint8Array, at: number): number {
  return get16(bytes, at) * 65536 + get16(bytes, at + 2);
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Bytes of a hex string (whitespace allowed). */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Deterministic filler payload. */
export function pattern(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/** IPv4 header fields; overrides exist to build malformed packets. */
export interface Ipv4Spec {
  src: string | number;
  dst: string | number;
  protocol: number;
  ttl?: number;
  id?: number;
  tos?: number;
  df?: boolean;
  mf?: boolean;
  /** Fragment offset in bytes (multiple of 8). */
  fragmentOffset?: number;
  /** Raw option bytes; padded with zeros (end of options) to a multiple of 4. */
  options?: number[];
  version?: number;
  /** Raw IHL nibble override. */
  ihl?: number;
  /** Raw total-length override. */
  totalLength?: number;
  /** Store a wrong header checksum. */
  corruptChecksum?: boolean;
}

function addr(a: string | number): number {
  return typeof a === "number" ? a >>> 0 : ip(a);
}

/** Builds an IPv4 packet around `payload` with a fully computed header checksum. */
export function ipv4(spec: Ipv4Spec, payload: Uint8Array): Uint8Array {
  const opts = spec.options ?? [];
  const optLength = Math.ceil(opts.length / 4) * 4;
  const headerLength = 20 + optLength;
  const out = new Uint8Array(headerLength + payload.length);
  out[0] = ((spec.version ?? 4) << 4) | (spec.ihl ?? headerLength / 4);
  out[1] = spec.tos ?? 0;
  put16(out, 2, spec.totalLength ?? out.length);
  put16(out, 4, spec.id ?? 0x1234);
  put16(out, 6, (spec.df ? 0x4000 : 0) | (spec.mf ? 0x2000 : 0) | ((spec.fragmentOffset ?? 0) / 8));
  out[8] = spec.ttl ?? 64;
  out[9] = spec.protocol;
  put32(out, 12, addr(spec.src));
  put32(out, 16, addr(spec.dst));
  out.set(opts, 20);
  out.set(payload, headerLength);
  put16(out, 10, refChecksum(refSum(out, 0, headerLength)) ^ (spec.corruptChecksum ? 0x5a5a : 0));
  return out;
}

/** How the L4 checksum field is filled: full (RFC), none (UDP 0), or partial (NEEDS_CSUM). */
export type ChecksumMode = "full" | "none" | "partial";

/** Writes the L4 checksum of `segment` (checksum field at `at`, already zero) per `mode`. */
function fillL4Checksum(segment: Uint8Array, at: number, src: number, dst: number, protocol: number, mode: ChecksumMode): void {
  if (mode === "none") return;
  const pseudo = refPseudo(src, dst, protocol, segment.length);
  if (mode === "partial") {
    // What Linux leaves for CHECKSUM_PARTIAL: the folded pseudo-header sum, not complemented.
    put16(segment, at, refFold(pseudo));
    return;
  }
  let check = refChecksum(pseudo + refSum(segment));
  if (check === 0 && protocol === 17) check = 0xffff; // RFC 768
  put16(segment, at, check);
}

/** TCP segment fields. */
export interface TcpSpec {
  srcPort: number;
  dstPort: number;
  seq?: number;
  ack?: number;
  /** Flags byte (SYN = 0x02, ACK = 0x10, ...). */
  flags?: number;
  window?: number;
  /** Raw TCP option bytes, padded to a multiple of 4. */
  tcpOptions?: number[];
  /** Raw data-offset nibble override. */
  dataOffset?: number;
  payload?: Uint8Array;
  checksum?: ChecksumMode;
}

/** Builds an IPv4/TCP packet with full checksums (or a partial L4 one). */
export function tcp(ipSpec: Omit<Ipv4Spec, "protocol">, spec: TcpSpec): Uint8Array {
  const opts = spec.tcpOptions ?? [];
  const headerLength = 20 + Math.ceil(opts.length / 4) * 4;
  const payload = spec.payload ?? new Uint8Array(0);
  const seg = new Uint8Array(headerLength + payload.length);
  put16(seg, 0, spec.srcPort);
  put16(seg, 2, spec.dstPort);
  put32(seg, 4, spec.seq ?? 1000);
  put32(seg, 8, spec.ack ?? 0);
  seg[12] = (spec.dataOffset ?? headerLength / 4) << 4;
  seg[13] = spec.flags ?? 0x02;
  put16(seg, 14, spec.window ?? 64240);
  seg.set(opts, 20);
  seg.set(payload, headerLength);
  fillL4Checksum(seg, 16, addr(ipSpec.src), addr(ipSpec.dst), 6, spec.checksum ?? "full");
  return ipv4({ ...ipSpec, protocol: 6 }, seg);
}

/** UDP datagram fields. */
export interface UdpSpec {
  srcPort: number;
  dstPort: number;
  payload?: Uint8Array;
  /** Raw UDP length override. */
  udpLength?: number;
  checksum?: ChecksumMode;
}

/** Builds an IPv4/UDP packet; `checksum: "none"` leaves 0 (RFC 768). */
export function udp(ipSpec: Omit<Ipv4Spec, "protocol">, spec: UdpSpec): Uint8Array {
  const payload = spec.payload ?? new Uint8Array(0);
  const seg = new Uint8Array(8 + payload.length);
  put16(seg, 0, spec.srcPort);
  put16(seg, 2, spec.dstPort);
  put16(seg, 4, spec.udpLength ?? seg.length);
  seg.set(payload, 8);
  fillL4Checksum(seg, 6, addr(ipSpec.src), addr(ipSpec.dst), 17, spec.checksum ?? "full");
  return ipv4({ ...ipSpec, protocol: 17 }, seg);
}

/** ICMP echo fields. */
export interface EchoSpec {
  /** 8 request, 0 reply. */
  type: number;
  id: number;
  seq?: number;
  payload?: Uint8Array;
}

/** Builds an ICMP message with a fully computed checksum from type, code, rest-of-header and body. */
export function icmpMessage(type: number, code: number, rest: number, body: Uint8Array): Uint8Array {
  const msg = new Uint8Array(8 + body.length);
  msg[0] = type;
  msg[1] = code;
  put32(msg, 4, rest);
  msg.set(body, 8);
  put16(msg, 2, refChecksum(refSum(msg)));
  return msg;
}

/** Builds an IPv4/ICMP echo request or reply. */
export function icmpEcho(ipSpec: Omit<Ipv4Spec, "protocol">, spec: EchoSpec): Uint8Array {
  const body = spec.payload ?? pattern(32, spec.id);
  return ipv4({ ...ipSpec, protocol: 1 }, icmpMessage(spec.type, 0, spec.id * 65536 + (spec.seq ?? 1), body));
}

/** ICMP error fields: the quote is the first `quoteLength` bytes of `original`. */
export interface IcmpErrorSpec {
  type: number;
  code: number;
  /** Next-hop MTU for fragmentation-needed (RFC 1191), stored in the low 16 bits. */
  mtu?: number;
  original: Uint8Array;
  quoteLength?: number;
}

/** Builds an IPv4/ICMP error quoting (part of) an original packet. */
export function icmpError(ipSpec: Omit<Ipv4Spec, "protocol">, spec: IcmpErrorSpec): Uint8Array {
  const quote = spec.original.slice(0, spec.quoteLength ?? spec.original.length);
  return ipv4({ ...ipSpec, protocol: 1 }, icmpMessage(spec.type, spec.code, spec.mtu ?? 0, quote));
}

/** virtio_net_hdr fields (little-endian on the wire). */
export interface VnetSpec {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** Prefixes `packet` with a 10-byte little-endian virtio_net_hdr. */
export function withVnet(spec: VnetSpec, packet: Uint8Array): Uint8Array {
  const hdr = new Uint8Array(10);
  hdr[0] = spec.flags;
  hdr[1] = spec.gsoType;
  const le = [spec.hdrLen, spec.gsoSize, spec.csumStart, spec.csumOffset];
  le.forEach((v, i) => {
    hdr[2 + i * 2] = v & 0xff;
    hdr[3 + i * 2] = (v >> 8) & 0xff;
  });
  return concat(hdr, packet);
}

/**
 * Independently verifies every checksum of the IPv4 packet at `offset` by full recomputation:
 * IP header; TCP/UDP with pseudo-header (UDP 0 = none); ICMP; for ICMP errors the quoted IP
 * header and, if the quote holds the whole original datagram, its L4 checksum. With `partial`,
 * the L4 field must equal the folded pseudo-header sum, and completing it as the kernel does
 * must give a verifying packet. Returns a list of problems (empty when all is well).
 */
export function verifyChecksums(packet: Uint8Array, offset = 0, partial = false): string[] {
  const problems: string[] = [];
  const p = packet.subarray(offset);
  const ihl = (p[0]! & 15) * 4;
  const total = get16(p, 2);
  if (refFold(refSum(p, 0, ihl)) !== 0xffff) problems.push("IPv4 header checksum");
  const protocol = p[9]!;
  const src = get32(p, 12);
  const dst = get32(p, 16);
  const l4 = p.slice(ihl, total);
  if (partial) {
    const at = protocol === 6 ? 16 : protocol === 17 ? 6 : 2;
    const expected = protocol === 1 ? get16(l4, at) : refFold(refPseudo(src, dst, protocol, l4.length));
    if (get16(l4, at) !== expected) problems.push(`partial L4 checksum ${get16(l4, at).toString(16)} != ${expected.toString(16)}`);
    // Complete it like the kernel: sum from csum_start including the field, complement, store.
    let completed = refChecksum(refSum(l4));
    if (completed === 0 && protocol === 17) completed = 0xffff;
    put16(l4, at, completed);
  }
  problems.push(...verifyL4(l4, src, dst, protocol, "L4"));
  if (protocol === 1 && (l4[0] === 3 || l4[0] === 11 || l4[0] === 12) && l4.length >= 28) {
    const inner = l4.subarray(8);
    const innerIhl = (inner[0]! & 15) * 4;
    if (refFold(refSum(inner, 0, innerIhl)) !== 0xffff) problems.push("quoted IPv4 header checksum");
    const innerTotal = get16(inner, 2);
    if (innerTotal <= inner.length) {
      problems.push(...verifyL4(inner.subarray(innerIhl, innerTotal), get32(inner, 12), get32(inner, 16), inner[9]!, "quoted L4"));
    }
  }
  return problems;
}

function verifyL4(l4: Uint8Array, src: number, dst: number, protocol: number, what: string): string[] {
  if (protocol === 6 || protocol === 17) {
    if (protocol === 17 && get16(l4, 6) === 0) return [];
    return refFold(refPseudo(src, dst, protocol, l4.length) + refSum(l4)) === 0xffff ? [] : [`${what} checksum (protocol ${protocol})`];
  }
  if (protocol === 1) return refFold(refSum(l4)) === 0xffff ? [] : [`${what} ICMP checksum`];
  return [];
}
