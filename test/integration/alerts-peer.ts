/**
 * The processes of test/integration/alerts.test.ts, each run inside a test bed namespace:
 *
 * - `bun alerts-peer.ts receiver PORT`: a webhook receiver (Bun.serve on 0.0.0.0:PORT) printing
 *   `{"event":"ready"}`, then one JSON line per request: `{ event: "request", method, url,
 *   headers, body }`; it answers 200.
 * - `bun alerts-peer.ts engine SPEC`: the real AlertEngine with the Bun HTTP client and exec port,
 *   driven by SPEC (JSON, see `EngineSpec`), printing one JSON result line per phase and exiting:
 *   `delivered` (a server_down to a live webhook receiver and an exec alert), then `dead` (events
 *   emitted every 10 ms at a receiver that accepts connections but never answers, with each
 *   emit's duration and the lateness of a 10 ms timer measured while deliveries time out and retry).
 */

import type { AlertEvent } from "../../src/core/alert/alert-event.ts";
import type { AlertConfig } from "../../src/core/alert/alert-router.ts";
import { createLog } from "../../src/core/log/create-log.ts";
import { AlertEngine } from "../../src/engine/alert-engine.ts";
import { bunAlertExec } from "../../src/platform/bun/alert-exec.ts";
import { bunHttpRequest } from "../../src/platform/bun/http-request.ts";
import { systemClock } from "../../src/platform/bun/system-clock.ts";

/** What the engine mode does. */
export interface EngineSpec {
  readonly cluster: string;
  readonly node: string;
  /** URL of the live receiver. */
  readonly hookUrl: string;
  /** URL of a receiver that never answers. */
  readonly deadUrl: string;
  /** File the exec alert writes its TANDEM_ variables to (and its stdin to FILE.stdin). */
  readonly execOut: string;
  /** Wall time of the delivered event. */
  readonly timeMs: number;
  /** Minimum number of emits in the dead phase, and retries to see before it ends. */
  readonly deadEmits: number;
  readonly deadRetries: number;
  /** Emits to a throw-away engine before the dead phase's measurement. */
  readonly warmUpEmits: number;
}

const print = (message: object) => process.stdout.write(`${JSON.stringify(message)}\n`);
const clock = systemClock();
const log = createLog((line) => process.stderr.write(`${line}\n`), "debug", clock);

async function receiver(port: number): Promise<void> {
  Bun.serve({
    hostname: "0.0.0.0",
    port,
    async fetch(request) {
      const headers = Object.fromEntries(request.headers.entries());
      print({ event: "request", method: request.method, url: request.url, headers, body: await request.text() });
      return new Response("ok");
    },
  });
  print({ event: "ready", port });
}

async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

async function delivered(spec: EngineSpec): Promise<void> {
  const alerts: AlertConfig[] = [
    { kind: "webhook", on: ["server_down", "server_up"], alert_every: 0, url: spec.hookUrl, timeout: 2000, retries: 2 },
    {
      kind: "exec",
      on: ["server_down"],
      alert_every: 0,
      // $0 is the output file: the variables, sorted, then the payload read from stdin.
      command: ["/bin/sh", "-c", 'env | grep "^TANDEM_" | sort > "$0.tmp" && mv "$0.tmp" "$0"; cat > "$0.stdin"', spec.execOut],
      timeout: 5000,
    },
  ];
  const engine = new AlertEngine({ alerts, cluster: spec.cluster, clock, log, http: bunHttpRequest, exec: bunAlertExec() });
  engine.emit({
    kind: "server_down",
    subject: "http/10.201.0.11:80",
    severity: "error",
    message: 'Server "10.201.0.11:80" of service "http" is down: connection refused',
    timeMs: spec.timeMs,
    node: spec.node,
    fields: { service: "http", address: "10.201.0.11", port: 80, passive: false },
  });
  await withDeadline(engine.idle(), 15_000, "Deliveries to the live receiver");
  print({ phase: "delivered", snapshot: engine.snapshot() });
  engine.stop();
}

async function dead(spec: EngineSpec): Promise<void> {
  const alerts: AlertConfig[] = [{ kind: "webhook", on: ["server_down"], alert_every: 0, url: spec.deadUrl, timeout: 300, retries: 5 }];
  // Warm-up: the JIT compiles emit's path during its first few hundred calls (0.5 to 1 ms pauses
  // that any caller pays once, receiver or not); the measurement is about the steady state.
  const warmUp = new AlertEngine({ alerts, cluster: spec.cluster, clock, log, http: bunHttpRequest, exec: bunAlertExec(), queueCapacity: 10 });
  for (let i = 0; i < spec.warmUpEmits; i++) warmUp.emit({ kind: "server_down", subject: "warm-up", severity: "error", message: "warm-up", timeMs: Date.now(), node: spec.node, fields: { i } });
  warmUp.stop();
  const engine = new AlertEngine({ alerts, cluster: spec.cluster, clock, log, http: bunHttpRequest, exec: bunAlertExec() });
  const emitMs: number[] = [];
  let maxTimerLagMs = 0;
  const deadlineMs = performance.now() + 20_000;
  for (let i = 0; ; i++) {
    const event: AlertEvent = { kind: "server_down", subject: `http/10.201.0.${i % 250}:80`, severity: "error", message: "down", timeMs: Date.now(), node: spec.node, fields: { i } };
    const started = performance.now();
    engine.emit(event);
    emitMs.push(performance.now() - started);
    const s = engine.snapshot()[0]!;
    if ((emitMs.length >= spec.deadEmits && s.retried >= spec.deadRetries) || performance.now() > deadlineMs) break;
    // The monitors' view: a 10 ms timer must fire on time while deliveries hang and retry.
    const armed = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 10));
    maxTimerLagMs = Math.max(maxTimerLagMs, performance.now() - armed - 10);
  }
  const sorted = [...emitMs].sort((a, b) => a - b);
  print({
    phase: "dead",
    emits: emitMs.length,
    maxEmitMs: sorted.at(-1),
    medianEmitMs: sorted[Math.floor(sorted.length / 2)],
    p99EmitMs: sorted[Math.floor(sorted.length * 0.99)],
    maxTimerLagMs,
    snapshot: engine.snapshot(),
  });
  engine.stop();
}

const [mode, arg] = process.argv.slice(2);
if (mode === "receiver") {
  await receiver(Number(arg));
} else if (mode === "engine") {
  const spec = JSON.parse(arg ?? "{}") as EngineSpec;
  await delivered(spec);
  await dead(spec);
  process.exit(0);
} else {
  process.stderr.write(`Usage: alerts-peer.ts receiver PORT | engine SPEC (got "${mode}")\n`);
  process.exit(2);
}
