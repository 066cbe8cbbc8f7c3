/** The ping monitor: one ICMP echo request. */

import type { Monitor } from "../../core/config/resolve-config.ts";
import type { ProbeIo, ProbeTarget } from "../../core/health/probe-types.ts";
import type { ProbeVerdict } from "./probe-verdict.ts";

/** Runs one ping probe against `target`'s address. */
export async function pingProbe(target: ProbeTarget, monitor: Monitor, io: ProbeIo): Promise<ProbeVerdict> {
  const replied = await io.ping(target.address, monitor.timeout);
  return replied ? { ok: true, detail: "echo reply" } : { ok: false, detail: `no echo reply within ${monitor.timeout} ms` };
}
