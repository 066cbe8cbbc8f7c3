import { describe, expect, test } from "bun:test";
import { decodeSendEscapes, TCP_EXPECT_MAX_BYTES } from "../../../../src/engine/probes/tcp-probe.ts";
import { runProbe } from "../../../../src/engine/probes/run-probe.ts";
import { FakeProbeIo, monitorOf, targetOf, tcpChunks } from "./fake-probe-io.ts";

const bytes = (u: Uint8Array) => Array.from(u);

function lastTcp(io: FakeProbeIo) {
  const r = io.requests.at(-1);
  if (r?.op !== "tcp") throw new Error(`expected a tcp request, got ${r?.op}`);
  return r.request;
}

describe("send escapes", () => {
  test("\\r \\n \\t \\0 \\\\ and \\xHH become bytes, other characters their UTF-8", () => {
    expect(bytes(decodeSendEscapes("HEAD / HTTP/1.0\\r\\n\\r\\n"))).toEqual([...Buffer.from("HEAD / HTTP/1.0\r\n\r\n")]);
    expect(bytes(decodeSendEscapes("a\\tb\\\\c\\0"))).toEqual([0x61, 9, 0x62, 0x5c, 0x63, 0]);
    expect(bytes(decodeSendEscapes("\\x00\\xfF\\x41"))).toEqual([0, 255, 0x41]);
    expect(bytes(decodeSendEscapes("é"))).toEqual([0xc3, 0xa9]);
  });

  test("a backslash before anything else, or a short \\x, stays as written", () => {
    expect(Buffer.from(decodeSendEscapes("\\q\\x4\\")).toString()).toBe("\\q\\x4\\");
    expect(Buffer.from(decodeSendEscapes("already\r\n")).toString()).toBe("already\r\n");
  });
});

describe("tcp probe", () => {
  test("a connection alone passes, and nothing is read without expect", async () => {
    const io = new FakeProbeIo();
    expect(await runProbe(targetOf(monitorOf("tcp")), io)).toEqual({ ok: true, ms: 3, detail: "connected in 3.0 ms" });
    expect(lastTcp(io)).toMatchObject({ address: "10.201.0.11", port: 80, send: undefined, readUntil: undefined, timeoutMs: 2000 });
  });

  test("send goes out with its escapes decoded and expect matches the first bytes", async () => {
    const io = new FakeProbeIo();
    io.tcp = tcpChunks(["HTTP/1.", "1 200 OK\r\n", "never read"], "closed");
    const result = await runProbe(targetOf(monitorOf("tcp", { send: "HEAD / HTTP/1.0\\r\\n\\r\\n", expect: "^HTTP/1\\.1 " })), io);
    expect(result).toMatchObject({ ok: true, detail: "connected, sent 19 bytes, matched /^HTTP\\/1\\.1 / in 3.0 ms" });
    expect(Buffer.from(lastTcp(io).send!).toString()).toBe("HEAD / HTTP/1.0\r\n\r\n");
    expect(lastTcp(io).maxBytes).toBe(TCP_EXPECT_MAX_BYTES);
  });

  test("readUntil stops reading as soon as the pattern matches", async () => {
    const io = new FakeProbeIo();
    let seen = "";
    io.tcp = (request) => {
      const outcome = tcpChunks(["220 smtp ready\r\n", "more"], "timeout")(request);
      if (outcome instanceof Promise || outcome.kind !== "connected") throw new Error("unexpected");
      seen = Buffer.from(outcome.received).toString();
      return outcome;
    };
    expect((await runProbe(targetOf(monitorOf("tcp", { expect: "^220 " })), io)).ok).toBe(true);
    expect(seen).toBe("220 smtp ready\r\n");
  });

  test("bytes that do not match fail with what came, and why reading stopped", async () => {
    const io = new FakeProbeIo();
    io.tcp = tcpChunks(["SSH-2.0-OpenSSH\r\n"], "closed");
    expect(await runProbe(targetOf(monitorOf("tcp", { expect: "^HTTP" })), io)).toMatchObject({
      ok: false, detail: '/^HTTP/ not matched (peer closed; got 17 bytes "SSH-2.0-OpenSSH\\r\\n")',
    });
    io.tcp = tcpChunks(["x".repeat(5000)], "closed");
    expect((await runProbe(targetOf(monitorOf("tcp", { expect: "^y" })), io)).detail).toStartWith("/^y/ not matched (first 4096 bytes; got 4096 bytes");
    io.tcp = tcpChunks(["partial"], "timeout");
    expect((await runProbe(targetOf(monitorOf("tcp", { expect: "^done" })), io)).detail).toBe('timeout after 2000 ms waiting for /^done/ (got 7 bytes "partial")');
  });

  test("binary replies are matched byte by byte", async () => {
    const io = new FakeProbeIo();
    io.tcp = tcpChunks(["\x00\xff\x10ok"], "closed");
    expect((await runProbe(targetOf(monitorOf("tcp", { expect: "^\\x00\\xff\\x10ok$" })), io)).ok).toBe(true);
  });

  test("a refused connection fails with the refusal, an invalid expect without connecting", async () => {
    const io = new FakeProbeIo();
    io.tcp = () => ({ kind: "refused", detail: "connect ECONNREFUSED" });
    expect(await runProbe(targetOf(monitorOf("tcp", { port: 81 })), io)).toMatchObject({ ok: false, detail: "connect ECONNREFUSED" });
    expect(lastTcp(io).port).toBe(81);
    const before = io.requests.length;
    expect((await runProbe(targetOf(monitorOf("tcp", { expect: "[" })), io)).detail).toStartWith('Invalid expect regular expression "["');
    expect(io.requests.length).toBe(before);
  });
});
