import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DropReason } from "../../../../src/core/packet/drop-reason.ts";
import { icmpEchoReply } from "../../../../src/core/packet/icmp-echo-reply.ts";
import { DecodeFlags, DecodeResult, IpProtocol, PacketView, TcpFlag, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import { rewriteIcmpErrorInner } from "../../../../src/core/packet/rewrite.ts";
import { concat, icmpEcho, icmpError, ip, pattern, tcp, toHex, udp, verifyChecksums } from "./packet-builder.ts";

describe("decodeIpv4", () => {
  test("a TCP SYN decodes addresses, ports, sequence numbers, flags and offsets", () => {
    const pkt = tcp({ src: "198.51.100.7", dst: "203.0.113.10", ttl: 61, id: 0xbeef, df: true }, {
      srcPort: 40000, dstPort: 80, seq: 0xfedcba98, ack: 0x01020304, flags: TcpFlag.Syn | TcpFlag.Ece, tcpOptions: [2, 4, 5, 0xb4],
    });
    const view = new PacketView();
    assert.equal(decodeIpv4(pkt, 0, pkt.length, view), DecodeResult.Ok);
    assert.equal(view.src, ip("198.51.100.7"));
    assert.equal(view.dst, ip("203.0.113.10"));
    assert.ok(view.dst > 0x7fffffff, "addresses are unsigned");
    assert.equal(view.protocol, IpProtocol.Tcp);
    assert.equal(view.ttl, 61);
    assert.equal(view.id, 0xbeef);
    assert.equal(view.dontFragment, true);
    assert.equal(view.moreFragments, false);
    assert.equal(view.headerLength, 20);
    assert.equal(view.totalLength, 44);
    assert.equal(view.end, 44);
    assert.equal(view.l4Offset, 20);
    assert.equal(view.l4Length, 24);
    assert.equal(view.srcPort, 40000);
    assert.equal(view.dstPort, 80);
    assert.equal(view.tcpSeq, 0xfedcba98);
    assert.equal(view.tcpAck, 0x01020304);
    assert.equal(view.tcpFlags, TcpFlag.Syn | TcpFlag.Ece);
    assert.equal(view.tcpHeaderLength, 24);
    assert.equal(view.l4ChecksumOffset, 36);
    assert.equal(view.l4ChecksumPartial, false);
    assert.equal(view.isIcmpError, false);
  });

  test("offsets are absolute inside a larger buffer and trailing bytes are ignored", () => {
    const pkt = udp({ src: "10.0.0.1", dst: "10.0.0.2", options: [1, 1, 1, 1] }, { srcPort: 5353, dstPort: 53, payload: pattern(10) });
    const buf = concat(new Uint8Array(13), pkt, new Uint8Array([9, 9, 9]));
    const view = new PacketView();
    assert.equal(decodeIpv4(buf, 13, buf.length - 13, view), DecodeResult.Ok);
    assert.equal(view.l3Offset, 13);
    assert.equal(view.headerLength, 24);
    assert.equal(view.l4Offset, 37);
    assert.equal(view.end, 13 + pkt.length);
    assert.equal(view.udpLength, 18);
    assert.equal(view.l4ChecksumOffset, 43);
    assert.equal(view.dstPort, 53);
  });

  test("the IP checksum check can be skipped, and the partial flag is recorded", () => {
    const pkt = tcp({ src: "10.0.0.1", dst: "10.0.0.2", corruptChecksum: true }, { srcPort: 1, dstPort: 2 });
    const view = new PacketView();
    assert.equal(decodeIpv4(pkt, 0, pkt.length, view), DropReason.BadIpChecksum);
    assert.equal(decodeIpv4(pkt, 0, pkt.length, view, DecodeFlags.SkipIpChecksum | DecodeFlags.L4ChecksumPartial), DecodeResult.Ok);
    assert.equal(view.l4ChecksumPartial, true);
  });

  test("an ICMP echo exposes its identifier as both ports", () => {
    const pkt = icmpEcho({ src: "198.51.100.7", dst: "203.0.113.10" }, { type: 8, id: 0x1234, seq: 7 });
    const view = new PacketView();
    assert.equal(decodeIpv4(pkt, 0, pkt.length, view), DecodeResult.Ok);
    assert.equal(view.icmpType, 8);
    assert.equal(view.icmpId, 0x1234);
    assert.equal(view.icmpSeq, 7);
    assert.equal(view.srcPort, 0x1234);
    assert.equal(view.dstPort, 0x1234);
    assert.equal(view.l4ChecksumOffset, 22);
  });

  test("an ICMP error decodes the quoted packet's tuple", () => {
    const original = tcp({ src: "198.51.100.7", dst: "10.0.0.11", options: [1, 1, 1, 1] }, { srcPort: 40000, dstPort: 8080, payload: pattern(100) });
    const pkt = icmpError({ src: "10.0.0.254", dst: "198.51.100.7" }, { type: 3, code: 4, mtu: 1400, original, quoteLength: 32 });
    const view = new PacketView();
    assert.equal(decodeIpv4(pkt, 0, pkt.length, view), DecodeResult.Ok);
    assert.equal(view.isIcmpError, true);
    assert.equal(view.icmpType, 3);
    assert.equal(view.icmpCode, 4);
    assert.equal(view.srcPort, 0);
    assert.equal(view.innerOffset, 28);
    assert.equal(view.innerHeaderLength, 24);
    assert.equal(view.innerProtocol, IpProtocol.Tcp);
    assert.equal(view.innerSrc, ip("198.51.100.7"));
    assert.equal(view.innerDst, ip("10.0.0.11"));
    assert.equal(view.innerL4Offset, 52);
    assert.equal(view.innerSrcPort, 40000);
    assert.equal(view.innerDstPort, 8080);
    assert.equal(view.innerL4ChecksumOffset, -1, "8 bytes of TCP do not reach its checksum");
  });

  test("a reused view does not keep the previous packet's ports or ICMP error state", () => {
    const view = new PacketView();
    const err = icmpError({ src: "10.0.0.254", dst: "10.0.0.1" }, { type: 11, code: 0, original: udp({ src: "10.0.0.1", dst: "10.0.0.9" }, { srcPort: 1, dstPort: 2 }) });
    assert.equal(decodeIpv4(err, 0, err.length, view), DecodeResult.Ok);
    assert.equal(view.isIcmpError, true);
    const seg = tcp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 7, dstPort: 9, flags: TcpFlag.Ack });
    assert.equal(decodeIpv4(seg, 0, seg.length, view), DecodeResult.Ok);
    assert.equal(view.isIcmpError, false);
    assert.equal(view.icmpType, -1);
    const other = icmpEcho({ src: "10.0.0.1", dst: "10.0.0.2" }, { type: 13, id: 5 });
    assert.equal(decodeIpv4(other, 0, other.length, view), DecodeResult.Ok);
    assert.equal(view.icmpType, 13);
    assert.equal(view.srcPort, 0);
    assert.equal(view.dstPort, 0);
    assert.equal(view.tcpFlags, 0);
  });

  test("a first fragment is Ok with moreFragments set; a later one is dropped as fragment", () => {
    const view = new PacketView();
    const first = udp({ src: "10.0.0.1", dst: "10.0.0.2", mf: true }, { srcPort: 1, dstPort: 53, udpLength: 4000, payload: pattern(1000), checksum: "none" });
    assert.equal(decodeIpv4(first, 0, first.length, view), DecodeResult.Ok);
    assert.equal(view.moreFragments, true);
    assert.equal(view.fragmentOffset, 0);
    assert.equal(view.dstPort, 53);
    const later = udp({ src: "10.0.0.1", dst: "10.0.0.2", fragmentOffset: 1008 }, { srcPort: 1, dstPort: 53 });
    assert.equal(decodeIpv4(later, 0, later.length, view), DropReason.Fragment);
    assert.equal(view.fragmentOffset, 1008);
  });

  test("a 64 KB super-packet decodes", () => {
    const pkt = tcp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 1, dstPort: 2, payload: pattern(65535 - 40), checksum: "partial" });
    const view = new PacketView();
    assert.equal(decodeIpv4(pkt, 0, pkt.length, view, DecodeFlags.L4ChecksumPartial), DecodeResult.Ok);
    assert.equal(view.totalLength, 65535);
    assert.equal(view.l4Length, 65515);
  });
});

