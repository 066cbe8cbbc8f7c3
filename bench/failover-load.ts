/**
 * Open-loop new-connection load for `bench/failover.ts`'s sync lag: wrk with `Connection: close`
 * (one new TCP connection per request) paced by a Lua `delay()` hook to a fixed rate, so the
 * offered rate does not depend on latency (plain wrk is closed-loop: its rate is whatever the
 * connections manage). Each wrk thread hands out send slots every `threads / rate` seconds from
 * a monotonic clock (LuaJIT ffi), making up for at most CATCH_UP_MS of missed slots; the
 * achieved rate is measured, not assumed.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Testbed } from "../test/integration/testbed/topology.ts";

/** What the paced run achieved. */
export interface PacedLoad {
  readonly requests: number;
  readonly durationS: number;
  readonly ratePerS: number;
  /** Socket errors plus non-2xx/3xx responses. */
  readonly errors: number;
}

/** wrk threads and connections: enough connections that pacing, not latency, sets the rate. */
const THREADS = 2;
const CONNECTIONS = 64;
/** How far back missed send slots are still made up for. */
const CATCH_UP_MS = 50;

function pacedScript(ratePerS: number): string {
  return `local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } tt_timespec;
int clock_gettime(int clock_id, tt_timespec *ts);
]]
local ts = ffi.new("tt_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end
local interval_ms = ${(THREADS * 1000) / ratePerS}
local next_ms = nil
-- Called by wrk before every request (also after each reconnect): the wait until this
-- connection's slot. Behind schedule, missed slots are made up for at most CATCH_UP_MS back,
-- so timer slack keeps the average rate without a burst after a real stall.
function delay()
  local now = now_ms()
  if next_ms == nil then next_ms = now end
  if next_ms < now - ${CATCH_UP_MS} then next_ms = now - ${CATCH_UP_MS} end
  local wait = next_ms - now
  next_ms = next_ms + interval_ms
  if wait < 0 then return 0 end
  return math.floor(wait)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('PACEDJSON {"requests":%d,"durationUs":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))
end
`;
}

/** Opens ~`ratePerS` new connections per second to `url` from `client` for `durationS` seconds (GET, Connection: close). */
export async function pacedNewConnections(bed: Testbed, client: string, url: string, ratePerS: number, durationS: number): Promise<PacedLoad> {
  const script = join(bed.runDir, `wrk-paced-${ratePerS}.lua`);
  writeFileSync(script, pacedScript(ratePerS));
  const argv = ["wrk", "-s", script, "-t", String(THREADS), "-c", String(CONNECTIONS), "-d", `${durationS}s`, "--timeout", "2s", "-H", "Connection: close", url];
  const r = await bed.exec(client, argv, { timeoutMs: durationS * 1000 + 20_000 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("PACEDJSON "));
  if (!line) throw new Error(`wrk "${url}" gave no summary (exit ${r.code}${r.timedOut ? ", timed out" : ""}): ${(r.stderr + r.stdout).trim()}`);
  const j = JSON.parse(line.slice("PACEDJSON ".length)) as Record<string, number>;
  const n = (k: string) => j[k] ?? 0;
  const seconds = n("durationUs") / 1e6;
  return { requests: n("requests"), durationS: seconds, ratePerS: n("requests") / seconds, errors: n("connect") + n("read") + n("write") + n("timeout") + n("status") };
}
