import { describe, expect, test } from "bun:test";
import pkg from "../../../package.json" with { type: "json" };
import type { AlertPayload } from "../../../src/core/alert/alert-event.ts";
import type { AlertConfig } from "../../../src/core/alert/alert-router.ts";
import {
  AlertEngine, type AlertEngineOptions, type AlertExecRequest, type AlertExecResult, type AlertHttpRequest,
} from "../../../src/engine/alert-engine.ts";
import { FakeClock } from "../../../src/platform/fake/fake-clock.ts";
import { FakeHttpNetwork, type FetchHandler } from "../../../src/platform/fake/fake-http.ts";
import { memoryLog } from "../../../src/platform/fake/memory-log.ts";
import { alertEvent, execAlert, logAlert, webhookAlert } from "../core/alert/alert-test-helpers.ts";

const HOOK = { address: "192.0.2.10", port: 9000 } as const;
const MINUTE = 60_000;

/** Lets every pending promise continuation run (fake HTTP answers, delivery loops). */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** An engine on a fake clock, fake HTTP (a receiver on HOOK answering with `handler`) and a fake exec. */
function harness(alerts: AlertConfig[], handler: FetchHandler = () => new Response("ok"), options: Partial<AlertEngineOptions> = {}) {
  const clock = new FakeClock();
  const net = new FakeHttpNetwork(clock);
  const { log, lines } = memoryLog(clock);
  const requests: { request: AlertHttpRequest; atMs: number }[] = [];
  const execs: AlertExecRequest[] = [];
  const bodies: AlertPayload[] = [];
  let execResult: (request: AlertExecRequest) => Promise<AlertExecResult> = async () => ({ kind: "exited", code: 0, stderr: "" });
  const stopListening = net.listen(HOOK.address, HOOK.port, async (request) => {
    bodies.push((await request.clone().json()) as AlertPayload);
    return await handler(request);
  });
  const engine = new AlertEngine({
    alerts,
    cluster: "www",
    clock,
    log,
    http: (request) => {
      requests.push({ request, atMs: clock.monotonicMs() });
      return net.request(request);
    },
    exec: (request) => {
      execs.push(request);
      return execResult(request);
    },
    random: () => 0.5,
    ...options,
  });
  return {
    clock, net, lines, requests, execs, bodies, engine, stopListening,
    setExec(fn: (request: AlertExecRequest) => Promise<AlertExecResult>) {
      execResult = fn;
    },
    /** Advances the fake clock by `ms` in `stepMs` steps, letting deliveries run in between. */
    async run(ms: number, stepMs = 100) {
      await flush();
      for (let t = 0; t < ms; t += stepMs) {
        clock.advance(Math.min(stepMs, ms - t));
        await flush();
      }
    },
  };
}

