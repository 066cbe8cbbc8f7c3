/**
 * One probe of one server, whatever its monitor's kind: the effect half of health checking (the
 * state machine that turns results into up and down lives in `src/core/health`). Like one
 * `heartbeat1()` attempt in gokrazy: no loop, no retries, no state.
 */

import type { ProbeIo, ProbeResult, ProbeTarget } from "../../core/health/probe-types.ts";
import type { Cancel } from "../../core/ports.ts";
import { dnsProbe } from "./dns-probe.ts";
import { execProbe } from "./exec-probe.ts";
import { httpProbe } from "./http-probe.ts";
import { pingProbe } from "./ping-probe.ts";
import { tcpProbe } from "./tcp-probe.ts";
import { timeoutDetail, type ProbeVerdict } from "./probe-verdict.ts";

/**
 * How long after its timeout a probe is given up on even if the I/O has not answered: the I/O
 * ends by the timeout itself, so this only bounds a misbehaving runtime.
 */
export const PROBE_GUARD_GRACE_MS = 250;

/** The port a monitor probes: its own `port`, else the server's. */
export function probePort(target: ProbeTarget): number {
  return target.monitor.port ?? target.port;
}

async function probeKind(target: ProbeTarget, io: ProbeIo, random: () => number): Promise<ProbeVerdict> {
  const monitor = target.monitor;
  const port = probePort(target);
  switch (monitor.kind) {
    case "http":
    case "https":
      return httpProbe(target, monitor, port, io);
    case "tcp":
      return tcpProbe(target, monitor, port, io);
    case "dns":
      return dnsProbe(target, monitor, port, io, random);
    case "ping":
      return pingProbe(target, monitor, io);
    case "exec":
      return execProbe(target, monitor, port, io);
  }
  // Reachable only with a monitor that bypassed the config's decoding.
  return { ok: false, detail: `Unknown monitor kind "${(monitor as { kind: unknown }).kind}"` };
}

/** Milliseconds for a detail: one decimal below 10 ms, whole above. */
function formatMs(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

/**
 * Probes `target` once as its monitor says and resolves with the verdict and the response time.
 * Contract: never rejects (errors become `ok: false` with a detail); resolves by the monitor's
 * timeout, and at the latest `PROBE_GUARD_GRACE_MS` after it whatever `io` does. `random`
 * (0 ≤ x < 1) picks DNS query ids; tests pass a fixed one.
 */
export async function runProbe(target: ProbeTarget, io: ProbeIo, random: () => number = Math.random): Promise<ProbeResult> {
  const timeoutMs = target.monitor.timeout;
  const startMs = io.clock.monotonicMs();
  let cancel: Cancel | undefined;
  const guard = new Promise<ProbeVerdict>((resolve) => {
    cancel = io.clock.after(timeoutMs + PROBE_GUARD_GRACE_MS, () => resolve({ ok: false, detail: timeoutDetail(timeoutMs) }));
  });
  let verdict: ProbeVerdict;
  try {
    verdict = await Promise.race([probeKind(target, io, random), guard]);
  } catch (error) {
    verdict = { ok: false, detail: `Probe error: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    cancel?.();
  }
  const ms = Math.max(0, io.clock.monotonicMs() - startMs);
  return { ok: verdict.ok, ms, detail: verdict.ok ? `${verdict.detail} in ${formatMs(ms)} ms` : verdict.detail };
}
