/**
 * The closed-loop client of `bench/adaptive.ts`: CONNECTIONS clients, each opening a TCP connection,
 * sending one `GET / HTTP/1.1` with `Connection: close`, reading the response to its end and starting
 * over at once, for SECONDS. Each response's time (request written → response complete) is kept
 * with its completion time, so the bench can cut the run into windows. Why not wrk: wrk's latency
 * statistics over short connections disagree with Little's law when a few responses are very slow
 * (mean × rate came out at twice the 64 connections in flight, while curl beside it and tandem's own
 * measurement agreed with each other), so every figure here is computed from the raw samples.
 *
 *   bun bench/adaptive-client.ts HOST PORT CONNECTIONS SECONDS OUTPUT
 *
 * Writes one JSON object to OUTPUT at the end, `{"startMs", "endMs", "done": [[completionMs,
 * latencyMs], …], "errors": n}` (times are wall-clock ms), then prints `DONE`.
 */
import { writeFileSync } from "node:fs";

const [host, portArg, connectionsArg, secondsArg, output] = process.argv.slice(2);
const port = Number(portArg);
const connections = Number(connectionsArg);
const seconds = Number(secondsArg);
if (host === undefined || !(port > 0) || !(connections > 0) || !(seconds > 0) || output === undefined) {
  process.stderr.write("Usage: bun bench/adaptive-client.ts HOST PORT CONNECTIONS SECONDS OUTPUT\n");
  process.exit(2);
}
const request = new TextEncoder().encode(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
const startMs = Date.now();
const endMs = startMs + seconds * 1000;
const done: [number, number][] = [];
let errors = 0;

/** One request on a fresh connection; resolves when the server has closed it. */
function once(): Promise<void> {
  return new Promise((resolve) => {
    let sentAt = 0;
    let bytes = 0;
    let finished = false;
    const finish = (ok: boolean) => {
      if (finished) return;
      finished = true;
      const now = performance.now();
      if (ok && bytes > 0) done.push([Date.now(), now - sentAt]);
      else errors++;
      resolve();
    };
    Bun.connect({
      hostname: host!,
      port,
      socket: {
        open(socket) {
          sentAt = performance.now();
          socket.write(request);
        },
        data(_socket, chunk) {
          bytes += chunk.length;
        },
        close() {
          finish(true);
        },
        error() {
          finish(false);
        },
        connectError() {
          finish(false);
        },
      },
    }).catch(() => finish(false));
  });
}

async function loop(): Promise<void> {
  while (Date.now() < endMs) await once();
}

await Promise.all(Array.from({ length: connections }, loop));
writeFileSync(output, JSON.stringify({ startMs, endMs: Date.now(), done: done.map(([t, l]) => [t, Math.round(l * 100) / 100]), errors }));
process.stdout.write("DONE\n");
