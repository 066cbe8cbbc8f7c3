/**
 * The established connections of `bench/failover.ts`, run with Bun inside the client namespace:
 * COUNT keep-alive connections to HOST:PORT, each first downloading the bed's /big file through
 * nginx's rate limit (`/slow?bps=BPS`, so the transfer is in flight when the balancer fails),
 * checked against SHA256 and BYTES; then, once SIGUSR1 said "the failover is over" and its
 * download finished, a second request (`GET /1k`) on the SAME socket, checked against the
 * server's known body and the same X-Server. Prints `ready N` once every connection has its
 * first response headers (N = how many got a 200), then, at the end, one JSON line
 * `{"results":[{"ok":…,"server":…,"stage":…,"error":…},…]}`. Bounded: LIMIT ms after SIGUSR1
 * (or after start, if it never comes) unfinished connections count as failed.
 *
 * Usage: bun bench/failover-holder.ts HOST PORT COUNT BPS SHA256 BYTES LIMIT_MS
 */
import { createHash, type Hash } from "node:crypto";
import { connect, type Socket } from "node:net";

const [host = "", portText = "80", countText = "50", bps = "65536", sha256 = "", bytesText = "0", limitText = "30000"] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const expectedBytes = Number(bytesText);
const limitMs = Number(limitText);

/** One parsed HTTP/1.1 response, body hashed as it streams. */
interface Response {
  status: number;
  headers: Map<string, string>;
  length: number;
  received: number;
  hash: Hash;
  /** The body when it is small (the /1k check), else empty. */
  small: Buffer[];
}

/** Where one connection is; `done` and `failed` are final. */
type Stage = "connecting" | "download" | "downloaded" | "second" | "done" | "failed";

class Held {
  stage: Stage = "connecting";
  error = "";
  server = "";
  private buffer: Buffer = Buffer.alloc(0);
  private response: Response | undefined;
  private readonly socket: Socket;
  private goSeen = false;

  constructor(private readonly onChange: () => void) {
    this.socket = connect({ host, port });
    this.socket.on("connect", () => {
      this.stage = "download";
      this.send(`/slow?bps=${bps}`);
    });
    this.socket.on("data", (chunk: Buffer) => this.feed(chunk));
    this.socket.on("error", (error: NodeJS.ErrnoException) => this.fail(`socket error ${error.code ?? error.message}`));
    this.socket.on("close", () => this.fail("connection closed"));
  }

  /** The failover is over: send the second request as soon as the download is complete. */
  go(): void {
    this.goSeen = true;
    if (this.stage === "downloaded") this.second();
  }

  /** Ends the connection as failed (no-op once final). */
  fail(reason: string): void {
    if (this.stage === "done" || this.stage === "failed") return;
    this.error = `${this.stage}: ${reason}`;
    this.stage = "failed";
    this.socket.destroy();
    this.onChange();
  }

  get headersSeen(): boolean {
    return this.stage === "failed" || this.server !== "";
  }

  get final(): boolean {
    return this.stage === "done" || this.stage === "failed";
  }

  private send(path: string): void {
    this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
  }

  private second(): void {
    this.stage = "second";
    this.send("/1k");
  }

  private feed(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    if (!this.response) {
      const end = this.buffer.indexOf("\r\n\r\n");
      if (end < 0) return;
      const lines = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
      const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()] as [string, string]));
      this.response = { status: Number(lines[0]?.slice(9, 12)), headers, length: Number(headers.get("content-length") ?? -1), received: 0, hash: createHash("sha256"), small: [] };
      this.buffer = this.buffer.subarray(end + 4);
      if (this.stage === "download") {
        this.server = headers.get("x-server") ?? "?";
        this.onChange();
      }
      if (this.response.status !== 200 || this.response.length < 0) return this.fail(`status ${this.response.status}, content-length ${this.response.length}`);
    }
    const r = this.response;
    const take = this.buffer.subarray(0, r.length - r.received);
    r.hash.update(take);
    if (this.stage === "second") r.small.push(take);
    r.received += take.length;
    this.buffer = this.buffer.subarray(take.length);
    if (r.received === r.length) this.complete(r);
  }

  private complete(r: Response): void {
    this.response = undefined;
    if (this.stage === "download") {
      const digest = r.hash.digest("hex");
      if (r.length !== expectedBytes || digest !== sha256) return this.fail(`download of ${r.length} bytes has sha256 ${digest}, expected ${expectedBytes} bytes with ${sha256}`);
      this.stage = "downloaded";
      if (this.goSeen) this.second();
      this.onChange();
      return;
    }
    const body = Buffer.concat(r.small).toString("latin1");
    const want = `${this.server} `.padEnd(1023, "x") + "\n";
    const server = r.headers.get("x-server") ?? "?";
    if (server !== this.server || body !== want) return this.fail(`second response from "${server}" (first "${this.server}") with an unexpected body`);
    this.stage = "done";
    this.socket.end();
    this.onChange();
  }
}

let readyPrinted = false;
const held: Held[] = [];
const check = () => {
  if (!readyPrinted && held.length === count && held.every((h) => h.headersSeen)) {
    readyPrinted = true;
    process.stdout.write(`ready ${held.filter((h) => h.server !== "" && h.stage !== "failed").length}\n`);
  }
  if (held.length === count && held.every((h) => h.final)) finish();
};

let deadline = setTimeout(() => finish(), limitMs);
let finished = false;
function finish(): void {
  if (finished) return;
  finished = true;
  clearTimeout(deadline);
  for (const h of held) if (!h.final) h.fail("not finished in time");
  const results = held.map((h) => ({ ok: h.stage === "done", server: h.server, stage: h.stage, error: h.error }));
  process.stdout.write(`${JSON.stringify({ results })}\n`);
  process.exit(0);
}

process.on("SIGUSR1", () => {
  clearTimeout(deadline);
  deadline = setTimeout(() => finish(), limitMs);
  for (const h of held) h.go();
});
process.on("SIGTERM", () => finish());

for (let i = 0; i < count; i++) held.push(new Held(check));
check();
