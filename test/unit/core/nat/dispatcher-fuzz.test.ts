/**
 * Fuzz: 1,000,000 random and mutated packets through the whole dispatcher (decode, connection
 * table, schedulers, rewrites). No exception; every packet is either passed on or counted as a
 * drop by reason; the table stays within capacity and consistent. Mutations start from packets
 * aimed at the services (so many reach the NAT paths), then flip, truncate or extend them.
 */
import assert from "node:assert/strict";
import process from "node:process";
import { test } from "node:test";
import { Dispatcher, Verdict } from "../../../../src/core/nat/dispatcher.ts";
import { Prng, seedFrom } from "../packet/prng.ts";
import { icmpEcho, icmpError, tcp, udp } from "../packet/packet-builder.ts";
import { goldenSpec, VIP, S1, LIP } from "./golden-spec.ts";

const TOTAL = 1_000_000;

function seeds(rng: Prng): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < 64; i++) {
    const client = `192.0.2.${1 + rng.int(50)}`;
    const port = 1024 + rng.int(60000);
    out.push(tcp({ src: client, dst: VIP }, { srcPort: port, dstPort: 80, flags: [2, 16, 24, 17, 4][rng.int(5)]! }));
    out.push(tcp({ src: S1, dst: client }, { srcPort: 80, dstPort: port, flags: 18 }));
    out.push(udp({ src: client, dst: VIP }, { srcPort: port, dstPort: 53, payload: new Uint8Array(rng.int(64)) }));
    out.push(udp({ src: S1, dst: LIP }, { srcPort: 53, dstPort: 20000 + rng.int(1000) }));
    out.push(icmpEcho({ src: client, dst: VIP }, { type: 8, id: port & 0xffff }));
    out.push(icmpError({ src: S1, dst: LIP }, { type: 3, code: 3, original: udp({ src: LIP, dst: S1 }, { srcPort: 20000 + rng.int(1000), dstPort: 53 }) }));
  }
  return out;
}

test("a million random and mutated packets never throw and every drop is counted", () => {
  const seed = seedFrom(process.env, "DISPATCHER_FUZZ_SEED", 20261121);
  process.stdout.write(`dispatcher fuzz seed ${seed} (set DISPATCHER_FUZZ_SEED to replay)\n`);
  const rng = new Prng(seed);
  const spec = { ...goldenSpec(), maxConnections: 4096 };
  const d = new Dispatcher(spec, { seed });
  const base = seeds(rng);
  const buf = new Uint8Array(2048);
  let passed = 0;
  let nowMs = 0;
  for (let n = 0; n < TOTAL; n++) {
    let length: number;
    const kind = rng.int(10);
    if (kind === 0) {
      length = rng.int(1600);
      for (let i = 0; i < length; i++) buf[i] = rng.int(256);
    } else {
      const src = base[rng.int(base.length)]!;
      buf.set(src);
      length = src.length;
      const flips = kind < 4 ? 0 : 1 + rng.int(4);
      for (let f = 0; f < flips; f++) buf[rng.int(length)] = rng.int(256);
      if (kind === 9) length = rng.int(length + 1);
      if (kind === 8) length = Math.min(buf.length, length + rng.int(64));
    }
    const verdict = d.process(buf, 0, length, nowMs);
    if (verdict !== Verdict.Drop) passed++;
    if ((n & 1023) === 0) {
      nowMs += 500;
      d.expire(nowMs, 4096);
    }
  }
  const drops = d.drops.total();
  process.stdout.write(`dispatcher fuzz: ${passed} passed on, ${drops} dropped, ${JSON.stringify(d.drops.snapshot())}\n`);
  assert.equal(passed + drops, TOTAL);
  assert.ok(passed > 10_000, "the mutations still reach the NAT paths");
  assert.ok(d.table.stats().count <= spec.maxConnections);
  assert.equal(d.table.audit(), "");
});
