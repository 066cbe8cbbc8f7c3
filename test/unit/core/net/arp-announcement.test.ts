import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ARP_ANNOUNCEMENT_BYTES, formatMac, parseMac, writeArpAnnouncement } from "../../../../src/core/net/arp-announcement.ts";
import { parseIpv4 } from "../../../../src/core/packet/ipv4-address.ts";

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

describe("arp-announcement", () => {
  test("an announcement of 10.200.0.10 from 02:00:5e:10:00:01 is these 42 bytes", () => {
    const out = new Uint8Array(64).fill(0xee);
    const n = writeArpAnnouncement(parseMac("02:00:5e:10:00:01")!, parseIpv4("10.200.0.10")!, out);
    assert.equal(n, ARP_ANNOUNCEMENT_BYTES);
    assert.equal(hex(out.subarray(0, n)), [
      "ffffffffffff", "02005e100001", "0806", // Ethernet: broadcast, from the interface, ARP
      "0001", "0800", "06", "04", "0001", // Ethernet/IPv4, request
      "02005e100001", "0ac8000a", // sender MAC and address
      "000000000000", "0ac8000a", // target MAC zero, target address = sender address
    ].join(""));
    assert.ok(out.subarray(n).every((b) => b === 0xee), "nothing past the frame is written");
  });

  test("every byte of a reused buffer is rewritten", () => {
    const out = new Uint8Array(ARP_ANNOUNCEMENT_BYTES).fill(0xaa);
    writeArpAnnouncement(parseMac("ff:ff:ff:ff:ff:fe")!, 0xffffffff, out);
    const fresh = new Uint8Array(ARP_ANNOUNCEMENT_BYTES);
    writeArpAnnouncement(parseMac("ff:ff:ff:ff:ff:fe")!, 0xffffffff, fresh);
    assert.equal(hex(out), hex(fresh));
    assert.equal(hex(out.subarray(32, 38)), "000000000000");
  });

  test("a short buffer or a MAC that is not 6 bytes is refused", () => {
    assert.throws(() => writeArpAnnouncement(new Uint8Array(6), 1, new Uint8Array(41)), /buffer of "41" bytes: 42 are needed/);
    assert.throws(() => writeArpAnnouncement(new Uint8Array(8), 1, new Uint8Array(42)), /MAC of "8" bytes: expected 6/);
  });

  test("MACs parse in either case and format back in lowercase", () => {
    assert.deepEqual(Array.from(parseMac("02:00:5E:10:00:01")!), [2, 0, 0x5e, 0x10, 0, 1]);
    assert.equal(formatMac(parseMac("AA:bb:0C:dd:ee:0f")!), "aa:bb:0c:dd:ee:0f");
  });

  test("anything but six colon-separated hex pairs is not a MAC", () => {
    for (const text of ["", "02:00:5e:10:00", "02:00:5e:10:00:01:02", "02-00-5e-10-00-01", "2:00:5e:10:00:01:",
      "02:00:5e:10:00:0g", " 02:00:5e:10:00:01", "02:00:5e:10:00:01 ", "0200.5e10.0001", "02:00:5e:10:00:1"]) {
      assert.equal(parseMac(text), undefined, `"${text}"`);
    }
  });
});
