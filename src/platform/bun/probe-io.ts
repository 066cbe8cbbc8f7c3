/**
 * The health probes' I/O under Bun: fetch for http(s), node:net for tcp, a connected
 * Bun.udpSocket for dns, the system's ping, Bun.spawn for exec. Every call opens its own
 * connection, socket or process and closes or kills it before it resolves, by its timeout.
 */

import { connect as netConnect } from "node:net";
import { constants } from "node:os";
import type {
  ProbeHttpOutcome,
  ProbeHttpRequest,
  ProbeIo,
  ProbeIoFailure,
  ProbeRunOutcome,
  ProbeRunRequest,
  ProbeTcpOutcome,
  ProbeTcpRequest,
  ProbeUdpOutcome,
  ProbeUdpRequest,
} from "../../core/health/probe-types.ts";
import { parseIpv4 } from "../../core/packet/ipv4-address.ts";
import { pingOnce } from "./ha-net.ts";
import { systemClock } from "./system-clock.ts";
import { killGroup } from "./kill-group.ts";

/** PATH for check programs when tandem itself has none (as under a bare init). */
const FALLBACK_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** The Bun ProbeIo. Its fetch session never keeps a connection (keep-alive off) and never uses a proxy. */
export function createBunProbeIo(): ProbeIo {
  // keepAlive false: every probe opens a fresh connection and closes it after the response, like mon.
  const session = new Bun.FetchSession({ keepAlive: false });
  return {
    clock: systemClock(),
    httpRequest: (request) => httpRequest(session, request),
    tcpExchange,
    udpExchange,
    ping: pingOnce,
    run,
  };
}

/** The error code of a runtime error ("ECONNREFUSED", "DEPTH_ZERO_SELF_SIGNED_CERT"), if any. */
function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && code !== "" ? code : undefined;
}

/** Maps a connect, TLS or transfer error to a failure; `step` names what was being done ("request"); refusals are always "connect". */
function failure(error: unknown, step: string): ProbeIoFailure {
  const code = errorCode(error);
  const name = (error as { name?: string } | undefined)?.name;
  if (name === "TimeoutError" || code === "ETIMEDOUT") return { kind: "timeout", detail: `${step} timed out` };
  if (code === "ECONNREFUSED" || code === "ConnectionRefused") return { kind: "refused", detail: "connect ECONNREFUSED" };
  if (code === "EHOSTUNREACH" || code === "ENETUNREACH" || code === "EHOSTDOWN" || code === "ENETDOWN") return { kind: "unreachable", detail: `connect ${code}` };
  if (code !== undefined && /CERT|TLS|SSL|EPROTO|SIGNATURE|ISSUER|ALTNAME/.test(code)) return { kind: "tls", detail: `TLS ${code}` };
  const message = (error as { message?: string } | undefined)?.message ?? String(error);
  return { kind: "failed", detail: code === undefined ? `${step} failed: ${message}` : `${step} ${code}: ${message}` };
}

/** The name a certificate is checked against (and sent as SNI): the Host header's name, unless it is an address. */
function tlsServerName(host: string): string | undefined {
  if (host.startsWith("[")) return undefined;
  const name = host.replace(/:\d+$/, "");
  return name === "" || parseIpv4(name) !== undefined ? undefined : name;
}

async function httpRequest(session: Bun.FetchSession, r: ProbeHttpRequest): Promise<ProbeHttpOutcome> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${r.timeoutMs} ms`, "TimeoutError")), r.timeoutMs);
  const serverName = r.tls ? tlsServerName(r.host) : undefined;
  try {
    const response = await fetch(`${r.tls ? "https" : "http"}://${r.address}:${r.port}${r.path}`, {
      session,
      method: r.method,
      // Never a proxy, whatever HTTP_PROXY and friends say: the probe is about the server itself.
      proxy: false,
      redirect: "manual",
      headers: { Host: r.host, "User-Agent": "tandem-monitor", Accept: "*/*", Connection: "close" },
      signal: controller.signal,
      tls: r.tls ? { rejectUnauthorized: r.verifyTls, ...(serverName === undefined ? {} : { serverName }) } : undefined,
    });
    const body = await readPrefix(response, r.maxBodyBytes);
    return { kind: "response", status: response.status, body };
  } catch (error) {
    if (controller.signal.aborted) return { kind: "timeout", detail: `no answer within ${r.timeoutMs} ms` };
    return failure(error, "request");
  } finally {
    clearTimeout(timer);
  }
}

/** The first `maxBytes` of the body as UTF-8 text; the rest is not read (the connection is closed). */
async function readPrefix(response: Response, maxBytes: number): Promise<string> {
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    while (total < maxBytes) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      total += value.length;
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  const all = new Uint8Array(Math.min(total, maxBytes));
  let at = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, all.length - at);
    all.set(part, at);
    at += part.length;
  }
  return new TextDecoder().decode(all);
}

