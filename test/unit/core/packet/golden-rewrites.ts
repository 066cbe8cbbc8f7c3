/**
 * Golden packet table, Katran-style (katran/lib/testing/fixtures): one row per rewrite path or
 * drop, `{ description, input, op, expected }`, run by one loop in golden-rewrites.test.ts.
 * Inputs and expected outputs are built by the independent test builder, which computes every
 * checksum by full recomputation; the code under test only ever updates them incrementally.
 */

import {
  concat,
  fromHex,
  icmpEcho,
  icmpError,
  ipv4,
  pattern,
  refFold,
  refPseudo,
  refSum,
  tcp,
  toHex,
  udp,
  withVnet,
} from "./packet-builder.ts";

/** What the loop does to the decoded input. */
export type GoldenOp =
  | { kind: "decode" }
  | { kind: "rewriteDst"; addr: string; port: number }
  | { kind: "rewriteSrc"; addr: string; port: number }
  | { kind: "rewriteSrcDst"; src: string; srcPort: number; dst: string; dstPort: number }
  | { kind: "icmpErrorInner"; innerSrc: string; innerSrcPort: number; innerDst: string; innerDstPort: number; outerSrc?: string }
  | { kind: "echoReply" }
  | { kind: "decrementTtl" };

/** One golden case. */
export interface GoldenRow {
  description: string;
  /** Input packet as hex; it starts with a 10-byte virtio_net_hdr when `vnet` is true. */
  input: string;
  vnet?: boolean;
  op: GoldenOp;
  /** Expected output packet as hex (verdict Ok), or the expected drop reason's metric name. */
  expected: string | { drop: string };
}

// Addresses from the documentation ranges (RFC 5737) and a private server network.
const CLIENT = "198.51.100.7";
const VIP = "203.0.113.10";
const SERVER = "10.0.0.11";
const LOCAL = "10.0.0.2";
const ROUTER = "10.0.0.254";
const CPORT = 40000;
const LPORT = 61000;

const SYN_OPTIONS = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0x10, 0, 0, 0, 0, 0, 1, 3, 3, 7];
const DNS_QUERY = fromHex("1a2b01000001000000000000076578616d706c6503636f6d0000010001");

/** A UDP payload whose checksum, once addressed src:sport → dst:dport, computes to 0. */
function payloadForZeroUdpChecksum(src: string, sport: number, dst: string, dport: number, length: number): Uint8Array {
  const payload = pattern(length, 99);
  payload[length - 2] = 0;
  payload[length - 1] = 0;
  const draft = udp({ src, dst }, { srcPort: sport, dstPort: dport, payload, checksum: "none" });
  const seg = draft.subarray(20);
  const folded = refFold(refPseudo(srcOf(draft), dstOf(draft), 17, seg.length) + refSum(seg));
  // RFC 1071: the sum folds to 0xFFFF exactly when the complemented checksum is 0.
  const word = 0xffff - folded;
  payload[length - 2] = word >> 8;
  payload[length - 1] = word & 0xff;
  return payload;
}

function srcOf(p: Uint8Array): number {
  return ((p[12]! << 24) | (p[13]! << 16) | (p[14]! << 8) | p[15]!) >>> 0;
}

function dstOf(p: Uint8Array): number {
  return ((p[16]! << 24) | (p[17]! << 16) | (p[18]! << 8) | p[19]!) >>> 0;
}

/** Replaces one byte (for malformed inputs whose IP checksum stays right: bytes past the header). */
function poke(p: Uint8Array, at: number, value: number): Uint8Array {
  const copy = p.slice();
  copy[at] = value;
  return copy;
}

const zeroPayload = payloadForZeroUdpChecksum(CLIENT, CPORT, SERVER, 53, 30);
const superPayload = pattern(60000, 7);
const vnetTcp = { flags: 1, gsoType: 1, hdrLen: 52, gsoSize: 1448, csumStart: 20, csumOffset: 16 };
const vnetUdp = { flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 };
const tsOptions = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2];

