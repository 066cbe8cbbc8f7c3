/**
 * Turns the rounds `bench/dataplane.ts` measured into the report: best of the rounds per path and
 * figure, tandem's best mode per figure, ratios to nftables and HAProxy, the printed table and the
 * final JSON line.
 */
import type { PathFigures } from "./dataplane-measure.ts";
import { PATH_IDS, type PathId } from "./dataplane-paths.ts";

/** Best figures of one path over the rounds (null where no round measured it). */
export interface BestFigures {
  shortRps: number | null;
  keepaliveRps: number | null;
  bulkGbps: number | null;
  udpPps: number | null;
  p50Us: number | null;
  p99Us: number | null;
}

/** Everything the report needs besides the per-round figures. */
export interface ReportInput {
  readonly rounds: Record<PathId, PathFigures[]>;
  readonly rssMb1mConns: number | null;
  /** Resident memory of the tandem process (1M-entry table allocated) per tandem run, MB. */
  readonly tandemProcessRssMb: number[];
  readonly offload: boolean;
  /** tandem's "Dispatcher ready" lines. */
  readonly readyLines: string[];
  readonly complete: boolean;
  readonly notes: string[];
}

type Row = { label: string; key: keyof BestFigures; higherIsBetter: boolean; digits: number };

const ROWS: Row[] = [
  { label: "short conns (req/s)", key: "shortRps", higherIsBetter: true, digits: 0 },
  { label: "keep-alive (req/s)", key: "keepaliveRps", higherIsBetter: true, digits: 0 },
  { label: "1 TCP stream (Gbit/s)", key: "bulkGbps", higherIsBetter: true, digits: 2 },
  { label: "64 B UDP <1% loss (pkt/s)", key: "udpPps", higherIsBetter: true, digits: 0 },
  { label: "latency p50, 1 conn (us)", key: "p50Us", higherIsBetter: false, digits: 0 },
  { label: "latency p99, 1 conn (us)", key: "p99Us", higherIsBetter: false, digits: 0 },
];

const HEADERS: Record<PathId, string> = { direct: "direct", nft: "nft", haproxy: "haproxy", "tun-floor": "TUN floor (C)", "tandem-nat": "tandem nat", "tandem-fullnat": "tandem fullnat" };

/** Best value of each figure over the rounds: highest throughput, lowest latency. */
export function bestOf(rounds: readonly PathFigures[]): BestFigures {
  const pick = (values: (number | null | undefined)[], higher: boolean): number | null => {
    const ok = values.filter((v): v is number => typeof v === "number" && Number.isFinite(v) && v > 0);
    if (ok.length === 0) return null;
    return higher ? Math.max(...ok) : Math.min(...ok);
  };
  return {
    shortRps: pick(rounds.map((r) => r.short?.requestsPerS), true),
    keepaliveRps: pick(rounds.map((r) => r.keepalive?.requestsPerS), true),
    bulkGbps: pick(rounds.map((r) => r.bulkGbps), true),
    udpPps: pick(rounds.map((r) => r.udp?.pps), true),
    p50Us: pick(rounds.map((r) => r.latency?.p50Us), false),
    p99Us: pick(rounds.map((r) => r.latency?.p99Us), false),
  };
}

