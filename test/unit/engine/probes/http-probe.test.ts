import { describe, expect, test } from "bun:test";
import { defaultHostHeader, HTTP_BODY_MAX_BYTES, parseStatusRanges, statusInRanges } from "../../../../src/engine/probes/http-probe.ts";
import { runProbe } from "../../../../src/engine/probes/run-probe.ts";
import { FakeProbeIo, monitorOf, targetOf } from "./fake-probe-io.ts";

function lastHttp(io: FakeProbeIo) {
  const r = io.requests.at(-1);
  if (r?.op !== "http") throw new Error(`expected an http request, got ${r?.op}`);
  return r.request;
}

describe("status ranges", () => {
  test("a list of codes and ranges parses to inclusive ranges", () => {
    expect(parseStatusRanges("200")).toEqual([[200, 200]]);
    expect(parseStatusRanges("200-299,301")).toEqual([[200, 299], [301, 301]]);
    expect(parseStatusRanges("200-399, 404")).toEqual([[200, 399], [404, 404]]);
  });

  test("text that is not codes and ranges, or a range running backwards, does not parse", () => {
    for (const bad of ["", "2xx", "200-", "299-200", "200,,301", "1000"]) expect(parseStatusRanges(bad)).toBeUndefined();
  });

  test("a status matches when it lies in any range, bounds included", () => {
    const ranges = parseStatusRanges("200-299,301")!;
    expect([199, 200, 250, 299, 300, 301, 302].filter((s) => statusInRanges(s, ranges))).toEqual([200, 250, 299, 301]);
  });

  test("the default Host header carries the port only when it is not the scheme's", () => {
    expect(defaultHostHeader("10.0.0.1", 80, false)).toBe("10.0.0.1");
    expect(defaultHostHeader("10.0.0.1", 443, true)).toBe("10.0.0.1");
    expect(defaultHostHeader("10.0.0.1", 443, false)).toBe("10.0.0.1:443");
    expect(defaultHostHeader("10.0.0.1", 8080, true)).toBe("10.0.0.1:8080");
  });
});

describe("http probe", () => {
  test("a 200 passes with its response time, and the request is the monitor's", async () => {
    const io = new FakeProbeIo();
    const result = await runProbe(targetOf(monitorOf("http")), io);
    expect(result).toEqual({ ok: true, ms: 3, detail: "200 in 3.0 ms" });
    expect(lastHttp(io)).toEqual({
      tls: false, verifyTls: false, method: "GET", address: "10.201.0.11", port: 80, path: "/", host: "10.201.0.11", maxBodyBytes: 0, timeoutMs: 2000,
    });
  });

  test("a 503 fails with the expected ranges in the detail", async () => {
    const io = new FakeProbeIo();
    io.http = () => ({ kind: "response", status: 503, body: "busy" });
    expect(await runProbe(targetOf(monitorOf("http")), io)).toEqual({ ok: false, ms: 3, detail: "status 503 not in 200-399" });
  });

  test("expect_status \"200-299,301\" passes 301 and fails 302", async () => {
    const io = new FakeProbeIo();
    const target = targetOf(monitorOf("http", { expect_status: "200-299,301" }));
    io.http = () => ({ kind: "response", status: 301, body: "" });
    expect((await runProbe(target, io)).ok).toBe(true);
    io.http = () => ({ kind: "response", status: 302, body: "" });
    expect(await runProbe(target, io)).toMatchObject({ ok: false, detail: "status 302 not in 200-299,301" });
  });

  test("expect_body is matched against the body prefix, which is then read up to 64 KiB", async () => {
    const io = new FakeProbeIo();
    io.http = () => ({ kind: "response", status: 200, body: "<h1>hello from s1</h1>" });
    expect(await runProbe(targetOf(monitorOf("http", { expect_body: "hello from s\\d" })), io)).toMatchObject({ ok: true, detail: "200 in 3.0 ms" });
    expect(lastHttp(io).maxBodyBytes).toBe(HTTP_BODY_MAX_BYTES);
    expect(HTTP_BODY_MAX_BYTES).toBe(65536);
    expect(await runProbe(targetOf(monitorOf("http", { expect_body: "^goodbye" })), io)).toMatchObject({ ok: false, detail: "status 200 but body does not match /^goodbye/" });
  });

  test("an expect_body that is not a regular expression fails the probe without any request", async () => {
    const io = new FakeProbeIo();
    const result = await runProbe(targetOf(monitorOf("http", { expect_body: "(" })), io);
    expect(result.ok).toBe(false);
    expect(result.detail).toStartWith('Invalid expect_body regular expression "(":');
    expect(io.requests).toEqual([]);
  });

  test("method, path, Host and the monitor's own port reach the request", async () => {
    const io = new FakeProbeIo();
    await runProbe(targetOf(monitorOf("http", { method: "HEAD", path: "/health?x=1", host: "www.example.test", port: 8080 })), io);
    expect(lastHttp(io)).toMatchObject({ method: "HEAD", path: "/health?x=1", host: "www.example.test", port: 8080 });
    await runProbe(targetOf(monitorOf("http"), 8080), io);
    expect(lastHttp(io)).toMatchObject({ port: 8080, host: "10.201.0.11:8080" });
  });

  test("https asks for TLS and passes verify_tls on", async () => {
    const io = new FakeProbeIo();
    await runProbe(targetOf(monitorOf("https"), 443), io);
    expect(lastHttp(io)).toMatchObject({ tls: true, verifyTls: false, host: "10.201.0.11" });
    await runProbe(targetOf(monitorOf("https", { verify_tls: true }), 443), io);
    expect(lastHttp(io)).toMatchObject({ tls: true, verifyTls: true });
  });

  test("I/O failures become the failure's detail, and every timeout reads the same", async () => {
    const io = new FakeProbeIo();
    const target = targetOf(monitorOf("http"));
    io.http = () => ({ kind: "refused", detail: "connect ECONNREFUSED" });
    expect(await runProbe(target, io)).toMatchObject({ ok: false, detail: "connect ECONNREFUSED" });
    io.http = () => ({ kind: "tls", detail: "TLS DEPTH_ZERO_SELF_SIGNED_CERT" });
    expect(await runProbe(target, io)).toMatchObject({ ok: false, detail: "TLS DEPTH_ZERO_SELF_SIGNED_CERT" });
    io.latencyMs = 2000;
    io.http = () => ({ kind: "timeout", detail: "no answer within 2000 ms" });
    expect(await runProbe(target, io)).toEqual({ ok: false, ms: 2000, detail: "timeout after 2000 ms" });
  });
});
