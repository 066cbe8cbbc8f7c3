/**
 * Idle-then-active keep-alive connections, run with Bun inside a client namespace: opens COUNT
 * HTTP/1.1 connections to HOST:PORT, sends `GET /1k` on each and checks the body against the
 * server's known content (the bed writes "<server> xxx…" of 1024 bytes), then leaves them idle.
 * On SIGUSR1 it sends a second `GET /1k` on every SAME socket and checks it again, from the same
 * server (the X-Server header). Prints `ready N` once every connection has its first answer
 * (N of them correct), then one JSON line `{"results":[{"ok":…,"server":…,"error":…},…]}` and
 * exits. Bounded: LIMIT_MS after start (first round) or after SIGUSR1 (second round).
 *
 * Usage: bun test/integration/testbed/keepalive-holder.ts HOST PORT COUNT LIMIT_MS
 */
import { connect, type Socket } from "node:net";

const [host = "", portText = "80", countText = "20", limitText = "20000"] = process.argv.slice(2);
const port = Number(portText);
const count = Number(countText);
const limitMs = Number(limitText);

/** The bed's /1k body of server `name`: see `writeServerFiles` in topology.ts. */
function expectedBody(name: string): string {
  return `${name} `.padEnd(1023, "x") + "\n";
}

class Held {
  round = 0;
  ok = [false, false];
  server = "";
  error = "";
  private buffer = Buffer.alloc(0);
  private readonly socket: Socket;

  constructor(private readonly onAnswer: () => void) {
    this.socket = connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on("connect", () => this.request());
    this.socket.on("data", (chunk: Buffer) => this.feed(chunk));
    this.socket.on("error", (error: NodeJS.ErrnoException) => this.fail(`round ${this.round + 1}: socket error ${error.code ?? error.message}`));
    this.socket.on("close", () => this.fail(`round ${this.round + 1}: connection closed`));
  }

  second(): void {
    if (this.error !== "") return;
    this.round = 1;
    this.request();
  }

  close(): void {
    this.socket.removeAllListeners("close");
    this.socket.destroy();
  }

  private request(): void {
    this.socket.write(`GET /1k HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
  }

  private feed(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0) return;
    const head = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
    const length = Number(/^content-length:\s*(\d+)/im.exec(head.join("\n"))?.[1] ?? NaN);
    if (!(this.buffer.length >= end + 4 + length)) return;
    const body = this.buffer.subarray(end + 4, end + 4 + length).toString("latin1");
    this.buffer = this.buffer.subarray(end + 4 + length);
    const server = /^x-server:\s*(\S+)/im.exec(head.join("\n"))?.[1] ?? "";
    const status = /^HTTP\/1\.1 (\d+)/.exec(head[0] ?? "")?.[1];
    if (this.round === 0) this.server = server;
    if (status !== "200") this.fail(`round ${this.round + 1}: status ${status}`);
    else if (server !== this.server) this.fail(`round ${this.round + 1}: answered by "${server}", first by "${this.server}"`);
    else if (body !== expectedBody(server)) this.fail(`round ${this.round + 1}: body differs from ${server}'s /1k`);
    else this.ok[this.round] = true;
    this.onAnswer();
  }

  private fail(error: string): void {
    if (this.error === "" && !this.ok[1]) this.error = error;
    this.onAnswer();
  }
}

const held: Held[] = [];
let readyPrinted = false;
let finished = false;
let secondRound = false;
const answered = (round: number) => held.filter((h) => h.ok[round] || h.error !== "").length;
const finish = () => {
  if (finished) return;
  finished = true;
  for (const h of held) h.close();
  const error = (h: Held) => h.error || (h.ok[h.round] ? "" : `round ${h.round + 1}: no answer within ${limitMs} ms`);
  console.log(JSON.stringify({ results: held.map((h) => ({ ok: h.ok[0] && h.ok[1], server: h.server, error: error(h) })) }));
  process.exit(0);
};
const onAnswer = () => {
  if (!readyPrinted && answered(0) === count) {
    readyPrinted = true;
    console.log(`ready ${held.filter((h) => h.ok[0]).length}`);
  }
  if (secondRound && held.every((h) => h.ok[1] || h.error !== "")) finish();
};
let limit = setTimeout(finish, limitMs);
process.on("SIGUSR1", () => {
  clearTimeout(limit);
  limit = setTimeout(finish, limitMs);
  secondRound = true;
  for (const h of held) h.second();
  onAnswer();
});
for (let i = 0; i < count; i++) held.push(new Held(onAnswer));
