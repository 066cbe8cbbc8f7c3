/**
 * Golden NAT table (Katran-style): one scenario of rows `{ description, input, verdict, output }`
 * run in order against one Dispatcher, so later rows see the connections earlier rows created.
 * Packets are built by the independent test builder (full checksum recomputation) and every
 * forwarded output must verify by full recomputation too.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { DecodeFlags } from "../../../../src/core/packet/packet-view.ts";
import { dropReasonNames } from "../../../../src/core/packet/drop-reason.ts";
import { Dispatcher, Verdict } from "../../../../src/core/nat/dispatcher.ts";
import { C1, C2, LIP, S1, S2, VIP, goldenSpec } from "./golden-spec.ts";
import { icmpEcho, icmpError, ip, tcp, toHex, udp, verifyChecksums, withVnet } from "../packet/packet-builder.ts";

const SYN = 0x02, ACK = 0x10, PSH = 0x08;

interface Row {
  description: string;
  input: () => Uint8Array;
  verdict: Verdict;
  /** Expected output bytes (Forward/Reply), or the drop reason name (Drop). */
  output: () => Uint8Array | string;
  offset?: number;
  decodeFlags?: number;
}

const payload = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
const query = new Uint8Array([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
const d = new Dispatcher(goldenSpec(), { seed: 42 });

/** The fullnat local port the dispatcher chose for C1:5353 → VIP:53 (random by design). */
function dnsLocalPort(): number {
  const id = d.table.lookupOutside(17, ip(C1), 5353, ip(VIP), 53);
  assert.ok(id >= 0, "the DNS connection exists");
  return d.table.localPort(id);
}

const rows: Row[] = [
  {
    description: "nat: a client SYN to the VIP goes to the first server, destination rewritten",
    input: () => tcp({ src: C1, dst: VIP, ttl: 63 }, { srcPort: 40000, dstPort: 80, flags: SYN, seq: 1000 }),
    verdict: Verdict.Forward,
    output: () => tcp({ src: C1, dst: S1, ttl: 63 }, { srcPort: 40000, dstPort: 80, flags: SYN, seq: 1000 }),
  },
  {
    description: "nat: the server's SYN-ACK goes back with the VIP as source",
    input: () => tcp({ src: S1, dst: C1, ttl: 64 }, { srcPort: 80, dstPort: 40000, flags: SYN | ACK, seq: 5000, ack: 1001 }),
    verdict: Verdict.Forward,
    output: () => tcp({ src: VIP, dst: C1, ttl: 64 }, { srcPort: 80, dstPort: 40000, flags: SYN | ACK, seq: 5000, ack: 1001 }),
  },
  {
    description: "nat: a second client goes to the second server (rr), port rewritten too",
    input: () => tcp({ src: C2, dst: VIP }, { srcPort: 40001, dstPort: 80, flags: SYN }),
    verdict: Verdict.Forward,
    output: () => tcp({ src: C2, dst: S2 }, { srcPort: 40001, dstPort: 8080, flags: SYN }),
  },
  {
    description: "nat: data on the established connection follows it",
    input: () => tcp({ src: C1, dst: VIP }, { srcPort: 40000, dstPort: 80, flags: ACK | PSH, seq: 1001, ack: 5001, payload }),
    verdict: Verdict.Forward,
    output: () => tcp({ src: C1, dst: S1 }, { srcPort: 40000, dstPort: 80, flags: ACK | PSH, seq: 1001, ack: 5001, payload }),
  },
  {
    description: "nat: a super-packet with a partial checksum (NEEDS_CSUM) is rewritten in partial mode",
    input: () => withVnet({ flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1448, csumStart: 20, csumOffset: 16 }, tcp({ src: C1, dst: VIP }, { srcPort: 40000, dstPort: 80, flags: ACK, payload: new Uint8Array(3000).fill(7), checksum: "partial" })),
    offset: 10,
    decodeFlags: DecodeFlags.L4ChecksumPartial,
    verdict: Verdict.Forward,
    output: () => withVnet({ flags: 1, gsoType: 1, hdrLen: 54, gsoSize: 1448, csumStart: 20, csumOffset: 16 }, tcp({ src: C1, dst: S1 }, { srcPort: 40000, dstPort: 80, flags: ACK, payload: new Uint8Array(3000).fill(7), checksum: "partial" })),
  },
  {
    description: "a non-SYN packet of an unknown connection is dropped",
    input: () => tcp({ src: C2, dst: VIP }, { srcPort: 49999, dstPort: 80, flags: ACK }),
    verdict: Verdict.Drop,
    output: () => "no_connection",
  },
  {
    description: "a packet to the VIP on a port with no service is dropped",
    input: () => tcp({ src: C1, dst: VIP }, { srcPort: 40000, dstPort: 443, flags: SYN }),
    verdict: Verdict.Drop,
    output: () => "no_service",
  },
  {
    description: "fullnat: a DNS query gets a local source address and port and the server as destination",
    input: () => udp({ src: C1, dst: VIP }, { srcPort: 5353, dstPort: 53, payload: query }),
    verdict: Verdict.Forward,
    output: () => udp({ src: LIP, dst: S1 }, { srcPort: dnsLocalPort(), dstPort: 53, payload: query }),
  },
  {
    description: "fullnat: the DNS answer goes back from the VIP to the client",
    input: () => udp({ src: S1, dst: LIP }, { srcPort: 53, dstPort: dnsLocalPort(), payload: query }),
    verdict: Verdict.Forward,
    output: () => udp({ src: VIP, dst: C1 }, { srcPort: 53, dstPort: 5353, payload: query }),
  },
  {
    description: "fullnat: a UDP checksum of 0 (none) stays 0",
    input: () => udp({ src: C1, dst: VIP }, { srcPort: 5353, dstPort: 53, payload: query, checksum: "none" }),
    verdict: Verdict.Forward,
    output: () => udp({ src: LIP, dst: S1 }, { srcPort: dnsLocalPort(), dstPort: 53, payload: query, checksum: "none" }),
  },
  {
    description: "fullnat: ICMP port unreachable from the server is translated back to the client",
    input: () => icmpError({ src: S1, dst: LIP }, { type: 3, code: 3, original: udp({ src: LIP, dst: S1 }, { srcPort: dnsLocalPort(), dstPort: 53, payload: query }) }),
    verdict: Verdict.Forward,
    output: () => icmpError({ src: VIP, dst: C1 }, { type: 3, code: 3, original: udp({ src: C1, dst: VIP }, { srcPort: 5353, dstPort: 53, payload: query }) }),
  },
  {
    description: "nat: fragmentation needed from the client's side is translated for the server (PMTU)",
    input: () => icmpError({ src: "192.0.2.254", dst: VIP }, { type: 3, code: 4, mtu: 1400, original: tcp({ src: VIP, dst: C1 }, { srcPort: 80, dstPort: 40000, flags: ACK, payload }), quoteLength: 28 }),
    verdict: Verdict.Forward,
    output: () => icmpError({ src: "192.0.2.254", dst: S1 }, { type: 3, code: 4, mtu: 1400, original: tcp({ src: S1, dst: C1 }, { srcPort: 80, dstPort: 40000, flags: ACK, payload }), quoteLength: 28 }),
  },
  {
    description: "an ICMP error about no tracked flow is dropped",
    input: () => icmpError({ src: S2, dst: LIP }, { type: 3, code: 3, original: udp({ src: LIP, dst: S2 }, { srcPort: 1, dstPort: 53 }) }),
    verdict: Verdict.Drop,
    output: () => "no_connection",
  },
  {
    description: "a server's reply that belongs to no connection (a client talking to it directly) passes unchanged",
    input: () => tcp({ src: S1, dst: "192.0.2.77" }, { srcPort: 80, dstPort: 5555, flags: SYN | ACK }),
    verdict: Verdict.Pass,
    output: () => tcp({ src: S1, dst: "192.0.2.77" }, { srcPort: 80, dstPort: 5555, flags: SYN | ACK }),
  },
  {
    description: "a server's ICMP echo reply to a client that pinged it directly passes unchanged",
    input: () => icmpEcho({ src: S1, dst: "192.0.2.77" }, { type: 0, id: 9 }),
    verdict: Verdict.Pass,
    output: () => icmpEcho({ src: S1, dst: "192.0.2.77" }, { type: 0, id: 9 }),
  },
  {
    description: "a stranger's packet that is no reply of ours is dropped, not passed",
    input: () => tcp({ src: "10.9.9.9", dst: "192.0.2.77" }, { srcPort: 80, dstPort: 5555, flags: ACK }),
    verdict: Verdict.Drop,
    output: () => "no_connection",
  },
  {
    description: "ping to the VIP is answered by the dispatcher",
    input: () => icmpEcho({ src: C1, dst: VIP, ttl: 61 }, { type: 8, id: 77, seq: 3, payload }),
    verdict: Verdict.Reply,
    output: () => icmpEcho({ src: VIP, dst: C1, ttl: 64 }, { type: 0, id: 77, seq: 3, payload }),
  },
  {
    description: "ping to an address that is no VIP is dropped",
    input: () => icmpEcho({ src: C1, dst: "10.0.0.99" }, { type: 8, id: 77 }),
    verdict: Verdict.Drop,
    output: () => "no_service",
  },
  {
    description: "a first fragment is dropped and counted (fragments are not reassembled)",
    input: () => udp({ src: C1, dst: VIP, mf: true }, { srcPort: 5353, dstPort: 53, payload: query }),
    verdict: Verdict.Drop,
    output: () => "fragment",
  },
  {
    description: "a truncated packet is dropped, never thrown on",
    input: () => tcp({ src: C1, dst: VIP }, { srcPort: 40000, dstPort: 80, flags: SYN }).subarray(0, 30),
    verdict: Verdict.Drop,
    output: () => "truncated",
  },
];

describe("dispatcher golden table", () => {
  for (const row of rows) {
    test(row.description, () => {
      const buf = row.input().slice();
      const offset = row.offset ?? 0;
      const before = d.drops.total();
      const verdict = d.process(buf, offset, buf.length - offset, 1000, row.decodeFlags ?? 0);
      assert.equal(verdict, row.verdict);
      const expected = row.output();
      if (typeof expected === "string") {
        assert.equal(d.drops.total(), before + 1);
        assert.equal(d.drops.snapshot()[expected], d.drops.get(dropReasonNames.indexOf(expected)));
        assert.ok(d.drops.get(dropReasonNames.indexOf(expected)) > 0, `drop counted as ${expected}`);
      } else {
        assert.equal(toHex(buf), toHex(expected));
        assert.deepEqual(verifyChecksums(buf, offset, (row.decodeFlags ?? 0) !== 0), []);
      }
    });
  }
});
