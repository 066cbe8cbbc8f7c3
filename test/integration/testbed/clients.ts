/**
 * Typed wrappers around the real clients (curl, wrk, dig, iperf3, ping) run inside a test bed
 * namespace, by default the first client "c1". Each returns parsed figures plus what a failing
 * assertion needs to explain itself; none of them throws on a network failure (the result says
 * so), only on a tool that cannot run or prints nothing parseable.
 */
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { BedProcess, Testbed } from "./topology.ts";

/** Options of curl(). */
export interface CurlOptions {
  /** Node to run in (default the first client). */
  from?: string;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** Where to keep the body; without it the body goes to a temporary file removed after hashing. */
  outputFile?: string;
  /** curl --limit-rate, bytes per second or with a suffix ("1M"). */
  rateLimit?: number | string;
  /** Whole-transfer limit (curl --max-time), default 60,000 ms. */
  timeoutMs?: number;
  /** Connect limit (curl --connect-timeout), default 5,000 ms. */
  connectTimeoutMs?: number;
}

/** What one curl transfer did. */
export interface CurlResult {
  /** curl's exit code was 0 (the HTTP status may still be an error). */
  ok: boolean;
  exitCode: number;
  /** curl's error message when not ok. */
  error: string;
  /** HTTP status, 0 when no response arrived. */
  status: number;
  /** Response headers, names lower-cased (last value when repeated). */
  headers: Record<string, string>;
  /** The X-Server header: which real server answered. */
  server: string | undefined;
  bytes: number;
  /** sha256 of the body (hex, by sha256sum). */
  sha256: string;
  /** The body as text when it is at most 64 KB, else "". */
  body: string;
  timeMs: number;
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
}

/** Fetches `url` with curl inside the bed, streaming the body to a file and hashing it with sha256sum. */
export async function curl(bed: Testbed, url: string, options: CurlOptions = {}): Promise<CurlResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const file = options.outputFile ?? join(bed.runDir, `curl-${process.pid}-${++sequence}.body`);
  const argv = ["curl", "-sS", "--noproxy", "*", "-o", file, "-w", "%{json}\\n%{header_json}", "--max-time", String(timeoutMs / 1000),
    "--connect-timeout", String((options.connectTimeoutMs ?? 5000) / 1000)];
  for (const [name, value] of Object.entries(options.headers ?? {})) argv.push("-H", `${name}: ${value}`);
  if (options.rateLimit !== undefined) argv.push("--limit-rate", String(options.rateLimit));
  argv.push(url);
  try {
    const r = await bed.exec(options.from ?? firstClient(bed), argv, { timeoutMs: timeoutMs + 5000 });
    const newline = r.stdout.indexOf("\n");
    if (newline < 0) throw new Error(`curl "${url}" printed no write-out (exit ${r.code}): ${r.stderr.trim()}`);
    const info = JSON.parse(r.stdout.slice(0, newline)) as Record<string, string | number | null>;
    const rawHeaders = JSON.parse(r.stdout.slice(newline + 1)) as Record<string, string[]>;
    const headers = Object.fromEntries(Object.entries(rawHeaders).map(([k, v]) => [k.toLowerCase(), v.at(-1) ?? ""]));
    const hasBody = existsSync(file);
    const bytes = hasBody ? statSync(file).size : 0;
    return {
      ok: r.code === 0, exitCode: r.code, error: r.code === 0 ? "" : String(info.errormsg ?? r.stderr.trim()), status: Number(info.http_code),
      headers, server: headers["x-server"], bytes, sha256: hasBody ? await sha256sum(file) : "",
      body: hasBody && bytes <= 65536 ? readFileSync(file, "utf8") : "", timeMs: Number(info.time_total) * 1000,
      remoteIp: String(info.remote_ip), remotePort: Number(info.remote_port), localIp: String(info.local_ip), localPort: Number(info.local_port),
    };
  } finally {
    if (options.outputFile === undefined) rmSync(file, { force: true });
  }
}

