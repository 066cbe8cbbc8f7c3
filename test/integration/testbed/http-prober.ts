/**
 * A client that keeps asking the VIP, one new TCP connection per request, run with Bun inside a
 * client namespace: `GET /` every INTERVAL_MS (a request waits for the previous one), each with a
 * TIMEOUT_MS budget. Prints one JSON line per request: `{"t": epoch ms at the start, "ok": bool,
 * "server": X-Server or "", "error": "" or why}`. Runs until SIGTERM, or LIMIT_MS.
 *
 * Usage: bun test/integration/testbed/http-prober.ts HOST PORT INTERVAL_MS TIMEOUT_MS LIMIT_MS
 */
import { connect } from "node:net";

const [host = "", portText = "80", intervalText = "20", timeoutText = "1000", limitText = "60000"] = process.argv.slice(2);
const port = Number(portText), intervalMs = Number(intervalText), timeoutMs = Number(timeoutText);
const endAt = Date.now() + Number(limitText);

function once(): Promise<{ ok: boolean; server: string; error: string }> {
  return new Promise((resolve) => {
    let data = "";
    let done = false;
    const finish = (ok: boolean, error: string) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, server: /^x-server:\s*(\S+)/im.exec(data)?.[1] ?? "", error });
    };
    const socket = connect({ host, port }, () => socket.write(`GET / HTTP/1.0\r\nHost: ${host}\r\n\r\n`));
    const timer = setTimeout(() => finish(false, `no answer within ${timeoutMs} ms`), timeoutMs);
    socket.on("data", (chunk: Buffer) => (data += chunk.toString("latin1")));
    socket.on("error", (error: NodeJS.ErrnoException) => finish(false, error.code ?? error.message));
    socket.on("close", () => finish(/^HTTP\/1\.[01] 200/.test(data), /^HTTP\/1\.[01] 200/.test(data) ? "" : `answer: ${data.slice(0, 40) || "(none)"}`));
  });
}

let stop = false;
process.on("SIGTERM", () => (stop = true));
while (!stop && Date.now() < endAt) {
  const t = Date.now();
  const r = await once();
  process.stdout.write(`${JSON.stringify({ t, ...r })}\n`);
  const wait = t + intervalMs - Date.now();
  if (wait > 0) await Bun.sleep(wait);
}
process.exit(0);