describe("AlertEngine delivery", () => {
  test("a webhook alert POSTs the JSON payload with content type and user agent", async () => {
    const h = harness([webhookAlert(["server_down"], 0, { timeout: 2000 })]);
    h.engine.emit(alertEvent("server_down", "http/10.201.0.11:80", { port: 80 }));
    await h.engine.idle();
    expect(h.requests).toHaveLength(1);
    const { request } = h.requests[0]!;
    expect(request.method).toBe("POST");
    expect(request.url).toBe("http://192.0.2.10:9000/hook");
    expect(request.timeoutMs).toBe(2000);
    expect(request.headers).toEqual({ "content-type": "application/json", "user-agent": `tandem/${pkg.version}` });
    expect(h.bodies).toEqual([{
      tandem: 1, kind: "server_down", subject: "http/10.201.0.11:80", severity: "error", message: 'Event "server_down" about "http/10.201.0.11:80"',
      time: "2026-01-01T00:00:00.000Z", node: "a", cluster: "www", fields: { port: 80 }, repeat: 0,
    }]);
    expect(h.engine.snapshot()[0]).toMatchObject({ kind: "webhook", target: "http://192.0.2.10:9000", sent: 1, failed: 0, retried: 0, queued: 0 });
  });

  test("events go only to the alerts whose on list names their kind", async () => {
    const h = harness([webhookAlert(["server_down"]), execAlert(["failover"]), logAlert(["failover", "server_down"])]);
    h.engine.emit(alertEvent("failover", "b"));
    h.engine.emit(alertEvent("server_down", "s"));
    h.engine.emit(alertEvent("config_changed", "7"));
    await h.engine.idle();
    expect(h.bodies.map((b) => b.kind)).toEqual(["server_down"]);
    expect(h.execs.map((e) => e.env.TANDEM_EVENT)).toEqual(["failover"]);
    expect(h.lines.filter((l) => l.includes("alert=2")).map((l) => /event=(\w+)/.exec(l)?.[1])).toEqual(["failover", "server_down"]);
    expect(h.engine.snapshot().map((s) => s.sent)).toEqual([1, 1, 2]);
  });

  test("an exec alert runs its command with the TANDEM_ variables and the payload on stdin", async () => {
    const h = harness([execAlert(["link_down"], ["/usr/local/bin/page", "--urgent"], 0, 1500)]);
    h.engine.emit(alertEvent("link_down", "udp:private", { link: "private", silentMs: 5000 }));
    await h.engine.idle();
    expect(h.execs).toHaveLength(1);
    const run = h.execs[0]!;
    expect(run.argv).toEqual(["/usr/local/bin/page", "--urgent"]);
    expect(run.timeoutMs).toBe(1500);
    expect(run.env).toMatchObject({
      TANDEM_EVENT: "link_down", TANDEM_SUBJECT: "udp:private", TANDEM_SEVERITY: "error", TANDEM_NODE: "a", TANDEM_CLUSTER: "www",
      TANDEM_TIME: "2026-01-01T00:00:00.000Z", TANDEM_FIELD_LINK: "private", TANDEM_FIELD_SILENT_MS: "5000",
    });
    expect(JSON.parse(run.stdin)).toMatchObject({ tandem: 1, kind: "link_down", fields: { link: "private", silentMs: 5000 } });
    expect(h.engine.snapshot()[0]).toMatchObject({ kind: "exec", target: "/usr/local/bin/page", sent: 1 });
  });

  test("an exec alert that exits non-zero counts as failed and is not retried", async () => {
    const h = harness([execAlert(["failover"])]);
    h.setExec(async () => ({ kind: "exited", code: 2, stderr: "pager: no route\n" }));
    h.engine.emit(alertEvent("failover", "b"));
    await h.engine.idle();
    expect(h.execs).toHaveLength(1);
    expect(h.engine.snapshot()[0]).toMatchObject({ sent: 0, failed: 1, retried: 0, lastError: "exit status 2: pager: no route" });
  });

  test("a log alert writes a line at the event's severity with its fields", async () => {
    const h = harness([logAlert(["peer_dead"])]);
    h.engine.emit(alertEvent("peer_dead", "b", { lastHeardMs: 5200 }));
    expect(h.lines).toHaveLength(1);
    expect(h.lines[0]).toContain(' error Event "peer_dead" about "b" ');
    expect(h.lines[0]).toMatch(/lastHeardMs=5200/);
    expect(h.lines[0]).toMatch(/subject=b/);
  });
});

