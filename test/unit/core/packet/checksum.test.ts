import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  checksumAdjust,
  checksumReplace16,
  checksumReplace32,
  foldChecksum,
  internetChecksum,
  ipv4HeaderChecksum,
  onesComplementSum,
  partialReplace16,
  partialReplace32,
  pseudoHeaderSum,
  udpChecksumAdjust,
  verifyIpv4HeaderChecksum,
  wordDelta16,
  wordDelta32,
  writeIpv4HeaderChecksum,
} from "../../../../src/core/packet/checksum.ts";
import { fromHex, refChecksum, refFold, refPseudo, refSum } from "./packet-builder.ts";
import { Prng } from "./prng.ts";

describe("checksum", () => {
  test("the RFC 1071 section 3 example sums to 0xddf2", () => {
    const bytes = fromHex("0001f203f4f5f6f7");
    assert.equal(onesComplementSum(bytes, 0, bytes.length), 0x2ddf0);
    assert.equal(foldChecksum(0x2ddf0), 0xddf2);
    assert.equal(internetChecksum(bytes, 0, bytes.length), 0x220d);
  });

  test("a known IPv4 header has checksum 0xb861 and verifies", () => {
    const header = fromHex("450000730000400040110000c0a80001c0a800c7");
    assert.equal(ipv4HeaderChecksum(header, 0, 20), 0xb861);
    assert.equal(verifyIpv4HeaderChecksum(header, 0, 20), false);
    writeIpv4HeaderChecksum(header, 0, 20);
    assert.equal(header[10], 0xb8);
    assert.equal(header[11], 0x61);
    assert.equal(verifyIpv4HeaderChecksum(header, 0, 20), true);
    // Computing over a header that already holds its checksum gives the same value.
    assert.equal(ipv4HeaderChecksum(header, 0, 20), 0xb861);
  });

  test("an odd final byte is padded with zero", () => {
    const bytes = fromHex("0102ff");
    assert.equal(onesComplementSum(bytes, 0, 3), 0x0102 + 0xff00);
    assert.equal(onesComplementSum(bytes, 1, 3), 0x02ff);
    assert.equal(onesComplementSum(bytes, 2, 2, 7), 7);
  });

  test("folding keeps non-zero sums non-zero and handles sums above 2^32", () => {
    assert.equal(foldChecksum(0), 0);
    assert.equal(foldChecksum(0xffff), 0xffff);
    assert.equal(foldChecksum(0x10000), 1);
    assert.equal(foldChecksum(0x1fffe), 0xffff);
    assert.equal(foldChecksum(0xffffffff), 0xffff);
    const rng = new Prng(11);
    for (let i = 0; i < 10_000; i++) {
      const sum = rng.next() * (1 + rng.int(1 << 20)) + rng.next();
      assert.equal(foldChecksum(sum), refFold(sum), `sum ${sum}`);
    }
  });

  test("RFC 1624 section 4's example gives 0x0000 with eqn. 3, not eqn. 2's 0xFFFF", () => {
    assert.equal(checksumReplace16(0xdd2f, 0x5555, 0x3285), 0x0000);
  });

  test("incremental 16- and 32-bit replacements match full recomputation on random data", () => {
    const rng = new Prng(1624);
    for (let i = 0; i < 5_000; i++) {
      const data = rng.bytes(2 * rng.range(4, 40));
      const before = refChecksum(refSum(data));
      const at = 2 * rng.int(data.length / 2 - 1);
      const old16 = (data[at]! << 8) | data[at + 1]!;
      const old32 = ((old16 << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
      if (rng.chance(0.5)) {
        const next = rng.int(65536);
        data[at] = next >> 8;
        data[at + 1] = next & 0xff;
        assert.equal(checksumReplace16(before, old16, next), refChecksum(refSum(data)));
      } else {
        const next = rng.next();
        data[at] = next >>> 24;
        data[at + 1] = (next >>> 16) & 0xff;
        data[at + 2] = (next >>> 8) & 0xff;
        data[at + 3] = next & 0xff;
        assert.equal(checksumReplace32(before, old32, next), refChecksum(refSum(data)));
      }
    }
  });

  test("accumulated deltas applied once equal the replacements applied one by one", () => {
    const rng = new Prng(3);
    for (let i = 0; i < 2_000; i++) {
      const check = rng.int(0xffff);
      const [a, b, c, d] = [rng.next(), rng.next(), rng.int(65536), rng.int(65536)];
      const stepwise = checksumReplace16(checksumReplace32(check, a, b), c, d);
      assert.equal(checksumAdjust(check, wordDelta32(a, b) + wordDelta16(c, d)), stepwise);
    }
  });

  test("partial (NEEDS_CSUM) updates track the folded pseudo-header sum without complement", () => {
    const rng = new Prng(4);
    for (let i = 0; i < 5_000; i++) {
      const [src, dst, newSrc] = [rng.next(), rng.next(), rng.next()];
      const proto = rng.pick([6, 17]);
      const len = rng.range(8, 65515);
      const partial = refFold(refPseudo(src, dst, proto, len));
      assert.equal(foldChecksum(pseudoHeaderSum(src, dst, proto, len)), partial);
      assert.equal(partialReplace32(partial, src, newSrc), refFold(refPseudo(newSrc, dst, proto, len)));
      assert.equal(partialReplace16(partial, src & 0xffff, newSrc & 0xffff), refFold(refPseudo(((src & 0xffff0000) | (newSrc & 0xffff)) >>> 0, dst, proto, len)));
    }
  });

  test("a UDP checksum of 0 stays 0 and a computed 0 becomes 0xFFFF", () => {
    assert.equal(udpChecksumAdjust(0, wordDelta32(0x0a000001, 0x0a000002)), 0);
    // ~(~0x0001 + ~0x0000 + 0x0001) = ~(0xfffe + 0xffff + 0x0001) folds to ~0xffff = 0.
    assert.equal(checksumAdjust(0x0001, wordDelta16(0x0000, 0x0001)), 0);
    assert.equal(udpChecksumAdjust(0x0001, wordDelta16(0x0000, 0x0001)), 0xffff);
  });
});
