/**
 * Alert delivery against real processes and a real network, as root: the AlertEngine runs in a
 * Bun process inside dispatcher d1's namespace (`alerts-peer.ts engine`), webhook receivers
 * (`alerts-peer.ts receiver`) in client c1's. Shows that a webhook reaches its receiver with the
 * expected JSON, that an exec alert's command gets the TANDEM_ variables and the payload on
 * stdin, and that a receiver which accepts connections but never answers (SIGSTOPped) does not
 * slow `emit` or the event loop while its deliveries time out and retry.
 */

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AlertChannelSnapshot } from "../../src/engine/alert-engine.ts";
import type { EngineSpec } from "./alerts-peer.ts";
import { createTestbed, type BedProcess, type Testbed } from "./testbed/topology.ts";

const PEER = join(import.meta.dir, "alerts-peer.ts");
const LIVE_PORT = 9000;
const DEAD_PORT = 9001;
const EVENT_TIME_MS = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const WAIT_MS = 15_000;

interface ReceivedRequest {
  event: "request";
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

interface DeliveredPhase {
  phase: "delivered";
  snapshot: AlertChannelSnapshot[];
}

interface DeadPhase {
  phase: "dead";
  emits: number;
  maxEmitMs: number;
  medianEmitMs: number;
  p99EmitMs: number;
  maxTimerLagMs: number;
  snapshot: AlertChannelSnapshot[];
}

let bed: Testbed;
let live: BedProcess;
let deadReceiver: BedProcess;
let engineOutput: { delivered: DeliveredPhase; dead: DeadPhase };
let execOut: string;

/** Complete JSON lines a process printed so far (a line still being written is left out). */
function jsonLines(proc: BedProcess): Record<string, unknown>[] {
  return proc.stdout().split("\n").slice(0, -1).filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** Resolves once `proc` printed a JSON line matching `match`; rejects when it exits first or after `timeoutMs`. */
async function waitForLine(proc: BedProcess, match: (line: Record<string, unknown>) => boolean, timeoutMs = WAIT_MS): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = jsonLines(proc).find(match);
    if (found) return found;
    if (!proc.running) throw new Error(`${proc.label} exited before printing the expected line: ${proc.stderr().slice(-2000)}`);
    if (Date.now() > deadline) throw new Error(`${proc.label}: expected line not within ${timeoutMs} ms; stdout: ${proc.stdout().slice(-2000)}`);
    await Bun.sleep(20);
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("The netns test bed needs root: run the integration tests as root");
  bed = await createTestbed({ dispatchers: 1, servers: 1, clients: 1 });
  const client = bed.addresses.clients[0]!.public;
  live = bed.spawn("c1", [process.execPath, PEER, "receiver", String(LIVE_PORT)], "live-receiver");
  deadReceiver = bed.spawn("c1", [process.execPath, PEER, "receiver", String(DEAD_PORT)], "dead-receiver");
  await Promise.all([waitForLine(live, (l) => l.event === "ready"), waitForLine(deadReceiver, (l) => l.event === "ready")]);
  // Stopped, it still completes TCP handshakes (the kernel's listen backlog) but never answers:
  // the worst receiver, since every attempt lasts the whole timeout.
  deadReceiver.signal("SIGSTOP");
  execOut = join(bed.runDir, "exec-alert.env");
  const spec: EngineSpec = {
    cluster: "www",
    node: "d1",
    hookUrl: `http://${client}:${LIVE_PORT}/hook?token=s3cret`,
    deadUrl: `http://${client}:${DEAD_PORT}/hook`,
    execOut,
    timeMs: EVENT_TIME_MS,
    deadEmits: 100,
    deadRetries: 2,
    warmUpEmits: 2000,
  };
  const engine = bed.spawn("d1", [process.execPath, PEER, "engine", JSON.stringify(spec)], "alert-engine");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const code = await Promise.race([engine.exited, new Promise<string>((resolve) => (timer = setTimeout(() => resolve("a timeout after 60 s"), 60_000)))]);
  clearTimeout(timer);
  if (code !== 0) throw new Error(`The alert engine process ended with ${code}: ${engine.stderr().slice(-3000)}`);
  const lines = jsonLines(engine);
  engineOutput = {
    delivered: lines.find((l) => l.phase === "delivered") as unknown as DeliveredPhase,
    dead: lines.find((l) => l.phase === "dead") as unknown as DeadPhase,
  };
}, 120_000);

