import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeDnsResponse, DNS_TYPES, dnsRcodeName, dnsTypeName, encodeDnsQuery, type DnsResponse } from "../../../../src/core/net/dns-message.ts";
import { labels, pointer, rdata, response } from "../../engine/probes/dns-wire.ts";

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

/** Decodes and fails the test with the reason when the message is refused. */
function decoded(bytes: Uint8Array): DnsResponse {
  const r = decodeDnsResponse(bytes);
  if (!r.ok) assert.fail(`expected a valid response, got: ${r.reason}`);
  return r.response;
}

/** Decodes and returns the reason, failing the test when the message is accepted. */
function refused(bytes: Uint8Array): string {
  const r = decodeDnsResponse(bytes);
  if (r.ok) assert.fail("expected the message to be refused");
  return r.reason;
}

/** A xorshift32 PRNG: the fuzz cases are the same on every run. */
function prng(seed: number): () => number {
  let x = seed || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

describe("encodeDnsQuery", () => {
  test("a query for www.example.test A with id 0x1234 is these 34 bytes", () => {
    const r = encodeDnsQuery({ id: 0x1234, name: "www.example.test", type: "A" });
    assert.ok(r.ok);
    assert.equal(hex(r.bytes), [
      "1234", "0100", "0001", "0000", "0000", "0000", // id, RD, one question, no records
      "03777777", "076578616d706c65", "0474657374", "00", // www.example.test.
      "0001", "0001", // A, IN
    ].join(""));
  });

  test("a trailing dot changes nothing and each type gets its code", () => {
    const plain = encodeDnsQuery({ id: 7, name: "example.test", type: "MX" });
    const dotted = encodeDnsQuery({ id: 7, name: "example.test.", type: "MX" });
    assert.ok(plain.ok && dotted.ok);
    assert.equal(hex(plain.bytes), hex(dotted.bytes));
    for (const [name, code] of Object.entries(DNS_TYPES)) {
      const r = encodeDnsQuery({ id: 1, name: "a.test", type: name as keyof typeof DNS_TYPES });
      assert.ok(r.ok);
      assert.equal((r.bytes[r.bytes.length - 4]! << 8) | r.bytes[r.bytes.length - 3]!, code, name);
    }
  });

  test("the root name is a single zero octet", () => {
    for (const name of ["", "."]) {
      const r = encodeDnsQuery({ id: 1, name, type: "NS" });
      assert.ok(r.ok);
      assert.equal(hex(r.bytes.subarray(12)), "0000020001");
    }
  });

  test("names that cannot be encoded and bad ids are refused with a reason, never thrown", () => {
    const reason = (name: string, id = 1) => {
      const r = encodeDnsQuery({ id, name, type: "A" });
      assert.equal(r.ok, false);
      return r.ok ? "" : r.reason;
    };
    assert.match(reason("a..test"), /empty label/);
    assert.match(reason(`${"x".repeat(64)}.test`), /label longer than 63/);
    assert.equal(encodeDnsQuery({ id: 1, name: `${"x".repeat(63)}.test`, type: "A" }).ok, true);
    assert.match(reason(Array.from({ length: 5 }, () => "y".repeat(60)).join(".")), /longer than 255/);
    assert.match(reason("bücher.test"), /not printable ASCII/);
    assert.match(reason("a b.test"), /not printable ASCII/);
    assert.match(reason("a.test", 65536), /Query id "65536"/);
    assert.match(reason("a.test", -1), /Query id "-1"/);
  });
});

describe("decodeDnsResponse", () => {
  test("every supported type decodes to its text, with compressed names followed", () => {
    const q = { name: "www.example.test", type: DNS_TYPES.A };
    // Offsets: header 12, "www" label at 12, "example" at 16, "test" at 24.
    const bytes = response({
      id: 0xbeef,
      question: q,
      answers: [
        { type: DNS_TYPES.A, ttl: 300, data: rdata.a("10.250.0.1") },
        { type: DNS_TYPES.AAAA, data: rdata.aaaa([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]) },
        { type: DNS_TYPES.CNAME, data: [3, 0x77, 0x65, 0x62, ...pointer(16)] },
        { type: DNS_TYPES.MX, data: rdata.mx(10, [4, ...Array.from("mail", (c) => c.charCodeAt(0)), ...pointer(16)]) },
        { type: DNS_TYPES.SRV, data: rdata.srv(1, 5, 8080, "srv.example.test") },
        { type: DNS_TYPES.SOA, owner: pointer(16), data: rdata.soa("ns1.example.test", "hostmaster.example.test") },
        { type: DNS_TYPES.TXT, data: rdata.txt("server=s1", " more", [0x22, 0x5c, 0x0a, 0xff]) },
        { type: DNS_TYPES.NS, owner: pointer(16), data: rdata.name("ns1.example.test") },
        { type: DNS_TYPES.PTR, owner: labels("1.0.250.10.in-addr.arpa"), data: rdata.name("s1.example.test") },
        { type: 65, data: [0, 1, 0xab] },
        { type: 99, data: [] },
      ],
    });
    const r = decoded(bytes);
    assert.equal(r.id, 0xbeef);
    assert.equal(r.isResponse, true);
    assert.equal(r.truncated, false);
    assert.equal(r.rcodeName, "NOERROR");
    assert.deepEqual(r.question, q);
    assert.deepEqual(r.answers.map((a) => [a.name, a.typeName, a.data]), [
      ["www.example.test", "A", "10.250.0.1"],
      ["www.example.test", "AAAA", "2001:db8::1"],
      ["www.example.test", "CNAME", "web.example.test"],
      ["www.example.test", "MX", "10 mail.example.test"],
      ["www.example.test", "SRV", "1 5 8080 srv.example.test"],
      ["example.test", "SOA", "ns1.example.test"],
      ["www.example.test", "TXT", 'server=s1 more"\\\\\\010\\255'],
      ["example.test", "NS", "ns1.example.test"],
      ["1.0.250.10.in-addr.arpa", "PTR", "s1.example.test"],
      ["www.example.test", "TYPE65", "\\# 3 0001ab"],
      ["www.example.test", "TYPE99", "\\# 0"],
    ]);
    assert.equal(r.answers[0]!.ttl, 300);
  });

  test("IPv6 answers follow RFC 5952: the longest zero run (first on a tie) is compressed, a single zero is not", () => {
    const cases: [number[], string][] = [
      [[0, 0, 0, 0, 0, 0, 0, 0], "::"],
      [[0, 0, 0, 0, 0, 0, 0, 1], "::1"],
      [[1, 0, 0, 0, 0, 0, 0, 0], "1::"],
      [[0x2001, 0xdb8, 0, 0, 1, 0, 0, 1], "2001:db8::1:0:0:1"],
      [[0x2001, 0xdb8, 0, 1, 1, 1, 1, 1], "2001:db8:0:1:1:1:1:1"],
      [[0x2001, 0, 0, 1, 0, 0, 0, 1], "2001:0:0:1::1"],
      [[0xfe80, 0, 0, 0, 0xabcd, 0xef, 0x1234, 0xffff], "fe80::abcd:ef:1234:ffff"],
    ];
    for (const [groups, text] of cases) {
      const r = decoded(response({ id: 1, answers: [{ owner: [0], type: DNS_TYPES.AAAA, data: rdata.aaaa(groups) }] }));
      assert.equal(r.answers[0]!.data, text);
    }
  });

  test("the header's flags, rcode and a missing question come through", () => {
    const r = decoded(response({ id: 9, flags: 0x8380, rcode: 3 }));
    assert.equal(r.truncated, true);
    assert.equal(r.rcode, 3);
    assert.equal(r.rcodeName, "NXDOMAIN");
    assert.equal(r.question, undefined);
    assert.deepEqual(r.answers, []);
    assert.equal(decoded(response({ id: 9, flags: 0x0100 })).isResponse, false);
    assert.equal(dnsRcodeName(5), "REFUSED");
    assert.equal(dnsRcodeName(12), "RCODE12");
    assert.equal(dnsTypeName(16), "TXT");
  });

  test("names keep dots and odd bytes inside labels escaped", () => {
    const owner = [3, 0x61, 0x2e, 0x62, 2, 0x20, 0x5c, 0];
    const r = decoded(response({ id: 1, answers: [{ owner, type: DNS_TYPES.A, data: rdata.a("1.2.3.4") }] }));
    assert.equal(r.answers[0]!.name, "a\\.b.\\032\\\\");
  });

  test("malformed messages are refused with a reason that says what is wrong", () => {
    const ok = response({ id: 0x4242, question: { name: "a.test", type: 1 }, answers: [{ type: 1, data: rdata.a("1.2.3.4") }] });
    const cases: [string, Uint8Array, RegExp][] = [
      ["a header cut short", ok.subarray(0, 11), /shorter than the 12-byte header/],
      ["a question cut short", ok.subarray(0, 20), /runs past the end/],
      ["an answer cut short", ok.subarray(0, ok.length - 1), /answer 1 data runs past the end/],
      ["an answer count beyond the records", Uint8Array.from([...ok.subarray(0, 7), 2, ...ok.subarray(8)]), /answer 2/],
      ["an A record of 5 bytes", response({ id: 1, answers: [{ type: 1, data: [1, 2, 3, 4, 5] }] }), /A data of 5 bytes \(expected 4\)/],
      ["an AAAA record of 4 bytes", response({ id: 1, answers: [{ type: 28, data: [1, 2, 3, 4] }] }), /AAAA data of 4 bytes \(expected 16\)/],
      ["a CNAME with bytes after its name", response({ id: 1, answers: [{ type: 5, data: [...labels("a.test"), 7] }] }), /1 bytes left over/],
      ["a name running past its record", response({ id: 1, answers: [{ type: 2, data: [5, 0x61] }] }), /runs past the end of its section/],
      ["a TXT string running past its record", response({ id: 1, answers: [{ type: 16, data: [9, 0x61] }] }), /TXT string of 9 bytes/],
      ["an empty TXT record", response({ id: 1, answers: [{ type: 16, data: [] }] }), /TXT data is empty/],
      ["an SOA without its counters", response({ id: 1, answers: [{ type: 6, data: [...labels("a"), ...labels("b"), 0, 0] }] }), /before its five counters/],
      ["an MX of 2 bytes", response({ id: 1, answers: [{ type: 15, data: [0, 1] }] }), /MX data of 2 bytes is too short/],
      ["a pointer to itself", response({ id: 1, answers: [{ owner: pointer(12), type: 1, data: rdata.a("1.2.3.4") }] }), /points forward to 12/],
      ["a forward pointer", response({ id: 1, answers: [{ owner: pointer(200), type: 1, data: rdata.a("1.2.3.4") }] }), /points forward to 200/],
      ["a pointer cut short", Uint8Array.from([...response({ id: 1 }).subarray(0, 7), 1, ...response({ id: 1 }).subarray(8), 0xc0]), /cut short/],
      ["an extended label type", response({ id: 1, answers: [{ owner: [0x41, 0], type: 1, data: rdata.a("1.2.3.4") }] }), /Label type 0x40/],
      ["a name over 255 octets", response({ id: 1, answers: [{ owner: [...Array.from({ length: 5 }, () => [60, ...new Array(60).fill(0x61)]).flat(), 0], type: 1, data: rdata.a("1.2.3.4") }] }), /longer than 255/],
    ];
    for (const [what, bytes, reason] of cases) assert.match(refused(bytes), reason, what);
  });

  test("a pointer loop through backward pointers ends in a reason, not a hang", () => {
    // Offset 12: label "a", then at 14 a pointer back to 12: each hop is backwards, yet it loops.
    const bytes = Uint8Array.from([0, 1, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0x61, 0xc0, 12, 0, 1, 0, 1]);
    assert.match(refused(bytes), /more than 64 compression pointers|longer than 255/);
    const r = decodeDnsResponse(bytes);
    assert.equal(r.ok ? undefined : r.id, 1, "the id of a whole header is reported");
  });

  test("ten thousand random and forty thousand mutated messages never throw", () => {
    const random = prng(0x5eed);
    const valid = response({
      id: 0x1234,
      question: { name: "www.example.test", type: 1 },
      answers: [
        { type: 1, data: rdata.a("10.250.0.1") },
        { type: 5, data: [3, 0x77, 0x65, 0x62, ...pointer(16)] },
        { type: 15, data: rdata.mx(10, [4, 0x6d, 0x61, 0x69, 0x6c, ...pointer(16)]) },
        { type: 16, data: rdata.txt("server=s1") },
        { type: 33, data: rdata.srv(1, 2, 3, "x.test") },
        { type: 6, data: rdata.soa("ns.test", "h.test") },
      ],
    });
    let accepted = 0;
    const check = (bytes: Uint8Array) => {
      const r = decodeDnsResponse(bytes);
      if (r.ok) {
        accepted++;
        for (const a of r.response.answers) assert.equal(typeof a.data, "string");
      } else {
        assert.ok(r.reason.length > 0);
        assert.doesNotMatch(r.reason, /Decoder error/);
      }
    };
    for (let i = 0; i < 10_000; i++) {
      const bytes = Uint8Array.from({ length: Math.floor(random() * 80) }, () => Math.floor(random() * 256));
      // Small counts so random bytes reach the record parsers, not just the header check.
      if (bytes.length >= 8) bytes.set([0, Math.floor(random() * 3), 0, Math.floor(random() * 4)], 4);
      check(bytes);
    }
    for (let i = 0; i < 40_000; i++) {
      const bytes = valid.slice(0, random() < 0.2 ? Math.floor(random() * valid.length) : valid.length);
      for (let flips = 1 + Math.floor(random() * 4); flips > 0 && bytes.length > 0; flips--) {
        bytes[Math.floor(random() * bytes.length)] = random() < 0.3 ? 0xc0 | Math.floor(random() * 64) : Math.floor(random() * 256);
      }
      check(bytes);
    }
    assert.ok(accepted > 100, `some mutations are still valid messages (${accepted})`);
    check(valid);
  });
});