describe("AlertEngine retries", () => {
  test("failed attempts are retried after 1 s, 2 s, 4 s, then the payload is given up", async () => {
    const h = harness([webhookAlert(["server_down"], 0, { retries: 3 })], () => new Response("busy", { status: 503 }));
    h.engine.emit(alertEvent("server_down", "s"));
    await h.run(20_000);
    expect(h.requests.map((r) => r.atMs)).toEqual([0, 1000, 3000, 7000]);
    expect(h.engine.snapshot()[0]).toMatchObject({ sent: 0, failed: 1, retried: 3, queued: 0, lastError: "HTTP status 503: busy" });
  });

  test("backoff stops growing at 60 s", async () => {
    const h = harness([webhookAlert(["server_down"], 0, { retries: 8 })], () => new Response("", { status: 500 }));
    h.engine.emit(alertEvent("server_down", "s"));
    await h.run(5 * MINUTE, 1000);
    const gaps = h.requests.slice(1).map((r, i) => r.atMs - h.requests[i]!.atMs);
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
  });

  test("a refused connection is retried and the later success counts as sent", async () => {
    const h = harness([webhookAlert(["server_down"], 0, { retries: 5 })]);
    h.stopListening();
    h.engine.emit(alertEvent("server_down", "s"));
    await h.run(500);
    expect(h.engine.snapshot()[0]).toMatchObject({ sent: 0, retried: 1, lastError: "refused: connection refused" });
    h.net.listen(HOOK.address, HOOK.port, () => new Response("ok"));
    await h.run(3000);
    expect(h.requests.map((r) => r.atMs)).toEqual([0, 1000]);
    expect(h.engine.snapshot()[0]).toMatchObject({ sent: 1, failed: 0, retried: 1 });
  });

  test("delivery going from failing to working is logged once each way", async () => {
    let status = 500;
    const h = harness([webhookAlert(["server_down"], 0, { retries: 0 })], () => new Response("", { status }));
    for (let i = 0; i < 5; i++) h.engine.emit(alertEvent("server_down", `s${i}`));
    await h.engine.idle();
    status = 200;
    h.engine.emit(alertEvent("server_down", "s5"));
    await h.engine.idle();
    expect(h.lines.filter((l) => l.includes("Alert delivery failing"))).toHaveLength(1);
    expect(h.lines.filter((l) => l.includes("Alert delivery recovered"))).toHaveLength(1);
    expect(h.engine.snapshot()[0]).toMatchObject({ sent: 1, failed: 5 });
  });
});

describe("AlertEngine ordering and bounds", () => {
  test("one delivery is in flight per alert and events arrive in the order emitted, retries included", async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    let first = true;
    const h = harness([webhookAlert(["server_down"], 0, { retries: 3 })], async () => {
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await Promise.resolve();
      inFlight -= 1;
      if (first) {
        first = false;
        return new Response("", { status: 502 });
      }
      return new Response("ok");
    });
    for (const s of ["s1", "s2", "s3"]) h.engine.emit(alertEvent("server_down", s));
    await h.run(5000);
    expect(h.bodies.map((b) => b.subject)).toEqual(["s1", "s1", "s2", "s3"]);
    expect(maxInFlight).toBe(1);
    expect(h.engine.snapshot()[0]).toMatchObject({ sent: 3, retried: 1 });
  });

  test("a full queue drops its oldest waiting payloads and counts them", async () => {
    let answer = false;
    const h = harness([webhookAlert(["server_down"], 0, { retries: 0, timeout: 10_000 })], async () => {
      while (!answer) await new Promise((resolve) => setImmediate(resolve));
      return new Response("ok");
    }, { queueCapacity: 3 });
    h.engine.emit(alertEvent("server_down", "s0"));
    await flush();
    for (let i = 1; i < 10; i++) h.engine.emit(alertEvent("server_down", `s${i}`));
    expect(h.engine.snapshot()[0]).toMatchObject({ dropped: 6, queued: 4 });
    expect(h.lines.filter((l) => l.includes("Alert queue full"))).toHaveLength(1);
    answer = true;
    await h.engine.idle();
    expect(h.bodies.map((b) => b.subject)).toEqual(["s0", "s7", "s8", "s9"]);
  });

  test("emit returns before any delivery starts, even while a webhook hangs until its timeout", async () => {
    const h = harness([webhookAlert(["server_down"], 0, { retries: 1, timeout: 5000 })], () => new Promise<Response>(() => {}));
    h.engine.emit(alertEvent("server_down", "s0"));
    expect(h.requests).toHaveLength(0);
    await flush();
    expect(h.requests).toHaveLength(1);
    const started = performance.now();
    for (let i = 1; i <= 1000; i++) h.engine.emit(alertEvent("server_down", `s${i}`));
    const elapsedMs = performance.now() - started;
    expect(h.requests).toHaveLength(1);
    expect(h.engine.snapshot()[0]).toMatchObject({ queued: 1001, dropped: 0 });
    // 1000 emits while the receiver hangs: well under 1 ms each even on a loaded machine.
    expect(elapsedMs).toBeLessThan(200);
    await h.run(5000);
    expect(h.requests).toHaveLength(1);
    await h.run(1000);
    expect(h.requests).toHaveLength(2);
    expect(h.engine.snapshot()[0]).toMatchObject({ retried: 1, lastError: "timeout: no answer within 5000 ms" });
    h.engine.stop();
  });

  test("emit survives an http port that breaks its contract and throws", async () => {
    let calls = 0;
    const h = harness([webhookAlert(["server_down"], 0, { retries: 0 })], undefined, {
      http: () => {
        calls += 1;
        if (calls === 1) throw new Error("port bug");
        return Promise.resolve({ kind: "response", status: 204, body: "" });
      },
    });
    h.engine.emit(alertEvent("server_down", "s1"));
    h.engine.emit(alertEvent("server_down", "s2"));
    await h.engine.idle();
    expect(h.lines.some((l) => l.includes("Alert delivery crashed"))).toBe(true);
    expect(h.engine.snapshot()[0]).toMatchObject({ sent: 1, failed: 1, queued: 0, lastError: "crashed: Error: port bug" });
  });
});

