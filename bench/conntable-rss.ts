/**
 * Connection-table benchmark: RSS with 1,000,000 tracked connections and per-operation costs.
 * Run: `node_modules/.bin/bun bench/conntable-rss.ts` (or with deno run). Prints a table and one
 * JSON line `{"bench":"conntable","rss_mb_1m_conns":…}`. Not part of `npm test`.
 */
import { ConnSpec, ConnTable, Dir, Proto, TcpFlag } from "../src/core/nat/conn-table.ts";

const N = 1_000_000;
const CAPACITY = 1 << 20;
const VIP = 0xcb00710a; // 203.0.113.10
const SERVERS = [0x0a010003, 0x0a010004, 0x0a010005];
const T0 = 5_000_000;

function rssMb(): number {
  (globalThis as { Bun?: { gc(full: boolean): void } }).Bun?.gc(true);
  return process.memoryUsage().rss / 2 ** 20;
}

/** Connection i's client address and port: 62,500 clients × 16 ports, all distinct. */
function clientAddr(i: number): number {
  return (0x0a000000 + (i >>> 4)) >>> 0;
}
function clientPort(i: number): number {
  return 20000 + (i & 15);
}

/** Visits 0..N-1 in a scattered order (7919 is prime, so i → i·7919 mod N is a permutation). */
function scattered(i: number): number {
  return (i * 7919) % N;
}

function nsPerOp(startNs: bigint, ops: number): number {
  return Number(process.hrtime.bigint() - startNs) / ops;
}

const rssBefore = rssMb();
const table = ConnTable.create(CAPACITY);
const rssEmpty = rssMb();

const spec = new ConnSpec();
spec.proto = Proto.TCP;
spec.vipAddr = VIP;
spec.vipPort = 80;
spec.serverPort = 80;
let start = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  spec.clientAddr = clientAddr(i);
  spec.clientPort = clientPort(i);
  spec.serverAddr = SERVERS[i % 3]!;
  spec.serverIndex = i % 3;
  if (table.insert(spec, T0) < 0) throw new Error(`Insert failed: connection "${i}"`);
}
const insertNs = nsPerOp(start, N);
const rssFull = rssMb();

let check = 0;
start = process.hrtime.bigint();
for (let n = 0; n < N; n++) {
  const i = scattered(n);
  check += table.lookupOutside(Proto.TCP, clientAddr(i), clientPort(i), VIP, 80);
}
const lookupOutNs = nsPerOp(start, N);

start = process.hrtime.bigint();
for (let n = 0; n < N; n++) {
  const i = scattered(n);
  check += table.lookupInside(Proto.TCP, SERVERS[i % 3]!, 80, clientAddr(i), clientPort(i));
}
const lookupInNs = nsPerOp(start, N);

start = process.hrtime.bigint();
for (let n = 0; n < N; n++) {
  const i = scattered(n);
  check += table.lookupOutside(Proto.TCP, clientAddr(i), clientPort(i) + 16, VIP, 80);
}
const lookupMissNs = nsPerOp(start, N);

// The per-packet path after a lookup: counters, state machine, lazy expiry.
const flags = [TcpFlag.SYN, TcpFlag.SYN | TcpFlag.ACK, TcpFlag.ACK, TcpFlag.ACK | TcpFlag.PSH];
start = process.hrtime.bigint();
for (let round = 0; round < 4; round++) {
  const dir = round === 1 ? Dir.OUT : Dir.IN;
  for (let n = 0; n < N; n++) check += table.update(scattered(n), dir, flags[round]!, 1500, T0 + round);
}
const updateNs = nsPerOp(start, 4 * N);

const rssAfterOps = rssMb();
const auditStart = process.hrtime.bigint();
const audit = table.audit();
const auditMs = Number(process.hrtime.bigint() - auditStart) / 1e6;
if (audit !== "") throw new Error(`Table inconsistent: ${audit}`);
const outside = table.probeStats("outside");

// Expiry: every connection is idle-established; jump past the timeout and drain the wheel.
let removed = 0;
start = process.hrtime.bigint();
const later = T0 + 16 * 60_000;
for (let n = table.expire(later, 65_536); n > 0; n = table.expire(later, 65_536)) removed += n;
const expireNs = nsPerOp(start, removed);
if (table.count !== 0 || removed !== N) throw new Error(`Expiry left "${table.count}" entries (removed ${removed})`);

const tableMb = table.buffer.byteLength / 2 ** 20;
const rows: [string, string][] = [
  ["capacity", String(CAPACITY)],
  ["connections inserted", String(N)],
  ["table buffer", `${tableMb.toFixed(1)} MB (${(table.buffer.byteLength / CAPACITY).toFixed(1)} B/entry)`],
  ["RSS before table", `${rssBefore.toFixed(1)} MB`],
  ["RSS empty table", `${rssEmpty.toFixed(1)} MB`],
  ["RSS with 1M connections", `${rssFull.toFixed(1)} MB`],
  ["RSS after lookups/updates", `${rssAfterOps.toFixed(1)} MB`],
  ["insert", `${insertNs.toFixed(0)} ns/op`],
  ["lookup outside (hit)", `${lookupOutNs.toFixed(0)} ns/op`],
  ["lookup inside (hit)", `${lookupInNs.toFixed(0)} ns/op`],
  ["lookup (miss)", `${lookupMissNs.toFixed(0)} ns/op`],
  ["update (per packet)", `${updateNs.toFixed(0)} ns/op`],
  ["expire", `${expireNs.toFixed(0)} ns/entry`],
  ["outside probe distance", `mean ${outside.meanDistance.toFixed(3)}, max ${outside.maxDistance}`],
  ["audit (full check)", `${auditMs.toFixed(0)} ms`],
];
const width = Math.max(...rows.map(([k]) => k.length));
for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
console.log(`(checksum ${check})`);
const round1 = (x: number): number => Math.round(x * 10) / 10;
console.log(JSON.stringify({
  bench: "conntable",
  rss_mb_1m_conns: round1(Math.max(rssFull, rssAfterOps)),
  rss_mb_before: round1(rssBefore),
  table_mb: round1(tableMb),
  capacity: CAPACITY,
  insert_ns: Math.round(insertNs),
  lookup_outside_ns: Math.round(lookupOutNs),
  lookup_inside_ns: Math.round(lookupInNs),
  lookup_miss_ns: Math.round(lookupMissNs),
  update_ns: Math.round(updateNs),
  expire_ns: Math.round(expireNs),
}));
