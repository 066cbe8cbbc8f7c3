/**
 * The figures `bench/dataplane.ts` takes on one path, with the bed's real clients (wrk, iperf3):
 * short-connection and keep-alive req/s, one TCP stream, 64-byte UDP packets/s at < 1 % loss
 * (a bounded search over the offered rate) and the latency of one keep-alive connection.
 */
import { iperf3, wrk, type Iperf3Result, type WrkResult } from "../test/integration/testbed/clients.ts";
import type { Testbed } from "../test/integration/testbed/topology.ts";
import type { PathTarget } from "./dataplane-paths.ts";

/** How long each figure runs. */
export interface Durations {
  /** wrk runs for short and keep-alive req/s. */
  readonly wrkS: number;
  /** The single iperf3 TCP stream. */
  readonly bulkS: number;
  /** The one-connection latency run. */
  readonly latencyS: number;
  /** Each UDP trial. */
  readonly udpTrialS: number;
  /** Trials of the UDP search, the unlimited first one included. */
  readonly udpMaxTrials: number;
}

/** The durations of a full run: 8 s loads, 5 s latency, at most 6 UDP trials of 3 s. */
export const FULL_DURATIONS: Durations = { wrkS: 8, bulkS: 8, latencyS: 5, udpTrialS: 3, udpMaxTrials: 6 };

/** Loss below which a UDP rate counts as carried, in percent. */
export const UDP_MAX_LOSS_PERCENT = 1;

/** One wrk run, reduced to what the report needs. */
export interface HttpFigure {
  readonly requestsPerS: number;
  readonly p50Us: number;
  readonly p99Us: number;
  /** Socket errors plus non-2xx/3xx responses. */
  readonly errors: number;
}

/** One UDP trial: offered rate (0 = unlimited) and what the receiver saw. */
export interface UdpTrial {
  readonly offeredPps: number;
  readonly receivedPps: number;
  readonly lossPercent: number;
}

/** The UDP search's outcome: the best received rate among trials under the loss limit. */
export interface UdpFigure {
  readonly pps: number;
  readonly trials: readonly UdpTrial[];
  /** The unlimited first trial was carried: the iperf3 sender, not the path, set the rate. */
  readonly senderLimited: boolean;
}

/** Everything measured on a path in one round; a figure that failed is null and its error is in `errors`. */
export interface PathFigures {
  short: HttpFigure | null;
  keepalive: HttpFigure | null;
  bulkGbps: number | null;
  udp: UdpFigure | null;
  latency: HttpFigure | null;
  /** tandem only: bytes per packet read from the TUN during the bulk run (> 1500 means TSO super-packets). */
  bulkBytesPerPacket: number | null;
  errors: string[];
}

const UDP_PAYLOAD_BYTES = 64;

/** Measures every figure on `target` from `client`, in a fixed order; never throws (errors are recorded). */
export async function measurePath(bed: Testbed, client: string, target: PathTarget, durations: Durations, checkDeadline: () => void): Promise<PathFigures> {
  const f: PathFigures = { short: null, keepalive: null, bulkGbps: null, udp: null, latency: null, bulkBytesPerPacket: null, errors: [] };
  const url = `http://${target.host}:${target.httpPort}/1k`;
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | null> => {
    checkDeadline();
    try {
      return await fn();
    } catch (error) {
      f.errors.push(`${what}: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
      return null;
    }
  };
  f.short = await attempt("short", async () => httpFigure(await wrk(bed, url, { from: client, connections: 64, threads: 2, durationS: durations.wrkS, headers: { Connection: "close" } })));
  f.keepalive = await attempt("keepalive", async () => httpFigure(await wrk(bed, url, { from: client, connections: 64, threads: 2, durationS: durations.wrkS })));
  const before = target.tandem ? await attempt("status", () => tunCounters(target)) : null;
  f.bulkGbps = await attempt("bulk", async () => (await iperf3(bed, target.host, { from: client, port: target.iperfPort, durationS: durations.bulkS })).gbps);
  const after = before ? await attempt("status", () => tunCounters(target)) : null;
  if (before && after && after.packets > before.packets) f.bulkBytesPerPacket = (after.bytes - before.bytes) / (after.packets - before.packets);
  if (target.udp) f.udp = await attempt("udp", () => udpCapacity(bed, client, target, durations, checkDeadline));
  f.latency = await attempt("latency", async () => httpFigure(await wrk(bed, url, { from: client, connections: 1, threads: 1, durationS: durations.latencyS })));
  return f;
}

function httpFigure(r: WrkResult): HttpFigure {
  return { requestsPerS: r.requestsPerS, p50Us: r.latencyUs.p50, p99Us: r.latencyUs.p99, errors: r.socketErrors + r.errors.non2xx3xx };
}

/**
 * Highest 64-byte UDP rate carried with < 1 % loss, in at most `udpMaxTrials` trials: first
 * unlimited (its received rate estimates the capacity, its sent rate bounds the search), then
 * 95 % of that estimate, then bisection between the best carried and the lowest lost rate.
 */
async function udpCapacity(bed: Testbed, client: string, target: PathTarget, durations: Durations, checkDeadline: () => void): Promise<UdpFigure> {
  const trials: UdpTrial[] = [];
  const trial = async (offeredPps: number): Promise<UdpTrial> => {
    checkDeadline();
    const bitrate = offeredPps === 0 ? "0" : String(Math.round(offeredPps * UDP_PAYLOAD_BYTES * 8));
    const r = await iperf3(bed, target.host, { from: client, port: target.iperfPort, durationS: durations.udpTrialS, udp: { bitrate, lengthBytes: UDP_PAYLOAD_BYTES } });
    const t = udpTrial(offeredPps, r);
    trials.push(t);
    return t;
  };
  const carried = (t: UdpTrial) => t.lossPercent < UDP_MAX_LOSS_PERCENT && t.receivedPps > 0;
  const first = await trial(0);
  if (carried(first)) return { pps: first.receivedPps, trials, senderLimited: true };
  let lo = 0;
  let hi = sentPps(first);
  let next = first.receivedPps * 0.95;
  for (let i = 1; i < durations.udpMaxTrials && next > 0; i++) {
    const t = await trial(next);
    if (carried(t)) lo = next;
    else hi = next;
    next = lo > 0 ? (lo + hi) / 2 : hi * 0.7;
  }
  const best = trials.filter(carried).reduce((m, t) => Math.max(m, t.receivedPps), 0);
  return { pps: best, trials, senderLimited: false };
}

function udpTrial(offeredPps: number, r: Iperf3Result): UdpTrial {
  const u = r.udp;
  if (!u) throw new Error("iperf3 gave no UDP summary");
  return { offeredPps, receivedPps: u.packetsPerS, lossPercent: u.lostPercent };
}

/** What the sender managed in a trial (received plus lost, per second): the search's upper bound. */
function sentPps(t: UdpTrial): number {
  return t.receivedPps / (1 - Math.min(t.lossPercent, 99.9) / 100);
}

/** Packets and bytes tandem counted so far on the path's iperf TCP service, both directions. */
async function tunCounters(target: PathTarget): Promise<{ packets: number; bytes: number }> {
  const status = await target.tandem!.node.status();
  const svc = status.dispatcher.services.find((s) => s.name === target.tandem!.iperfService);
  if (!svc) throw new Error(`No counters for service "${target.tandem!.iperfService}" in tandem's status`);
  return { packets: svc.packetsIn + svc.packetsOut, bytes: svc.bytesIn + svc.bytesOut };
}