describe("AlertEngine alert_every", () => {
  test("repeats go out every alert_every until the closing event, with a growing repeat count", async () => {
    const h = harness([webhookAlert(["server_down", "server_up"], MINUTE)]);
    h.engine.emit(alertEvent("server_down", "s"));
    await h.run(2 * MINUTE + 30_000, 1000);
    h.engine.emit(alertEvent("server_up", "s"));
    await h.run(5 * MINUTE, 1000);
    expect(h.bodies.map((b) => `${b.kind}#${b.repeat}`)).toEqual(["server_down#0", "server_down#1", "server_down#2", "server_up#0"]);
    expect(h.requests.map((r) => r.atMs)).toEqual([0, MINUTE, 2 * MINUTE, 2 * MINUTE + 30_000]);
    expect(h.clock.pending).toBe(0);
  });

  test("a reload keeps an unchanged alert's counters and repeats and stops a removed one", async () => {
    const kept = webhookAlert(["server_down"], MINUTE);
    const h = harness([execAlert(["server_down"]), kept]);
    h.engine.emit(alertEvent("server_down", "s"));
    await h.engine.idle();
    h.engine.reconfigure([{ ...kept }], "www");
    expect(h.engine.snapshot()).toMatchObject([{ index: 0, kind: "webhook", sent: 1, openConditions: 1 }]);
    await h.run(MINUTE, 1000);
    expect(h.bodies.map((b) => b.repeat)).toEqual([0, 1]);
    expect(h.execs).toHaveLength(1);
  });

  test("stop ends pending retries and repeats, and idle resolves", async () => {
    const h = harness([webhookAlert(["server_down"], MINUTE, { retries: 5 })], () => new Response("", { status: 500 }));
    h.engine.emit(alertEvent("server_down", "s"));
    await h.run(500);
    expect(h.requests).toHaveLength(1);
    h.engine.stop();
    await h.engine.idle();
    await h.run(10 * MINUTE, 1000);
    expect(h.requests).toHaveLength(1);
    expect(h.clock.pending).toBe(0);
    h.engine.emit(alertEvent("server_down", "t"));
    await flush();
    expect(h.requests).toHaveLength(1);
  });
});