describe("icmpEchoReply", () => {
  test("refuses anything but an echo request and writes nothing", () => {
    const view = new PacketView();
    for (const pkt of [
      icmpEcho({ src: "10.0.0.1", dst: "10.0.0.2" }, { type: 0, id: 1 }),
      udp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 1, dstPort: 2 }),
    ]) {
      const before = toHex(pkt);
      assert.equal(decodeIpv4(pkt, 0, pkt.length, view), DecodeResult.Ok);
      assert.equal(icmpEchoReply(pkt, view), false);
      assert.equal(toHex(pkt), before);
    }
  });
});

describe("rewriteIcmpErrorInner", () => {
  test("a quote that ends inside the TCP checksum leaves that byte alone and keeps the ICMP checksum valid", () => {
    const original = tcp({ src: "10.0.0.2", dst: "10.0.0.11" }, { srcPort: 61000, dstPort: 8080, payload: pattern(50) });
    const pkt = icmpError({ src: "10.0.0.254", dst: "10.0.0.2" }, { type: 3, code: 4, original, quoteLength: 20 + 17 });
    const view = new PacketView();
    assert.equal(decodeIpv4(pkt, 0, pkt.length, view), DecodeResult.Ok);
    assert.equal(view.innerL4ChecksumOffset, -1);
    const halfChecksum = pkt[pkt.length - 1];
    rewriteIcmpErrorInner(pkt, view, ip("198.51.100.7"), 40000, ip("203.0.113.10"), 80);
    assert.equal(pkt[pkt.length - 1], halfChecksum);
    assert.deepEqual(verifyChecksums(pkt), []);
    assert.equal(view.dst, ip("198.51.100.7"));
  });
});
