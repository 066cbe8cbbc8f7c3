import { describe, expect, test } from "bun:test";
import { Dispatcher } from "../../../src/core/nat/dispatcher.ts";
import { ControlOp, ControlRing } from "../../../src/engine/control-ring.ts";
import { runPacketLoop, type LoopDevice } from "../../../src/engine/packet-loop.ts";
import { goldenSpec } from "../core/nat/golden-spec.ts";
import { tcp, toHex, withVnet } from "../core/packet/packet-builder.ts";

/** An in-memory device: packets queued in `inbox`, written packets collected in `outbox`. */
function fakeDevice(inbox: Uint8Array[], vnetHdr = false): LoopDevice & { outbox: Uint8Array[] } {
  const outbox: Uint8Array[] = [];
  return {
    vnetHdr,
    outbox,
    waitReadable: () => inbox.length > 0,
    read(buf) {
      const p = inbox.shift();
      if (!p) return 0;
      buf.set(p);
      return p.length;
    },
    write(buf, length) {
      outbox.push(buf.slice(0, length));
      return length;
    },
  };
}

describe("packet loop", () => {
  test("forwards what the dispatcher rewrites and drops the rest", () => {
    const syn = tcp({ src: "192.0.2.1", dst: "10.0.0.10" }, { srcPort: 40000, dstPort: 80, flags: 2 });
    const stray = tcp({ src: "192.0.2.1", dst: "10.0.0.99" }, { srcPort: 40000, dstPort: 80, flags: 2 });
    const device = fakeDevice([syn, stray]);
    const d = new Dispatcher(goldenSpec());
    let calls = 0;
    const counters = runPacketLoop(device, d, () => 0, () => calls++ > 0);
    expect(counters).toEqual({ read: 2, written: 1, writeErrors: 0, wakeups: 1 });
    expect(toHex(device.outbox[0]!)).toBe(toHex(tcp({ src: "192.0.2.1", dst: "10.1.0.11" }, { srcPort: 40000, dstPort: 80, flags: 2 })));
    expect(d.drops.snapshot().no_connection).toBe(1);
  });

  test("with a virtio header, the header is kept and the packet behind it rewritten", () => {
    const vnet = { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
    const device = fakeDevice([withVnet(vnet, tcp({ src: "192.0.2.1", dst: "10.0.0.10" }, { srcPort: 1, dstPort: 80, flags: 2 }))], true);
    let calls = 0;
    runPacketLoop(device, new Dispatcher(goldenSpec()), () => 0, () => calls++ > 0);
    expect(toHex(device.outbox[0]!)).toBe(toHex(withVnet(vnet, tcp({ src: "192.0.2.1", dst: "10.1.0.11" }, { srcPort: 1, dstPort: 80, flags: 2 }))));
  });

  test("a NEEDS_CSUM header that does not point at the L4 checksum is dropped", () => {
    const bad = withVnet({ flags: 1, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 }, tcp({ src: "192.0.2.1", dst: "10.0.0.10" }, { srcPort: 1, dstPort: 80, flags: 2, checksum: "partial" }));
    const device = fakeDevice([bad], true);
    const d = new Dispatcher(goldenSpec());
    let calls = 0;
    runPacketLoop(device, d, () => 0, () => calls++ > 0);
    expect(device.outbox).toHaveLength(0);
    expect(d.drops.snapshot().bad_vnet_hdr).toBe(1);
  });

  test("expiry runs from the loop as time passes", () => {
    const device = fakeDevice([tcp({ src: "192.0.2.1", dst: "10.0.0.10" }, { srcPort: 1, dstPort: 80, flags: 2 })]);
    const d = new Dispatcher(goldenSpec());
    let now = 0;
    let calls = 0;
    runPacketLoop(device, d, () => now, () => {
      now += 30_000;
      return calls++ > 10;
    });
    expect(d.table.stats().count).toBe(0);
  });
});

describe("control ring", () => {
  test("commands arrive in order, and a full ring refuses more", () => {
    const ring = new ControlRing();
    const twin = new ControlRing(ring.buffer);
    expect(ring.send(ControlOp.SetWeight, 0, 1, 5)).toBe(true);
    expect(ring.send(ControlOp.Stop)).toBe(true);
    const seen: number[][] = [];
    expect(twin.drain((op, a, b, c) => seen.push([op, a, b, c]))).toBe(2);
    expect(seen).toEqual([[ControlOp.SetWeight, 0, 1, 5], [ControlOp.Stop, 0, 0, 0]]);
    expect(twin.drain(() => {})).toBe(0);
    let sent = 0;
    while (ring.send(ControlOp.SetUp, 0, 0, 1)) sent++;
    expect(sent).toBe(1024);
  });
});