/** Options of wrk(). */
export interface WrkOptions {
  from?: string;
  /** Open connections (default 8). */
  connections?: number;
  /** Threads, at most `connections` (default min(2, connections)). */
  threads?: number;
  /** Test length (default 2 s). */
  durationS?: number;
  /** Extra request headers, e.g. { Connection: "close" } for short connections. */
  headers?: Record<string, string>;
  /** Per-request timeout (wrk --timeout, default 2 s). */
  requestTimeoutS?: number;
}

/** What one wrk run measured. */
export interface WrkResult {
  requests: number;
  durationS: number;
  requestsPerS: number;
  bytes: number;
  /** Latency percentiles and mean in microseconds (wrk --latency distribution). */
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Socket errors as wrk counts them, plus responses with status ≥ 400 (wrk's "Non-2xx or 3xx"). */
  errors: { connect: number; read: number; write: number; timeout: number; non2xx3xx: number };
  /** connect + read + write + timeout. */
  socketErrors: number;
  /** wrk's own text report. */
  report: string;
}

const WRK_DONE_LUA = `done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

/** Runs wrk against `url` inside the bed and parses its figures (exact, from a Lua done() hook). */
export async function wrk(bed: Testbed, url: string, options: WrkOptions = {}): Promise<WrkResult> {
  const connections = options.connections ?? 8;
  const threads = Math.min(options.threads ?? 2, connections);
  const durationS = options.durationS ?? 2;
  const script = join(bed.runDir, "wrk-done.lua");
  if (!existsSync(script)) writeFileSync(script, WRK_DONE_LUA);
  const argv = ["wrk", "--latency", "-s", script, "-t", String(threads), "-c", String(connections), "-d", `${durationS}s`, "--timeout", `${options.requestTimeoutS ?? 2}s`];
  for (const [name, value] of Object.entries(options.headers ?? {})) argv.push("-H", `${name}: ${value}`);
  argv.push(url);
  const r = await bed.exec(options.from ?? firstClient(bed), argv, { timeoutMs: durationS * 1000 + 20_000 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("WRKJSON "));
  if (!line) throw new Error(`wrk "${url}" gave no summary (exit ${r.code}${r.timedOut ? ", timed out" : ""}): ${(r.stderr + r.stdout).trim()}`);
  const j = JSON.parse(line.slice(8)) as Record<string, number>;
  const n = (k: string) => j[k] ?? 0;
  const errors = { connect: n("connect"), read: n("read"), write: n("write"), timeout: n("timeout"), non2xx3xx: n("status") };
  return {
    requests: n("requests"), durationS: n("durationUs") / 1e6, requestsPerS: n("requests") / (n("durationUs") / 1e6), bytes: n("bytes"),
    latencyUs: { p50: n("p50"), p90: n("p90"), p99: n("p99"), max: n("max"), mean: n("mean") },
    errors, socketErrors: errors.connect + errors.read + errors.write + errors.timeout,
    report: r.stdout.split("\n").filter((l) => !l.startsWith("WRKJSON ")).join("\n"),
  };
}

/** Options of dig(). */
export interface DigOptions {
  from?: string;
  /** Queries to send, one after another from one dig process (default 1). */
  count?: number;
  /** Seconds to wait per try (dig +time, default 1). */
  timeS?: number;
  /** Tries per query (dig +tries, default 1). */
  tries?: number;
  /** Limit for the whole batch (default 10 s + 50 ms per query, at most 120 s). */
  timeoutMs?: number;
}

/** One resource record of an answer section. */
export interface DnsRecord {
  name: string;
  ttl: number;
  type: string;
  /** RDATA as dig prints it; TXT without its quotes. */
  data: string;
}

/** One response dig received. */
export interface DigResponse {
  /** RCODE name: NOERROR, NXDOMAIN, REFUSED... */
  status: string;
  records: DnsRecord[];
}

/** What a batch of identical queries got. */
export interface DigResult {
  sent: number;
  /** Responses received, in order (queries that timed out have none). */
  responses: DigResponse[];
  /** Queries without a response. */
  failed: number;
  /** First record's data of each response that has one, in order. */
  answers: string[];
  /** How many responses had each first-record data, e.g. { "10.250.0.1": 334, ... }. */
  counts: Record<string, number>;
  /** dig was killed by `timeoutMs`. */
  timedOut: boolean;
}

/** Sends `count` queries for `name`/`type` to `server` from one dig process (dig -f batch file). */
export async function dig(bed: Testbed, server: string, name: string, type = "A", options: DigOptions = {}): Promise<DigResult> {
  const count = options.count ?? 1;
  const batch = join(bed.runDir, `dig-${process.pid}-${++sequence}.batch`);
  writeFileSync(batch, `@${server} ${name} ${type}\n`.repeat(count));
  try {
    const argv = ["dig", "+noall", "+answer", "+comments", `+time=${options.timeS ?? 1}`, `+tries=${options.tries ?? 1}`, "-f", batch];
    const r = await bed.exec(options.from ?? firstClient(bed), argv, { timeoutMs: options.timeoutMs ?? Math.min(120_000, 10_000 + count * 50) });
    const responses = parseDig(r.stdout);
    const answers = responses.flatMap((x) => (x.records[0] ? [x.records[0].data] : []));
    const counts: Record<string, number> = {};
    for (const a of answers) counts[a] = (counts[a] ?? 0) + 1;
    return { sent: count, responses, failed: count - responses.length, answers, counts, timedOut: r.timedOut };
  } finally {
    rmSync(batch, { force: true });
  }
}

function parseDig(out: string): DigResponse[] {
  const responses: DigResponse[] = [];
  let current: DigResponse | undefined;
  for (const line of out.split("\n")) {
    const header = /->>HEADER<<- .*status: ([A-Z]+)/.exec(line);
    if (header) {
      current = { status: header[1] ?? "", records: [] };
      responses.push(current);
    } else if (current && line !== "" && !line.startsWith(";")) {
      const [rrName = "", ttl = "0", , rrType = "", ...rest] = line.split(/\s+/);
      const data = rest.join(" ");
      current.records.push({ name: rrName, ttl: Number(ttl), type: rrType, data: rrType === "TXT" ? data.replace(/^"|"$/g, "") : data });
    }
  }
  return responses;
}

/** Starts `iperf3 -s` in a node (e.g. a server) and resolves once it listens; destroy() stops it. */
export async function iperf3Server(bed: Testbed, node: string, options: { port?: number; bind?: string; readyTimeoutMs?: number } = {}): Promise<BedProcess> {
  const port = options.port ?? 5201;
  const argv = ["iperf3", "-s", "-p", String(port), ...(options.bind ? ["-B", options.bind] : [])];
  const proc = bed.spawn(node, argv, "iperf3");
  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  while (Date.now() < deadline) {
    if (!proc.running) throw new Error(`iperf3 server in "${node}" exited with code ${await proc.exited}: ${proc.stderr().trim()}`);
    const r = await bed.exec(node, ["ss", "-Hltn", `sport = :${port}`], { timeoutMs: 3000 });
    if (r.stdout.trim() !== "") return proc;
    await Promise.race([proc.exited, Bun.sleep(20)]);
  }
  await proc.stop();
  throw new Error(`iperf3 server in "${node}" is not listening on port "${port}" after ${options.readyTimeoutMs ?? 10_000} ms: ${proc.stderr().trim()}`);
}

/** Options of iperf3(). */
export interface Iperf3Options {
  from?: string;
  port?: number;
  /** Test length (default 3 s). */
  durationS?: number;
  /** Server sends, client receives (-R). */
  reverse?: boolean;
  /** Parallel streams (-P). */
  parallel?: number;
  /** UDP at `bitrate` ("100M", or "0" for unlimited) with `lengthBytes` payloads (default 64). */
  udp?: { bitrate: string; lengthBytes?: number };
}

/** What one iperf3 client run measured. */
export interface Iperf3Result {
  /** Throughput seen by the receiver, Gbit/s. */
  gbps: number;
  /** Throughput sent, Gbit/s. */
  senderGbps: number;
  /** TCP retransmissions (0 for UDP). */
  retransmits: number;
  /** UDP figures as the receiver reported them. */
  udp?: { packets: number; lostPackets: number; lostPercent: number; jitterMs: number; packetsPerS: number };
  /** The parsed -J output. */
  json: unknown;
}

/** Runs an iperf3 client (-J) against `host` and parses Gbit/s; throws on an iperf3 error. */
export async function iperf3(bed: Testbed, host: string, options: Iperf3Options = {}): Promise<Iperf3Result> {
  const durationS = options.durationS ?? 3;
  const argv = ["iperf3", "-J", "-c", host, "-p", String(options.port ?? 5201), "-t", String(durationS)];
  if (options.reverse) argv.push("-R");
  if (options.parallel) argv.push("-P", String(options.parallel));
  if (options.udp) argv.push("-u", "-b", options.udp.bitrate, "-l", String(options.udp.lengthBytes ?? 64));
  const r = await bed.exec(options.from ?? firstClient(bed), argv, { timeoutMs: durationS * 1000 + 20_000 });
  let json: Iperf3Json;
  try {
    json = JSON.parse(r.stdout) as Iperf3Json;
  } catch {
    throw new Error(`iperf3 to "${host}" printed no JSON (exit ${r.code}): ${(r.stderr + r.stdout).trim()}`);
  }
  if (json.error) throw new Error(`iperf3 to "${host}" failed: ${json.error}`);
  const end = json.end ?? {};
  if (options.udp) {
    const sum = end.sum ?? {};
    const seconds = sum.seconds || durationS;
    return {
      gbps: (sum.bits_per_second ?? 0) / 1e9, senderGbps: (sum.bits_per_second ?? 0) / 1e9, retransmits: 0, json,
      udp: { packets: sum.packets ?? 0, lostPackets: sum.lost_packets ?? 0, lostPercent: sum.lost_percent ?? 0, jitterMs: sum.jitter_ms ?? 0, packetsPerS: ((sum.packets ?? 0) - (sum.lost_packets ?? 0)) / seconds },
    };
  }
  return { gbps: (end.sum_received?.bits_per_second ?? 0) / 1e9, senderGbps: (end.sum_sent?.bits_per_second ?? 0) / 1e9, retransmits: end.sum_sent?.retransmits ?? 0, json };
}

interface Iperf3Sum {
  bits_per_second?: number;
  retransmits?: number;
  seconds?: number;
  packets?: number;
  lost_packets?: number;
  lost_percent?: number;
  jitter_ms?: number;
}

interface Iperf3Json {
  error?: string;
  end?: { sum?: Iperf3Sum; sum_sent?: Iperf3Sum; sum_received?: Iperf3Sum };
}

/** What one ping run got. */
export interface PingResult {
  transmitted: number;
  received: number;
  lossPercent: number;
  /** Round-trip times in ms (0 when nothing came back). */
  rttMs: { min: number; avg: number; max: number };
}

/** Pings `addr` `count` times (every `intervalS`, default 0.05 s) from a node; never throws on loss. */
export async function ping(bed: Testbed, addr: string, count: number, options: { from?: string; intervalS?: number } = {}): Promise<PingResult> {
  const intervalS = options.intervalS ?? 0.05;
  const argv = ["ping", "-n", "-q", "-c", String(count), "-i", String(intervalS), "-W", "1", addr];
  const r = await bed.exec(options.from ?? firstClient(bed), argv, { timeoutMs: count * intervalS * 1000 + 10_000 });
  const counts = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
  if (!counts) throw new Error(`ping "${addr}" gave no summary (exit ${r.code}): ${(r.stderr + r.stdout).trim()}`);
  const rtt = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(r.stdout);
  const transmitted = Number(counts[1]);
  const received = Number(counts[2]);
  return {
    transmitted, received, lossPercent: transmitted ? (100 * (transmitted - received)) / transmitted : 100,
    rttMs: { min: Number(rtt?.[1] ?? 0), avg: Number(rtt?.[2] ?? 0), max: Number(rtt?.[3] ?? 0) },
  };
}

let sequence = 0;

function firstClient(bed: Testbed): string {
  const c = bed.addresses.clients[0];
  if (!c) throw new Error(`Test bed "${bed.runId}" has no client`);
  return c.name;
}

async function sha256sum(file: string): Promise<string> {
  const proc = Bun.spawn(["sha256sum", file], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`sha256sum "${file}" failed with exit code ${code}: ${err.trim()}`);
  return out.split(" ")[0] ?? "";
}