afterAll(async () => {
  await bed?.destroy();
});

describe("alerts in a namespace", () => {
  test("a webhook alert reaches the receiver as one POST of the expected JSON", () => {
    const requests = jsonLines(live).filter((l) => l.event === "request") as unknown as ReceivedRequest[];
    expect(requests).toHaveLength(1);
    const request = requests[0]!;
    expect(request.method).toBe("POST");
    expect(request.headers["content-type"]).toBe("application/json");
    expect(request.headers["user-agent"]).toMatch(/^tandem\//);
    expect(new URL(request.url).pathname + new URL(request.url).search).toBe("/hook?token=s3cret");
    expect(JSON.parse(request.body)).toEqual({
      tandem: 1,
      kind: "server_down",
      subject: "http/10.201.0.11:80",
      severity: "error",
      message: 'Server "10.201.0.11:80" of service "http" is down: connection refused',
      time: "2026-01-02T03:04:05.678Z",
      node: "d1",
      cluster: "www",
      fields: { service: "http", address: "10.201.0.11", port: 80, passive: false },
      repeat: 0,
    });
    const [webhook] = engineOutput.delivered.snapshot;
    expect(webhook).toMatchObject({ kind: "webhook", sent: 1, failed: 0, retried: 0, queued: 0, lastError: null });
    // The token in the query is not shown by the API.
    expect(webhook!.target).toBe(`http://${bed.addresses.clients[0]!.public}:${LIVE_PORT}`);
  });

  test("an exec alert runs its command with the TANDEM_ variables and the payload on stdin", () => {
    expect(existsSync(execOut)).toBe(true);
    const env = Object.fromEntries(readFileSync(execOut, "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    expect(env).toMatchObject({
      TANDEM_EVENT: "server_down",
      TANDEM_SUBJECT: "http/10.201.0.11:80",
      TANDEM_SEVERITY: "error",
      TANDEM_MESSAGE: 'Server "10.201.0.11:80" of service "http" is down: connection refused',
      TANDEM_NODE: "d1",
      TANDEM_CLUSTER: "www",
      TANDEM_TIME: "2026-01-02T03:04:05.678Z",
      TANDEM_REPEAT: "0",
      TANDEM_FIELD_SERVICE: "http",
      TANDEM_FIELD_ADDRESS: "10.201.0.11",
      TANDEM_FIELD_PORT: "80",
      TANDEM_FIELD_PASSIVE: "false",
    });
    const stdin = JSON.parse(readFileSync(`${execOut}.stdin`, "utf8")) as Record<string, unknown>;
    expect(stdin).toMatchObject({ tandem: 1, kind: "server_down", node: "d1", cluster: "www", fields: { port: 80 } });
    expect(JSON.parse(env.TANDEM_DETAIL!)).toEqual(stdin);
    expect(engineOutput.delivered.snapshot[1]).toMatchObject({ kind: "exec", target: "/bin/sh", sent: 1, failed: 0 });
  });

  test("a receiver that never answers does not slow emit or the event loop while deliveries retry", () => {
    const dead = engineOutput.dead;
    const [webhook] = dead.snapshot;
    // Deliveries really were hanging and retrying during the measurement.
    expect(webhook).toMatchObject({ sent: 0 });
    expect(webhook!.retried).toBeGreaterThanOrEqual(2);
    expect(webhook!.lastError).toBe("timeout: no answer within 300 ms");
    expect(webhook!.queued).toBeGreaterThan(50);
    expect(dead.emits).toBeGreaterThanOrEqual(100);
    // An attempt lasts 300 ms here; an emit that waited for delivery would take at least that.
    // The bounds leave room for one preemption of the process by the OS landing inside an emit.
    expect(dead.medianEmitMs).toBeLessThan(0.1);
    expect(dead.p99EmitMs).toBeLessThan(1);
    expect(dead.maxEmitMs).toBeLessThan(5);
    expect(dead.maxTimerLagMs).toBeLessThan(50);
  });
});
