import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DecodeFlags, DecodeResult, PacketView, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import {
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  VirtioNetHdr,
  VnetGsoType,
  decodeVirtioNetHdr,
  encodeVirtioNetHdr,
  vnetPartialChecksumMatches,
} from "../../../../src/core/packet/virtio-net-hdr.ts";
import { fromHex, icmpEcho, tcp, toHex, udp, withVnet } from "./packet-builder.ts";

describe("virtio_net_hdr", () => {
  test("decodes the little-endian fields of a TSO header", () => {
    const buf = fromHex("01 01 4200 a805 1400 1000");
    const hdr = new VirtioNetHdr();
    assert.equal(decodeVirtioNetHdr(buf, 0, buf.length, hdr), true);
    assert.equal(hdr.flags, VNET_HDR_F_NEEDS_CSUM);
    assert.equal(hdr.gsoType, VnetGsoType.TcpV4);
    assert.equal(hdr.hdrLen, 66);
    assert.equal(hdr.gsoSize, 1448);
    assert.equal(hdr.csumStart, 20);
    assert.equal(hdr.csumOffset, 16);
  });

  test("encode writes back exactly what decode read", () => {
    const buf = fromHex("00aa 05 81 3412 ffff 0100 fe00 77");
    const hdr = new VirtioNetHdr();
    assert.equal(decodeVirtioNetHdr(buf, 2, buf.length - 2, hdr), true);
    assert.equal(hdr.gsoType, VnetGsoType.TcpV4 | VnetGsoType.Ecn);
    const out = new Uint8Array(buf.length);
    out.set(buf);
    out.fill(0, 2, 12);
    encodeVirtioNetHdr(out, 2, hdr);
    assert.equal(toHex(out), toHex(buf));
  });

  test("a read shorter than the header is refused", () => {
    const hdr = new VirtioNetHdr();
    assert.equal(decodeVirtioNetHdr(new Uint8Array(9), 0, 9, hdr), false);
    assert.equal(decodeVirtioNetHdr(new Uint8Array(12), 4, 12, hdr), false, "length past the buffer");
  });

  test("NEEDS_CSUM matches only when it points at the decoded L4 checksum", () => {
    const view = new PacketView();
    const hdr = new VirtioNetHdr();
    const cases: Array<[Uint8Array, boolean]> = [
      [withVnet({ flags: 1, gsoType: 1, hdrLen: 40, gsoSize: 1448, csumStart: 20, csumOffset: 16 }, tcp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 1, dstPort: 2, checksum: "partial" })), true],
      [withVnet({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 }, udp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 1, dstPort: 2, checksum: "partial" })), true],
      [withVnet({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 16 }, udp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 1, dstPort: 2, checksum: "partial" })), false],
      [withVnet({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 24, csumOffset: 16 }, tcp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 1, dstPort: 2, checksum: "partial" })), false],
      [withVnet({ flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 16 }, tcp({ src: "10.0.0.1", dst: "10.0.0.2" }, { srcPort: 1, dstPort: 2 })), false],
      [withVnet({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 2 }, icmpEcho({ src: "10.0.0.1", dst: "10.0.0.2" }, { type: 8, id: 1 })), true],
    ];
    for (const [buf, expected] of cases) {
      assert.equal(decodeVirtioNetHdr(buf, 0, buf.length, hdr), true);
      assert.equal(decodeIpv4(buf, VNET_HDR_LEN, buf.length - VNET_HDR_LEN, view, DecodeFlags.L4ChecksumPartial), DecodeResult.Ok);
      assert.equal(vnetPartialChecksumMatches(hdr, view), expected);
    }
  });
});