function tcpExchange(r: ProbeTcpRequest): Promise<ProbeTcpOutcome> {
  return new Promise((resolve) => {
    let connected = false;
    let done = false;
    let received = new Uint8Array(0);
    // node:net rather than Bun.connect: its socket exists before the connection does, so a
    // connect still pending at the timeout is closed too, not left to the kernel's SYN retries.
    const socket = netConnect({ host: r.address, port: r.port, noDelay: true });
    const finish = (outcome: ProbeTcpOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => {
      finish(connected ? { kind: "connected", received, ended: "timeout" } : { kind: "timeout", detail: `connect timed out after ${r.timeoutMs} ms` });
    }, r.timeoutMs);
    const sent = () => {
      if (r.readUntil === undefined) finish({ kind: "connected", received, ended: "none" });
    };
    socket.on("connect", () => {
      connected = true;
      if (r.send === undefined || r.send.length === 0) return sent();
      socket.write(r.send, (error) => (error ? finish(failure(error, "send")) : sent()));
    });
    socket.on("data", (chunk: Buffer) => {
      if (done || r.readUntil === undefined) return;
      const room = r.maxBytes - received.length;
      const next = new Uint8Array(received.length + Math.min(room, chunk.length));
      next.set(received);
      next.set(chunk.subarray(0, room), received.length);
      received = next;
      if (r.readUntil(received)) finish({ kind: "connected", received, ended: "done" });
      else if (received.length >= r.maxBytes) finish({ kind: "connected", received, ended: "full" });
    });
    // After connecting, a reset or the peer's close both end the reading with what came.
    socket.on("error", (error) => finish(connected ? { kind: "connected", received, ended: "closed" } : failure(error, "connect")));
    socket.on("end", () => finish({ kind: "connected", received, ended: "closed" }));
    socket.on("close", () => finish(connected ? { kind: "connected", received, ended: "closed" } : { kind: "failed", detail: "connect failed: closed before connecting" }));
  });
}

async function udpExchange(r: ProbeUdpRequest): Promise<ProbeUdpOutcome> {
  let settle: (outcome: ProbeUdpOutcome) => void = () => undefined;
  const answer = new Promise<ProbeUdpOutcome>((resolve) => (settle = resolve));
  let socket: Bun.udp.ConnectedSocket<"uint8array"> | undefined;
  const timer = setTimeout(() => settle({ kind: "timeout", detail: `no reply within ${r.timeoutMs} ms` }), r.timeoutMs);
  try {
    // Connected (RFC 5452 §9.1 spirit): the kernel drops datagrams from any other address and
    // port, and an ICMP port unreachable comes back as ECONNREFUSED.
    socket = await Bun.udpSocket({
      binaryType: "uint8array",
      connect: { hostname: r.address, port: r.port },
      socket: {
        data: (_s, bytes) => settle({ kind: "reply", bytes: bytes.slice() }),
        // Bun reports an ICMP error on a connected socket (port or host unreachable) without
        // saying which: the error is undefined then.
        error: (_s, error) => settle(error === undefined ? { kind: "unreachable", detail: "ICMP destination unreachable" } : failure(error, "receive")),
      },
    });
    if (!socket.send(r.bytes)) settle({ kind: "failed", detail: "send refused by the kernel" });
    return await answer;
  } catch (error) {
    return failure(error, "send");
  } finally {
    clearTimeout(timer);
    socket?.close();
  }
}

/** The first `maxBytes` of a stream, read to its end so that a chatty program never blocks on a full pipe. */
interface Collector {
  /** Resolves at the end of the stream (or on a read error, which ends the collection). */
  readonly done: Promise<void>;
  /** What was kept so far, as UTF-8 text. */
  text(): string;
}

function collect(stream: ReadableStream<Uint8Array>, maxBytes: number): Collector {
  const chunks: Uint8Array[] = [];
  let kept = 0;
  const done = (async () => {
    for await (const chunk of stream) {
      if (kept >= maxBytes) continue;
      const part = chunk.subarray(0, maxBytes - kept);
      chunks.push(part);
      kept += part.length;
    }
  })().catch(() => undefined);
  return { done, text: () => new TextDecoder().decode(Buffer.concat(chunks)) };
}

async function run(r: ProbeRunRequest): Promise<ProbeRunOutcome> {
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn([...r.argv], {
      env: { ...r.env, PATH: process.env.PATH ?? FALLBACK_PATH },
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      // A process group of its own, so a timeout kills what the program started too.
      detached: true,
    });
  } catch (error) {
    return { kind: "failed", detail: `Cannot run "${r.argv[0]}": ${errorCode(error) ?? (error as Error).message}` };
  }
  const stdout = collect(proc.stdout, r.maxOutputBytes);
  const stderr = collect(proc.stderr, r.maxOutputBytes);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), r.timeoutMs)));
  const first = await Promise.race([Promise.all([proc.exited, stdout.done, stderr.done]).then(() => "finished" as const), deadline]);
  clearTimeout(timer);
  if (first === "timeout") {
    // Either the program still runs, or it exited leaving children that hold its output open.
    const exitedInTime = proc.exitCode !== null || proc.signalCode !== null;
    killGroup(proc.pid);
    await proc.exited;
    if (!exitedInTime) return { kind: "timeout", detail: `killed after ${r.timeoutMs} ms` };
  }
  const signal = proc.signalCode;
  const code = signal === null ? (proc.exitCode ?? -1) : 128 + (typeof signal === "number" ? signal : (constants.signals[signal] ?? 0));
  const out = stdout.text();
  const err = stderr.text();
  return { kind: "exited", code, output: err === "" ? out : `${out}\n${err}` };
}
