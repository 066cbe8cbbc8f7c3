import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { dropReasonNames } from "../../../../src/core/packet/drop-reason.ts";
import { icmpEchoReply } from "../../../../src/core/packet/icmp-echo-reply.ts";
import { parseIpv4 } from "../../../../src/core/packet/ipv4-address.ts";
import { DecodeFlags, DecodeResult, PacketView, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import { decrementTtl, rewriteDst, rewriteIcmpErrorInner, rewriteSrc, rewriteSrcDst } from "../../../../src/core/packet/rewrite.ts";
import {
  VNET_HDR_F_NEEDS_CSUM,
  VNET_HDR_LEN,
  VirtioNetHdr,
  decodeVirtioNetHdr,
  vnetPartialChecksumMatches,
} from "../../../../src/core/packet/virtio-net-hdr.ts";
import { goldenRewrites } from "./golden-rewrites.ts";
import type { GoldenOp } from "./golden-rewrites.ts";
import { fromHex, toHex, verifyChecksums } from "./packet-builder.ts";

function addr(text: string): number {
  const value = parseIpv4(text);
  if (value === undefined) throw new Error(`Bad address in golden table: "${text}"`);
  return value;
}

/** Applies `op`; returns the verdict (0 = Ok, else a drop code). */
function apply(buf: Uint8Array, view: PacketView, op: GoldenOp): number {
  switch (op.kind) {
    case "decode":
      return DecodeResult.Ok;
    case "rewriteDst":
      rewriteDst(buf, view, addr(op.addr), op.port);
      return DecodeResult.Ok;
    case "rewriteSrc":
      rewriteSrc(buf, view, addr(op.addr), op.port);
      return DecodeResult.Ok;
    case "rewriteSrcDst":
      rewriteSrcDst(buf, view, addr(op.src), op.srcPort, addr(op.dst), op.dstPort);
      return DecodeResult.Ok;
    case "icmpErrorInner":
      assert.ok(view.isIcmpError, "input must decode as an ICMP error");
      rewriteIcmpErrorInner(buf, view, addr(op.innerSrc), op.innerSrcPort, addr(op.innerDst), op.innerDstPort);
      if (op.outerSrc !== undefined) rewriteSrc(buf, view, addr(op.outerSrc), 0);
      return DecodeResult.Ok;
    case "echoReply":
      assert.ok(icmpEchoReply(buf, view), "input must be an echo request");
      return DecodeResult.Ok;
    case "decrementTtl":
      return decrementTtl(buf, view);
  }
}

describe("golden packet table", () => {
  for (const row of goldenRewrites) {
    test(row.description, () => {
      const buf = fromHex(row.input);
      const before = toHex(buf);
      const view = new PacketView();
      let offset = 0;
      let flags: number = DecodeFlags.None;
      const hdr = new VirtioNetHdr();
      if (row.vnet === true) {
        assert.ok(decodeVirtioNetHdr(buf, 0, buf.length, hdr));
        offset = VNET_HDR_LEN;
        if ((hdr.flags & VNET_HDR_F_NEEDS_CSUM) !== 0) flags |= DecodeFlags.L4ChecksumPartial;
      }
      let verdict = decodeIpv4(buf, offset, buf.length - offset, view, flags);
      if (verdict === DecodeResult.Ok) {
        if (row.vnet === true && (hdr.flags & VNET_HDR_F_NEEDS_CSUM) !== 0) {
          assert.ok(vnetPartialChecksumMatches(hdr, view), "virtio csum_start/csum_offset must point at the L4 checksum");
        }
        if (typeof row.expected === "string") {
          assert.deepEqual(verifyChecksums(buf, offset, view.l4ChecksumPartial), [], "input checksums must verify");
        }
        verdict = apply(buf, view, row.op);
      }
      if (typeof row.expected === "string") {
        assert.equal(dropReasonNames[verdict] || "ok", "ok");
        assert.equal(toHex(buf), row.expected);
        assert.deepEqual(verifyChecksums(buf, offset, view.l4ChecksumPartial), [], "output checksums must verify");
        if (row.op.kind !== "decode") assert.notEqual(toHex(buf), before, "a rewrite row must change the packet");
        // The rewritten packet decodes again with the view the rewrite kept up to date.
        const again = new PacketView();
        assert.equal(decodeIpv4(buf, offset, buf.length - offset, again, flags), DecodeResult.Ok);
        for (const key of ["src", "dst", "srcPort", "dstPort", "ttl", "icmpType", "innerSrc", "innerDst", "innerSrcPort", "innerDstPort"] as const) {
          assert.equal(again[key], view[key], `view.${key} kept in step with the packet`);
        }
      } else {
        assert.equal(dropReasonNames[verdict] || "ok", row.expected.drop);
        assert.equal(toHex(buf), before, "a dropped packet is not modified");
      }
    });
  }

  test("the table covers every decode drop reason it promises", () => {
    const drops = new Set(goldenRewrites.flatMap((r) => (typeof r.expected === "string" ? [] : [r.expected.drop])));
    for (const name of [
      "truncated",
      "bad_version",
      "ipv6",
      "bad_ihl",
      "bad_total_length",
      "bad_ip_checksum",
      "fragment",
      "unsupported_protocol",
      "bad_tcp_offset",
      "bad_udp_length",
      "icmp_truncated",
      "icmp_inner_bad",
      "ttl_exceeded",
    ]) {
      assert.ok(drops.has(name), `no golden row for ${name}`);
    }
  });

  test("the UDP zero-checksum row really produces 0xFFFF from a non-0xFFFF input", () => {
    const row = goldenRewrites.find((r) => r.description.includes("computes to 0"));
    assert.ok(row && typeof row.expected === "string");
    assert.notEqual(row.input.slice(52, 56), "ffff");
    assert.equal(row.expected.slice(52, 56), "ffff");
  });
});