/** Every row; see GoldenRow. */
export const goldenRewrites: GoldenRow[] = [
  {
    description: "nat: a TCP SYN to the VIP gets the server as destination",
    input: toHex(tcp({ src: CLIENT, dst: VIP, df: true }, { srcPort: CPORT, dstPort: 80, flags: 0x02, tcpOptions: SYN_OPTIONS })),
    op: { kind: "rewriteDst", addr: SERVER, port: 8080 },
    expected: toHex(tcp({ src: CLIENT, dst: SERVER, df: true }, { srcPort: CPORT, dstPort: 8080, flags: 0x02, tcpOptions: SYN_OPTIONS })),
  },
  {
    description: "nat: the server's SYN-ACK gets the VIP as source",
    input: toHex(tcp({ src: SERVER, dst: CLIENT, df: true }, { srcPort: 8080, dstPort: CPORT, flags: 0x12, seq: 77, ack: 1001, tcpOptions: SYN_OPTIONS })),
    op: { kind: "rewriteSrc", addr: VIP, port: 80 },
    expected: toHex(tcp({ src: VIP, dst: CLIENT, df: true }, { srcPort: 80, dstPort: CPORT, flags: 0x12, seq: 77, ack: 1001, tcpOptions: SYN_OPTIONS })),
  },
  {
    description: "fullnat: client data gets a local source and the server as destination",
    input: toHex(tcp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 80, flags: 0x18, tcpOptions: tsOptions, payload: pattern(517, 3) })),
    op: { kind: "rewriteSrcDst", src: LOCAL, srcPort: LPORT, dst: SERVER, dstPort: 8080 },
    expected: toHex(tcp({ src: LOCAL, dst: SERVER }, { srcPort: LPORT, dstPort: 8080, flags: 0x18, tcpOptions: tsOptions, payload: pattern(517, 3) })),
  },
  {
    description: "fullnat: the server's reply goes back from the VIP to the client",
    input: toHex(tcp({ src: SERVER, dst: LOCAL }, { srcPort: 8080, dstPort: LPORT, flags: 0x10, payload: pattern(1460, 4) })),
    op: { kind: "rewriteSrcDst", src: VIP, srcPort: 80, dst: CLIENT, dstPort: CPORT },
    expected: toHex(tcp({ src: VIP, dst: CLIENT }, { srcPort: 80, dstPort: CPORT, flags: 0x10, payload: pattern(1460, 4) })),
  },
  {
    description: "nat: a TCP packet with IP options is rewritten behind its longer header",
    input: toHex(tcp({ src: CLIENT, dst: VIP, options: [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0] }, { srcPort: CPORT, dstPort: 80, flags: 0x10, payload: pattern(11, 5) })),
    op: { kind: "rewriteDst", addr: SERVER, port: 8080 },
    expected: toHex(tcp({ src: CLIENT, dst: SERVER, options: [7, 11, 4, 0, 0, 0, 0, 0, 0, 0, 0] }, { srcPort: CPORT, dstPort: 8080, flags: 0x10, payload: pattern(11, 5) })),
  },
  {
    description: "nat: bytes after the IPv4 total length are ignored and left as they are",
    input: toHex(concat(tcp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 80, flags: 0x10 }), fromHex("deadbeef0000"))),
    op: { kind: "rewriteDst", addr: SERVER, port: 8080 },
    expected: toHex(concat(tcp({ src: CLIENT, dst: SERVER }, { srcPort: CPORT, dstPort: 8080, flags: 0x10 }), fromHex("deadbeef0000"))),
  },
  {
    description: "nat: a UDP DNS query with a checksum gets the server as destination",
    input: toHex(udp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY })),
    op: { kind: "rewriteDst", addr: SERVER, port: 53 },
    expected: toHex(udp({ src: CLIENT, dst: SERVER }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY })),
  },
  {
    description: "nat: a UDP datagram without checksum keeps checksum 0 (RFC 768)",
    input: toHex(udp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY, checksum: "none" })),
    op: { kind: "rewriteDst", addr: SERVER, port: 5353 },
    expected: toHex(udp({ src: CLIENT, dst: SERVER }, { srcPort: CPORT, dstPort: 5353, payload: DNS_QUERY, checksum: "none" })),
  },
  {
    description: "nat: a UDP checksum that computes to 0 after the rewrite is sent as 0xFFFF",
    input: toHex(udp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 5300, payload: zeroPayload })),
    op: { kind: "rewriteDst", addr: SERVER, port: 53 },
    expected: toHex(udp({ src: CLIENT, dst: SERVER }, { srcPort: CPORT, dstPort: 53, payload: zeroPayload })),
  },
  {
    description: "nat: a UDP reply from the server gets the VIP as source",
    input: toHex(udp({ src: SERVER, dst: CLIENT }, { srcPort: 53, dstPort: CPORT, payload: pattern(120, 8) })),
    op: { kind: "rewriteSrc", addr: VIP, port: 53 },
    expected: toHex(udp({ src: VIP, dst: CLIENT }, { srcPort: 53, dstPort: CPORT, payload: pattern(120, 8) })),
  },
  {
    description: "an ICMP echo request to the VIP becomes the echo reply, TTL 64",
    input: toHex(icmpEcho({ src: CLIENT, dst: VIP, ttl: 57, id: 0x4242 }, { type: 8, id: 0x0d0f, seq: 3 })),
    op: { kind: "echoReply" },
    expected: toHex(icmpEcho({ src: VIP, dst: CLIENT, ttl: 64, id: 0x4242 }, { type: 0, id: 0x0d0f, seq: 3, payload: pattern(32, 0x0d0f) })),
  },
  {
    description: "fullnat: an ICMP echo gets a local source, the server as destination and a new identifier",
    input: toHex(icmpEcho({ src: CLIENT, dst: VIP }, { type: 8, id: 0x0d0f, seq: 9, payload: pattern(56, 1) })),
    op: { kind: "rewriteSrcDst", src: LOCAL, srcPort: 0x7001, dst: SERVER, dstPort: 0x0d0f },
    expected: toHex(icmpEcho({ src: LOCAL, dst: SERVER }, { type: 8, id: 0x7001, seq: 9, payload: pattern(56, 1) })),
  },
  {
    description: "fullnat: an ICMP echo reply gets the client's identifier back",
    input: toHex(icmpEcho({ src: SERVER, dst: LOCAL }, { type: 0, id: 0x7001, seq: 9, payload: pattern(56, 1) })),
    op: { kind: "rewriteSrcDst", src: VIP, srcPort: 0x7001, dst: CLIENT, dstPort: 0x0d0f },
    expected: toHex(icmpEcho({ src: VIP, dst: CLIENT }, { type: 0, id: 0x0d0f, seq: 9, payload: pattern(56, 1) })),
  },
  {
    description: "nat: port unreachable from the server about a UDP flow reaches the client translated",
    input: toHex(icmpError({ src: SERVER, dst: CLIENT }, {
      type: 3,
      code: 3,
      original: udp({ src: CLIENT, dst: SERVER, ttl: 63 }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY }),
    })),
    op: { kind: "icmpErrorInner", innerSrc: CLIENT, innerSrcPort: CPORT, innerDst: VIP, innerDstPort: 53, outerSrc: VIP },
    expected: toHex(icmpError({ src: VIP, dst: CLIENT }, {
      type: 3,
      code: 3,
      original: udp({ src: CLIENT, dst: VIP, ttl: 63 }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY }),
    })),
  },
  {
    description: "fullnat: port unreachable from the server about a UDP flow reaches the client translated",
    input: toHex(icmpError({ src: SERVER, dst: LOCAL }, {
      type: 3,
      code: 3,
      original: udp({ src: LOCAL, dst: SERVER, ttl: 63 }, { srcPort: LPORT, dstPort: 53, payload: DNS_QUERY }),
    })),
    op: { kind: "icmpErrorInner", innerSrc: CLIENT, innerSrcPort: CPORT, innerDst: VIP, innerDstPort: 53, outerSrc: VIP },
    expected: toHex(icmpError({ src: VIP, dst: CLIENT }, {
      type: 3,
      code: 3,
      original: udp({ src: CLIENT, dst: VIP, ttl: 63 }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY }),
    })),
  },
  {
    description: "nat: fragmentation-needed from a router about a TCP flow (576-byte quote) reaches the client",
    input: toHex(icmpError({ src: ROUTER, dst: CLIENT }, {
      type: 3,
      code: 4,
      mtu: 1400,
      original: tcp({ src: CLIENT, dst: SERVER, df: true, ttl: 62 }, { srcPort: CPORT, dstPort: 8080, flags: 0x18, payload: pattern(1460, 2) }),
      quoteLength: 548,
    })),
    op: { kind: "icmpErrorInner", innerSrc: CLIENT, innerSrcPort: CPORT, innerDst: VIP, innerDstPort: 80 },
    expected: toHex(icmpError({ src: ROUTER, dst: CLIENT }, {
      type: 3,
      code: 4,
      mtu: 1400,
      original: tcp({ src: CLIENT, dst: VIP, df: true, ttl: 62 }, { srcPort: CPORT, dstPort: 80, flags: 0x18, payload: pattern(1460, 2) }),
      quoteLength: 548,
    })),
  },
  {
    description: "fullnat: fragmentation-needed quoting only 8 bytes of TCP (RFC 792 minimum) reaches the client",
    input: toHex(icmpError({ src: ROUTER, dst: LOCAL }, {
      type: 3,
      code: 4,
      mtu: 1280,
      original: tcp({ src: LOCAL, dst: SERVER, df: true }, { srcPort: LPORT, dstPort: 8080, flags: 0x18, payload: pattern(1400, 2) }),
      quoteLength: 28,
    })),
    op: { kind: "icmpErrorInner", innerSrc: CLIENT, innerSrcPort: CPORT, innerDst: VIP, innerDstPort: 80 },
    expected: toHex(icmpError({ src: ROUTER, dst: CLIENT }, {
      type: 3,
      code: 4,
      mtu: 1280,
      original: tcp({ src: CLIENT, dst: VIP, df: true }, { srcPort: CPORT, dstPort: 80, flags: 0x18, payload: pattern(1400, 2) }),
      quoteLength: 28,
    })),
  },
  {
    description: "fullnat: time exceeded about an ICMP echo gets the client's address and identifier back",
    input: toHex(icmpError({ src: ROUTER, dst: LOCAL }, {
      type: 11,
      code: 0,
      original: icmpEcho({ src: LOCAL, dst: SERVER, ttl: 1 }, { type: 8, id: 0x7001, seq: 4 }),
    })),
    op: { kind: "icmpErrorInner", innerSrc: CLIENT, innerSrcPort: 0x0d0f, innerDst: VIP, innerDstPort: 0x0d0f },
    expected: toHex(icmpError({ src: ROUTER, dst: CLIENT }, {
      type: 11,
      code: 0,
      original: icmpEcho({ src: CLIENT, dst: VIP, ttl: 1 }, { type: 8, id: 0x0d0f, seq: 4, payload: pattern(32, 0x7001) }),
    })),
  },
  {
    description: "NEEDS_CSUM: a 60 KB TCP super-packet gets the server as destination, partial sum adjusted uncomplemented",
    vnet: true,
    input: toHex(withVnet(vnetTcp, tcp({ src: CLIENT, dst: VIP, df: true }, { srcPort: CPORT, dstPort: 80, flags: 0x10, tcpOptions: tsOptions, payload: superPayload, checksum: "partial" }))),
    op: { kind: "rewriteDst", addr: SERVER, port: 8080 },
    expected: toHex(withVnet(vnetTcp, tcp({ src: CLIENT, dst: SERVER, df: true }, { srcPort: CPORT, dstPort: 8080, flags: 0x10, tcpOptions: tsOptions, payload: superPayload, checksum: "partial" }))),
  },
  {
    description: "NEEDS_CSUM: a fullnat TCP super-packet reply changes both addresses in the partial sum, not the ports",
    vnet: true,
    input: toHex(withVnet(vnetTcp, tcp({ src: SERVER, dst: LOCAL, df: true }, { srcPort: 8080, dstPort: LPORT, flags: 0x10, tcpOptions: tsOptions, payload: superPayload, checksum: "partial" }))),
    op: { kind: "rewriteSrcDst", src: VIP, srcPort: 80, dst: CLIENT, dstPort: CPORT },
    expected: toHex(withVnet(vnetTcp, tcp({ src: VIP, dst: CLIENT, df: true }, { srcPort: 80, dstPort: CPORT, flags: 0x10, tcpOptions: tsOptions, payload: superPayload, checksum: "partial" }))),
  },
  {
    description: "NEEDS_CSUM: a UDP datagram with a partial checksum gets the server as destination",
    vnet: true,
    input: toHex(withVnet(vnetUdp, udp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY, checksum: "partial" }))),
    op: { kind: "rewriteDst", addr: SERVER, port: 5353 },
    expected: toHex(withVnet(vnetUdp, udp({ src: CLIENT, dst: SERVER }, { srcPort: CPORT, dstPort: 5353, payload: DNS_QUERY, checksum: "partial" }))),
  },
  {
    description: "a TTL decrement keeps the IPv4 header checksum valid",
    input: toHex(tcp({ src: CLIENT, dst: VIP, ttl: 64 }, { srcPort: CPORT, dstPort: 80 })),
    op: { kind: "decrementTtl" },
    expected: toHex(tcp({ src: CLIENT, dst: VIP, ttl: 63 }, { srcPort: CPORT, dstPort: 80 })),
  },
  {
    description: "a TTL decrement from 1 is refused as ttl_exceeded",
    input: toHex(tcp({ src: CLIENT, dst: VIP, ttl: 1 }, { srcPort: CPORT, dstPort: 80 })),
    op: { kind: "decrementTtl" },
    expected: { drop: "ttl_exceeded" },
  },
  {
    description: "a first fragment decodes with its ports and is left untouched",
    input: toHex(udp({ src: CLIENT, dst: VIP, mf: true }, { srcPort: CPORT, dstPort: 53, udpLength: 3000, payload: pattern(1472, 6), checksum: "none" })),
    op: { kind: "decode" },
    expected: toHex(udp({ src: CLIENT, dst: VIP, mf: true }, { srcPort: CPORT, dstPort: 53, udpLength: 3000, payload: pattern(1472, 6), checksum: "none" })),
  },
  {
    description: "a packet shorter than its IPv4 total length is dropped as truncated",
    input: toHex(tcp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 80, payload: pattern(100, 1) }).subarray(0, 90)),
    op: { kind: "decode" },
    expected: { drop: "truncated" },
  },
  {
    description: "a packet shorter than an IPv4 header is dropped as truncated",
    input: "4500001c0000",
    op: { kind: "decode" },
    expected: { drop: "truncated" },
  },
  {
    description: "an empty read is dropped as truncated",
    input: "",
    op: { kind: "decode" },
    expected: { drop: "truncated" },
  },
  {
    description: "IP version 5 is dropped as bad_version",
    input: toHex(ipv4({ src: CLIENT, dst: VIP, protocol: 6, version: 5 }, new Uint8Array(20))),
    op: { kind: "decode" },
    expected: { drop: "bad_version" },
  },
  {
    description: "an IPv6 packet is dropped as ipv6",
    input: "6000000000083a40" + "fe80".padEnd(32, "0") + "ff02".padEnd(30, "0") + "02" + "8500000000000000",
    op: { kind: "decode" },
    expected: { drop: "ipv6" },
  },
  {
    description: "IHL 4 is dropped as bad_ihl",
    input: toHex(ipv4({ src: CLIENT, dst: VIP, protocol: 6, ihl: 4 }, new Uint8Array(20))),
    op: { kind: "decode" },
    expected: { drop: "bad_ihl" },
  },
  {
    description: "an IHL longer than the packet is dropped as truncated",
    input: toHex(ipv4({ src: CLIENT, dst: VIP, protocol: 6, ihl: 15 }, new Uint8Array(20))),
    op: { kind: "decode" },
    expected: { drop: "truncated" },
  },
  {
    description: "a total length below the header length is dropped as bad_total_length",
    input: toHex(ipv4({ src: CLIENT, dst: VIP, protocol: 6, totalLength: 16 }, new Uint8Array(20))),
    op: { kind: "decode" },
    expected: { drop: "bad_total_length" },
  },
  {
    description: "a wrong IPv4 header checksum is dropped as bad_ip_checksum",
    input: toHex(tcp({ src: CLIENT, dst: VIP, corruptChecksum: true }, { srcPort: CPORT, dstPort: 80 })),
    op: { kind: "decode" },
    expected: { drop: "bad_ip_checksum" },
  },
  {
    description: "a non-first fragment is dropped as fragment",
    input: toHex(ipv4({ src: CLIENT, dst: VIP, protocol: 17, fragmentOffset: 1480 }, pattern(600, 2))),
    op: { kind: "decode" },
    expected: { drop: "fragment" },
  },
  {
    description: "GRE is dropped as unsupported_protocol",
    input: toHex(ipv4({ src: CLIENT, dst: VIP, protocol: 47 }, pattern(24, 2))),
    op: { kind: "decode" },
    expected: { drop: "unsupported_protocol" },
  },
  {
    description: "a TCP data offset of 4 words is dropped as bad_tcp_offset",
    input: toHex(poke(tcp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 80 }), 32, 0x40)),
    op: { kind: "decode" },
    expected: { drop: "bad_tcp_offset" },
  },
  {
    description: "a TCP data offset past the segment is dropped as bad_tcp_offset",
    input: toHex(poke(tcp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 80, payload: pattern(10, 1) }), 32, 0xf0)),
    op: { kind: "decode" },
    expected: { drop: "bad_tcp_offset" },
  },
  {
    description: "a TCP segment shorter than 20 bytes is dropped as truncated",
    input: toHex(ipv4({ src: CLIENT, dst: VIP, protocol: 6 }, pattern(12, 1))),
    op: { kind: "decode" },
    expected: { drop: "truncated" },
  },
  {
    description: "a UDP length below 8 is dropped as bad_udp_length",
    input: toHex(udp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY, udpLength: 7 })),
    op: { kind: "decode" },
    expected: { drop: "bad_udp_length" },
  },
  {
    description: "a UDP length beyond the IP payload is dropped as bad_udp_length",
    input: toHex(udp({ src: CLIENT, dst: VIP }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY, udpLength: 200 })),
    op: { kind: "decode" },
    expected: { drop: "bad_udp_length" },
  },
  {
    description: "an ICMP error quoting 10 bytes is dropped as icmp_truncated",
    input: toHex(icmpError({ src: SERVER, dst: CLIENT }, {
      type: 3,
      code: 3,
      original: udp({ src: CLIENT, dst: SERVER }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY }),
      quoteLength: 10,
    })),
    op: { kind: "decode" },
    expected: { drop: "icmp_truncated" },
  },
  {
    description: "an ICMP error quoting the IP header but only 4 bytes of UDP is dropped as icmp_truncated",
    input: toHex(icmpError({ src: SERVER, dst: CLIENT }, {
      type: 3,
      code: 3,
      original: udp({ src: CLIENT, dst: SERVER }, { srcPort: CPORT, dstPort: 53, payload: DNS_QUERY }),
      quoteLength: 24,
    })),
    op: { kind: "decode" },
    expected: { drop: "icmp_truncated" },
  },
  {
    description: "an ICMP error quoting an ICMP error is dropped as icmp_inner_bad",
    input: toHex(icmpError({ src: SERVER, dst: CLIENT }, {
      type: 3,
      code: 1,
      original: icmpError({ src: CLIENT, dst: SERVER }, { type: 3, code: 3, original: udp({ src: SERVER, dst: CLIENT }, { srcPort: 53, dstPort: CPORT }) }),
    })),
    op: { kind: "decode" },
    expected: { drop: "icmp_inner_bad" },
  },
  {
    description: "an ICMP error quoting a non-IPv4 header is dropped as icmp_inner_bad",
    input: toHex(icmpError({ src: SERVER, dst: CLIENT }, { type: 11, code: 0, original: pattern(40, 3).map((b, i) => (i === 0 ? 0x65 : b)) })),
    op: { kind: "decode" },
    expected: { drop: "icmp_inner_bad" },
  },
];
