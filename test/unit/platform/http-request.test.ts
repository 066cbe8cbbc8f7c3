import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { bunHttpRequest } from "../../../src/platform/bun/http-request.ts";
import { FakeClock } from "../../../src/platform/fake/fake-clock.ts";
import { FakeHttpNetwork } from "../../../src/platform/fake/fake-http.ts";

describe("bunHttpRequest", () => {
  test("returns the status and body of any response, sending the method and body", async () => {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async (r) => new Response(`${r.method} ${new URL(r.url).pathname} ${await r.text()}`, { status: 409 }) });
    try {
      const result = await bunHttpRequest({ method: "POST", url: `http://127.0.0.1:${server.port}/api/x`, body: "hi", timeoutMs: 5000 });
      assert.deepEqual(result, { kind: "response", status: 409, body: "POST /api/x hi" });
    } finally {
      server.stop(true);
    }
  });

  test("reports a port nobody listens on as refused", async () => {
    // A port that was just free: bind it, then close it.
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = server.port;
    server.stop(true);
    assert.deepEqual(await bunHttpRequest({ method: "GET", url: `http://127.0.0.1:${port}/`, timeoutMs: 5000 }), { kind: "refused", detail: "connection refused" });
  });

  test("reports a server that does not answer in time as a timeout", async () => {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: async () => (await held, new Response("late")) });
    try {
      const result = await bunHttpRequest({ method: "GET", url: `http://127.0.0.1:${server.port}/`, timeoutMs: 50 });
      assert.deepEqual(result, { kind: "timeout", detail: "no answer within 50 ms" });
    } finally {
      release();
      server.stop(true);
    }
  });
});

describe("FakeHttpNetwork", () => {
  test("routes by address and port, the exact address beating the wildcard", async () => {
    const http = new FakeHttpNetwork(new FakeClock());
    http.listen("0.0.0.0", 80, () => new Response("any"));
    http.listen("10.0.0.1", 80, () => new Response("exact"));
    const get = (url: string) => http.request({ method: "GET", url, timeoutMs: 1000 });
    assert.deepEqual(await get("http://10.0.0.1/"), { kind: "response", status: 200, body: "exact" });
    assert.deepEqual(await get("http://127.0.0.1:80/"), { kind: "response", status: 200, body: "any" });
    assert.deepEqual(await get("http://127.0.0.1:81/"), { kind: "refused", detail: "connection refused" });
    assert.deepEqual(await get("http://[::1]/"), { kind: "refused", detail: "connection refused" });
    assert.throws(() => http.listen("10.0.0.1", 80, () => new Response("")), /address already in use/);
    assert.deepEqual(http.exchanges.map((e) => e.result), ["response", "response", "refused", "refused"]);
  });

  test("times a silent handler out on its clock and answers 500 for one that throws", async () => {
    const clock = new FakeClock();
    const http = new FakeHttpNetwork(clock);
    http.listen("::", 8080, () => new Promise<Response>(() => {}));
    http.listen("127.0.0.1", 8080, () => {
      throw new Error("boom");
    });
    const pending = http.request({ method: "GET", url: "http://[::1]:8080/", timeoutMs: 250 });
    clock.advance(249);
    let settled = false;
    void pending.then(() => (settled = true));
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(settled, false);
    clock.advance(1);
    assert.deepEqual(await pending, { kind: "timeout", detail: "no answer within 250 ms" });
    const thrown = await http.request({ method: "GET", url: "http://127.0.0.1:8080/", timeoutMs: 250 });
    assert.equal(thrown.kind === "response" && thrown.status, 500);
  });
});
