import { describe, expect, test } from "bun:test";
import type { ProbeUdpRequest } from "../../../../src/core/health/probe-types.ts";
import { DNS_TYPES } from "../../../../src/core/net/dns-message.ts";
import { normaliseAnswer } from "../../../../src/engine/probes/dns-probe.ts";
import { runProbe } from "../../../../src/engine/probes/run-probe.ts";
import { FakeProbeIo, monitorOf, targetOf } from "./fake-probe-io.ts";
import { rdata, response, type WireAnswer } from "./dns-wire.ts";

/** The query's id and question, read back from its bytes. */
function parseQuery(request: ProbeUdpRequest): { id: number; name: string; type: number } {
  const b = request.bytes;
  const labels: string[] = [];
  let at = 12;
  while (b[at]! > 0) {
    labels.push(String.fromCharCode(...b.subarray(at + 1, at + 1 + b[at]!)));
    at += 1 + b[at]!;
  }
  return { id: (b[0]! << 8) | b[1]!, name: labels.join("."), type: (b[at + 1]! << 8) | b[at + 2]! };
}

/** A server that answers each query with its own id and question, plus `answers` and `rcode`. */
function answering(io: FakeProbeIo, answers: WireAnswer[], rcode = 0): void {
  io.udp = (request) => {
    const q = parseQuery(request);
    return { kind: "reply", bytes: response({ id: q.id, rcode, question: { name: q.name, type: q.type }, answers }) };
  };
}

const A_S1: WireAnswer = { type: DNS_TYPES.A, data: rdata.a("10.250.0.1") };

describe("dns probe", () => {
  test("the query goes to the server's port with a random id and the monitor's question", async () => {
    const io = new FakeProbeIo();
    answering(io, [A_S1]);
    const result = await runProbe(targetOf(monitorOf("dns"), 53), io, () => 0.5);
    expect(result).toEqual({ ok: true, ms: 3, detail: "NOERROR, 1 answer in 3.0 ms" });
    const sent = io.requests[0]!;
    if (sent.op !== "udp") throw new Error("expected udp");
    expect(sent.request).toMatchObject({ address: "10.201.0.11", port: 53, timeoutMs: 2000 });
    expect(parseQuery(sent.request)).toEqual({ id: 0x8000, name: "www.example.test", type: DNS_TYPES.A });
  });

  test("expect_answer passes when it is among the answers and fails naming them when not", async () => {
    const io = new FakeProbeIo();
    answering(io, [{ type: DNS_TYPES.CNAME, data: rdata.name("web.example.test") }, A_S1]);
    expect(await runProbe(targetOf(monitorOf("dns", { expect_answer: "10.250.0.1" }), 53), io)).toMatchObject({
      ok: true, detail: 'NOERROR, 2 answers, "10.250.0.1" among them in 3.0 ms',
    });
    expect(await runProbe(targetOf(monitorOf("dns", { expect_answer: "10.250.0.9" }), 53), io)).toMatchObject({
      ok: false, detail: 'answer "10.250.0.9" not among 2 answers [CNAME web.example.test, A 10.250.0.1]',
    });
    answering(io, []);
    expect((await runProbe(targetOf(monitorOf("dns", { expect_answer: "10.250.0.1" }), 53), io)).detail).toBe('answer "10.250.0.1" not among 0 answers');
  });

  test("TXT, MX and AAAA answers match in their text form, names and addresses normalised", async () => {
    const io = new FakeProbeIo();
    answering(io, [
      { type: DNS_TYPES.TXT, data: rdata.txt("server=s1") },
      { type: DNS_TYPES.MX, data: rdata.mx(10, "Mail.Example.Test") },
      { type: DNS_TYPES.AAAA, data: rdata.aaaa([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]) },
    ]);
    for (const expect_answer of ["server=s1", "10 mail.example.test.", "2001:DB8:0::1"]) {
      expect((await runProbe(targetOf(monitorOf("dns", { type: "TXT", expect_answer }), 53), io)).ok).toBe(true);
    }
    expect(normaliseAnswer("WWW.Example.TEST.")).toBe("www.example.test");
    expect(normaliseAnswer("2001:0db8::0:1")).toBe("2001:db8::1");
  });

  test("the rcode must be the expected one", async () => {
    const io = new FakeProbeIo();
    answering(io, [], 3);
    expect(await runProbe(targetOf(monitorOf("dns"), 53), io)).toMatchObject({ ok: false, detail: "rcode NXDOMAIN, expected NOERROR" });
    expect(await runProbe(targetOf(monitorOf("dns", { query: "nothere.example.test", expect_rcode: "NXDOMAIN" }), 53), io)).toMatchObject({ ok: true, detail: "NXDOMAIN, 0 answers in 3.0 ms" });
    answering(io, [], 2);
    expect((await runProbe(targetOf(monitorOf("dns"), 53), io)).detail).toBe("rcode SERVFAIL, expected NOERROR");
  });

  test("a reply with another id, a query echoed back, or an answer to another question fails", async () => {
    const io = new FakeProbeIo();
    io.udp = (request) => ({ kind: "reply", bytes: response({ id: parseQuery(request).id ^ 1, question: { name: "www.example.test", type: 1 }, answers: [A_S1] }) });
    expect((await runProbe(targetOf(monitorOf("dns"), 53), io, () => 0)).detail).toBe("response id 1 does not match query id 0");
    io.udp = (request) => ({ kind: "reply", bytes: request.bytes });
    expect((await runProbe(targetOf(monitorOf("dns"), 53), io)).detail).toBe("reply is a query, not a response (QR bit clear)");
    io.udp = (request) => ({ kind: "reply", bytes: response({ id: parseQuery(request).id, question: { name: "evil.test", type: 1 }, answers: [A_S1] }) });
    expect((await runProbe(targetOf(monitorOf("dns"), 53), io)).detail).toBe('response is for question "evil.test" type 1, not "www.example.test" A');
  });

  test("a malformed reply fails with the codec's reason", async () => {
    const io = new FakeProbeIo();
    io.udp = () => ({ kind: "reply", bytes: new Uint8Array(5) });
    expect((await runProbe(targetOf(monitorOf("dns"), 53), io)).detail).toBe("malformed response: Message of 5 bytes is shorter than the 12-byte header");
  });

  test("a name that cannot be queried fails without sending anything", async () => {
    const io = new FakeProbeIo();
    expect((await runProbe(targetOf(monitorOf("dns", { query: "a..test" }), 53), io)).detail).toBe('Name "a..test" has an empty label');
    expect(io.requests).toEqual([]);
  });

  test("no reply fails as a timeout, an ICMP error with its detail", async () => {
    const io = new FakeProbeIo();
    io.udp = () => ({ kind: "timeout", detail: "no reply within 2000 ms" });
    expect((await runProbe(targetOf(monitorOf("dns"), 53), io)).detail).toBe("timeout after 2000 ms");
    io.udp = () => ({ kind: "unreachable", detail: "ICMP destination unreachable" });
    expect((await runProbe(targetOf(monitorOf("dns"), 53), io)).detail).toBe("ICMP destination unreachable");
  });
});
