/**
 * A real server of known speed (for `bench/adaptive.ts` and test/integration/adaptive.test.ts): HTTP on ADDRESS:PORT, serving one request
 * at a time like a single CPU, FIFO, each request costing an exponentially distributed time of mean
 * SERVICE_MS (a mix of cheap and dear requests). The queue is kept on a virtual clock, so the
 * server's capacity is exactly 1000 / SERVICE_MS requests per second whatever the timer jitter,
 * and it costs no CPU while "working" (three CPU-bound servers would fight the bench for the
 * host's cores). `GET /ready` is answered at once, outside the queue. Responses say
 * `Connection: close` (without it Bun ends the connection in a way wrk counts as a read error).
 *
 *   bun test/integration/testbed/paced-server.ts ADDRESS PORT SERVICE_MS [SEED]
 *
 * Prints `LISTENING` once it accepts connections.
 */
const [address, portArg, serviceArg, seedArg] = process.argv.slice(2);
const port = Number(portArg);
const serviceMs = Number(serviceArg);
if (address === undefined || !(port > 0) || !(serviceMs > 0)) {
  process.stderr.write("Usage: bun test/integration/testbed/paced-server.ts ADDRESS PORT SERVICE_MS [SEED]\n");
  process.exit(2);
}
let x = Number(seedArg ?? 1) | 0 || 1;
/** xorshift32: seeded, so runs are repeatable. */
function unit(): number {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) / 4294967296;
}
const body = `served by ${address} (${serviceMs} ms)\n`;
let busyUntilMs = 0;
Bun.serve({
  hostname: address,
  port,
  idleTimeout: 30,
  fetch(request) {
    if (new URL(request.url).pathname === "/ready") return new Response("ready\n");
    const now = performance.now();
    const start = Math.max(now, busyUntilMs);
    busyUntilMs = start - serviceMs * Math.log(1 - unit());
    const delayMs = busyUntilMs - now;
    return new Promise<Response>((resolve) => setTimeout(() => resolve(new Response(body, { headers: { connection: "close" } })), delayMs));
  },
});
process.stdout.write("LISTENING\n");
