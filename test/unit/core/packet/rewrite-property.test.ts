import { describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { DropReason } from "../../../../src/core/packet/drop-reason.ts";
import { icmpEchoReply } from "../../../../src/core/packet/icmp-echo-reply.ts";
import { DecodeFlags, DecodeResult, PacketView, decodeIpv4 } from "../../../../src/core/packet/packet-view.ts";
import { decrementTtl, rewriteDst, rewriteIcmpErrorInner, rewriteSrc, rewriteSrcDst } from "../../../../src/core/packet/rewrite.ts";
import { toHex, verifyChecksums } from "./packet-builder.ts";
import { Prng, seedFrom } from "./prng.ts";
import { build, clone, modelEchoReply, modelIcmpErrorInner, modelSrcDst, randomRecipe } from "./random-packets.ts";
import type { Recipe } from "./random-packets.ts";

const CASES = 20_000;

/** Applies one random rewrite to `buf` and the same change to the model `r`. Returns its name. */
function randomRewrite(rng: Prng, buf: Uint8Array, view: PacketView, r: Recipe): string {
  if (r.kind === "error" && rng.chance(0.7)) {
    const innerSrc = rng.next();
    const innerDst = rng.next();
    const innerSrcPort = rng.int(65536);
    const innerDstPort = r.inner.kind === "echo" ? innerSrcPort : rng.int(65536);
    rewriteIcmpErrorInner(buf, view, innerSrc, innerSrcPort, innerDst, innerDstPort);
    modelIcmpErrorInner(r, innerSrc, innerSrcPort, innerDst, innerDstPort);
    return "icmpErrorInner";
  }
  if (r.kind === "echo" && r.type === 8 && rng.chance(0.3)) {
    assert.ok(icmpEchoReply(buf, view));
    modelEchoReply(r);
    return "echoReply";
  }
  const addr = rng.next();
  const port = rng.chance(0.1) ? view.dstPort : rng.int(65536);
  switch (rng.int(4)) {
    case 0: {
      rewriteDst(buf, view, addr, port);
      const srcPort = r.kind === "echo" ? port : view.srcPort;
      modelSrcDst(r, r.ip.src, srcPort, addr, port);
      return "rewriteDst";
    }
    case 1: {
      rewriteSrc(buf, view, addr, port);
      const dstPort = r.kind === "echo" ? port : view.dstPort;
      modelSrcDst(r, addr, port, r.ip.dst, dstPort);
      return "rewriteSrc";
    }
    case 2: {
      const dst = rng.next();
      const dstPort = rng.int(65536);
      rewriteSrcDst(buf, view, addr, port, dst, dstPort);
      modelSrcDst(r, addr, port, dst, dstPort);
      return "rewriteSrcDst";
    }
    default: {
      const verdict = decrementTtl(buf, view);
      if (r.ip.ttl <= 1) assert.equal(verdict, DropReason.TtlExceeded);
      else {
        assert.equal(verdict, DecodeResult.Ok);
        r.ip.ttl -= 1;
      }
      return "decrementTtl";
    }
  }
}

describe("rewrite property", () => {
  test(`${CASES} random valid packets rewritten at random match full recomputation byte for byte`, () => {
    const seed = seedFrom(process.env, "PACKET_PROPERTY_SEED", 0x7a4d3e11);
    process.stdout.write(`rewrite property seed=${seed} (set PACKET_PROPERTY_SEED to reproduce)\n`);
    const rng = new Prng(seed);
    const view = new PacketView();
    const counts: Record<string, number> = {};
    for (let i = 0; i < CASES; i++) {
      const partial = rng.chance(0.1);
      const recipe = randomRecipe(rng, partial);
      const buf = build(recipe);
      const flags = partial ? DecodeFlags.L4ChecksumPartial : DecodeFlags.None;
      const verdict = decodeIpv4(buf, 0, buf.length, view, flags);
      assert.equal(verdict, DecodeResult.Ok, `case ${i}: valid packet must decode (seed ${seed})`);
      const model = clone(recipe);
      // Several rewrites in a row exercise the view being kept in step with the bytes.
      const steps = rng.range(1, 3);
      for (let s = 0; s < steps; s++) {
        const name = randomRewrite(rng, buf, view, model);
        counts[name] = (counts[name] ?? 0) + 1;
      }
      const expected = build(model);
      if (toHex(buf) !== toHex(expected)) {
        assert.fail(`case ${i} (seed ${seed}, ${recipe.kind}): got ${toHex(buf)} expected ${toHex(expected)}`);
      }
      const problems = verifyChecksums(buf, 0, partial);
      assert.deepEqual(problems, [], `case ${i} (seed ${seed})`);
    }
    for (const name of ["rewriteDst", "rewriteSrc", "rewriteSrcDst", "decrementTtl", "icmpErrorInner", "echoReply"]) {
      assert.ok((counts[name] ?? 0) > 100, `${name} exercised only ${counts[name] ?? 0} times`);
    }
  });
});