/** Prints the table to stdout and returns the final JSON line (not yet printed). */
export function renderReport(input: ReportInput): { table: string; json: string } {
  const best = Object.fromEntries(PATH_IDS.map((id) => [id, bestOf(input.rounds[id])])) as Record<PathId, BestFigures>;
  const tandem = tandemBest(best);
  const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? null : a / b);
  const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
  const fmt = (v: number | null, digits: number) => (v === null ? "n/a" : v.toFixed(digits));
  const header = ["figure (best of rounds)", ...PATH_IDS.map((id) => HEADERS[id]), "tandem/nft", "tandem/haproxy", "tandem/floor", "floor/nft"];
  const lines: string[][] = [header];
  const senderLimited = PATH_IDS.filter((id) => input.rounds[id].some((r) => r.udp?.senderLimited && r.udp.pps === best[id].udpPps));
  for (const row of ROWS) {
    const t = tandem[row.key];
    const mark = (id: PathId) => (row.key === "udpPps" && senderLimited.includes(id) ? "*" : "");
    const cells = PATH_IDS.map((id) => fmt(best[id][row.key], row.digits) + mark(id));
    const floor = best["tun-floor"][row.key];
    const ratios = row.higherIsBetter ? [fmt(ratio(t, best.nft[row.key]), 2), fmt(ratio(t, best.haproxy[row.key]), 2), fmt(ratio(t, floor), 2), fmt(ratio(floor, best.nft[row.key]), 2)] : ["", "", "", ""];
    lines.push([row.label, ...cells, ...ratios]);
  }
  for (const [label, key] of [["added p50 vs direct (us)", "p50Us"], ["added p99 vs direct (us)", "p99Us"]] as const) {
    lines.push([label, ...PATH_IDS.map((id) => fmt(minus(best[id][key], best.direct[key]), 0)), "", "", "", ""]);
  }
  const rss = input.rssMb1mConns === null ? "n/a" : input.rssMb1mConns.toFixed(1);
  lines.push(["RSS, 1M conn entries (MB)", ...PATH_IDS.map((id) => (id.startsWith("tandem") ? rss : "n/a")), "", "", "", ""]);
  const widths = header.map((_, i) => Math.max(...lines.map((l) => (l[i] ?? "").length)));
  const footnote = senderLimited.length ? `\n* sender-limited: iperf3's unlimited rate was carried with < 1 % loss, so the path's capacity is higher (${senderLimited.join(", ")})` : "";
  const table = lines.map((l) => l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd()).join("\n") + footnote;

  const r2 = (v: number | null) => (v === null ? null : Math.round(v * 100) / 100);
  const r0 = (v: number | null) => (v === null ? null : Math.round(v));
  const json = {
    bench: "dataplane",
    short_vs_nft: r2(ratio(tandem.shortRps, best.nft.shortRps)),
    keepalive_vs_nft: r2(ratio(tandem.keepaliveRps, best.nft.keepaliveRps)),
    bulk_vs_nft: r2(ratio(tandem.bulkGbps, best.nft.bulkGbps)),
    udp_vs_nft: r2(ratio(tandem.udpPps, best.nft.udpPps)),
    short_vs_haproxy: r2(ratio(tandem.shortRps, best.haproxy.shortRps)),
    keepalive_vs_haproxy: r2(ratio(tandem.keepaliveRps, best.haproxy.keepaliveRps)),
    bulk_vs_haproxy: r2(ratio(tandem.bulkGbps, best.haproxy.bulkGbps)),
    // The TUN floor: what a do-nothing C rewriter over the same TUN plumbing reaches, and tandem's share of it.
    tun_floor_vs_nft: { short: r2(ratio(best["tun-floor"].shortRps, best.nft.shortRps)), keepalive: r2(ratio(best["tun-floor"].keepaliveRps, best.nft.keepaliveRps)), bulk: r2(ratio(best["tun-floor"].bulkGbps, best.nft.bulkGbps)), udp: r2(ratio(best["tun-floor"].udpPps, best.nft.udpPps)) },
    short_vs_tun_floor: r2(ratio(tandem.shortRps, best["tun-floor"].shortRps)),
    keepalive_vs_tun_floor: r2(ratio(tandem.keepaliveRps, best["tun-floor"].keepaliveRps)),
    bulk_vs_tun_floor: r2(ratio(tandem.bulkGbps, best["tun-floor"].bulkGbps)),
    udp_vs_tun_floor: r2(ratio(tandem.udpPps, best["tun-floor"].udpPps)),
    added_p50_us: r0(minus(tandem.p50Us, best.direct.p50Us)),
    added_p99_us: r0(minus(tandem.p99Us, best.direct.p99Us)),
    rss_mb_1m_conns: input.rssMb1mConns,
    tandem_process_rss_mb: input.tandemProcessRssMb.length ? Math.max(...input.tandemProcessRssMb) : null,
    offload: input.offload,
    tandem_bulk_bytes_per_tun_packet: Object.fromEntries((["tandem-nat", "tandem-fullnat"] as const).map((id) => [id, r0(Math.max(0, ...input.rounds[id].map((f) => f.bulkBytesPerPacket ?? 0)))])),
    udp_sender_limited: senderLimited,
    rounds: Math.max(...PATH_IDS.map((id) => input.rounds[id].length)),
    complete: input.complete,
    best: Object.fromEntries(PATH_IDS.map((id) => [id, roundBest(best[id])])),
    raw: Object.fromEntries(PATH_IDS.map((id) => [id, input.rounds[id].map(rawRound)])),
    notes: input.notes,
  };
  return { table, json: JSON.stringify(json) };
}

/** tandem's best mode per figure. */
function tandemBest(best: Record<PathId, BestFigures>): BestFigures {
  const a = best["tandem-nat"];
  const b = best["tandem-fullnat"];
  const pick = (x: number | null, y: number | null, higher: boolean) => (x === null ? y : y === null ? x : higher ? Math.max(x, y) : Math.min(x, y));
  return {
    shortRps: pick(a.shortRps, b.shortRps, true),
    keepaliveRps: pick(a.keepaliveRps, b.keepaliveRps, true),
    bulkGbps: pick(a.bulkGbps, b.bulkGbps, true),
    udpPps: pick(a.udpPps, b.udpPps, true),
    p50Us: pick(a.p50Us, b.p50Us, false),
    p99Us: pick(a.p99Us, b.p99Us, false),
  };
}

function roundBest(b: BestFigures) {
  const r = (v: number | null, d: number) => (v === null ? null : Math.round(v * 10 ** d) / 10 ** d);
  return { short_rps: r(b.shortRps, 0), keepalive_rps: r(b.keepaliveRps, 0), bulk_gbps: r(b.bulkGbps, 2), udp_pps: r(b.udpPps, 0), p50_us: b.p50Us, p99_us: b.p99Us };
}

function rawRound(f: PathFigures) {
  const http = (h: PathFigures["short"]) => (h === null ? null : { rps: Math.round(h.requestsPerS), p50_us: h.p50Us, p99_us: h.p99Us, errors: h.errors });
  return {
    short: http(f.short),
    keepalive: http(f.keepalive),
    bulk_gbps: f.bulkGbps === null ? null : Math.round(f.bulkGbps * 100) / 100,
    udp_pps: f.udp === null ? null : Math.round(f.udp.pps),
    udp_trials: f.udp?.trials.map((t) => [Math.round(t.offeredPps), Math.round(t.receivedPps), Math.round(t.lossPercent * 100) / 100]) ?? null,
    latency: http(f.latency),
    errors: f.errors,
  };
}
