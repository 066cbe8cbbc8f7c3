/**
 * The client-side probe of `bench/failover.ts`, run with Bun inside the client namespace:
 * every INTERVAL ms a NEW TCP connection to HOST:PORT sends `GET /ready` (Connection: close) and
 * must get `HTTP/1.1 200` within TIMEOUT ms. Probes overlap (one starts every interval whatever
 * the earlier ones do). Prints one line per finished probe on stdout,
 * `ok|fail START_MS END_MS [reason]` (epoch ms, 0.1 ms resolution), until SIGTERM/SIGINT or
 * LIMIT ms have passed.
 *
 * Usage: bun bench/failover-probe.ts HOST PORT INTERVAL_MS TIMEOUT_MS LIMIT_MS
 */
import { connect } from "node:net";

const [host = "", portText = "80", intervalText = "10", timeoutText = "250", limitText = "60000"] = process.argv.slice(2);
const port = Number(portText);
const intervalMs = Number(intervalText);
const timeoutMs = Number(timeoutText);
const limitMs = Number(limitText);
const REQUEST = `GET /ready HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

/** Epoch milliseconds with sub-millisecond resolution (comparable across processes of this host). */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

const out: string[] = [];
function record(ok: boolean, startMs: number, reason = ""): void {
  out.push(`${ok ? "ok" : "fail"} ${startMs.toFixed(1)} ${nowMs().toFixed(1)}${reason ? ` ${reason}` : ""}`);
  // Batched: one write per ~20 lines keeps the 100 probes/s cheap; flushed at exit too.
  if (out.length >= 20) flush();
}

function flush(): void {
  if (out.length === 0) return;
  process.stdout.write(out.join("\n") + "\n");
  out.length = 0;
}

function probeOnce(): void {
  const startMs = nowMs();
  let done = false;
  let head = "";
  const socket = connect({ host, port });
  const finish = (ok: boolean, reason: string) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    socket.destroy();
    record(ok, startMs, reason);
  };
  const timer = setTimeout(() => finish(false, "timeout"), timeoutMs);
  socket.on("connect", () => socket.write(REQUEST));
  socket.on("data", (chunk: Buffer) => {
    head += chunk.toString("latin1");
    // The status line is enough: the connection went through the balancer to a real server.
    if (head.includes("\r\n")) finish(head.startsWith("HTTP/1.1 200"), head.startsWith("HTTP/1.1 200") ? "" : `status:${head.slice(9, 12)}`);
  });
  socket.on("error", (error: NodeJS.ErrnoException) => finish(false, error.code ?? "error"));
  socket.on("close", () => finish(false, "closed"));
}

const started = nowMs();
const ticker = setInterval(() => {
  if (nowMs() - started > limitMs) stop();
  else probeOnce();
}, intervalMs);

function stop(): void {
  clearInterval(ticker);
  flush();
  process.exit(0);
}

process.on("SIGTERM", stop);
process.on("SIGINT", stop);
