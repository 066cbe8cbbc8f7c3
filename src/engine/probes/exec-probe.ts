/** The exec monitor (mon's extensibility): a program judges the server; exit 0 means up. */

import type { Monitor } from "../../core/config/resolve-config.ts";
import type { ProbeIo, ProbeTarget } from "../../core/health/probe-types.ts";
import { timeoutDetail, type ProbeVerdict } from "./probe-verdict.ts";

/** Output kept per stream; only the first line reaches the detail. */
export const EXEC_OUTPUT_MAX_BYTES = 4096;
const FIRST_LINE_MAX_CHARS = 200;

type ExecMonitor = Extract<Monitor, { kind: "exec" }>;

/** The first non-blank line of `output`, trimmed and cut to 200 characters; "" when there is none. */
export function firstLine(output: string): string {
  const line = output.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";
  return line.length > FIRST_LINE_MAX_CHARS ? `${line.slice(0, FIRST_LINE_MAX_CHARS)}…` : line;
}

/** The environment of the check program: the server it judges (PATH is added by the runtime). */
export function execEnvironment(target: ProbeTarget, port: number): Record<string, string> {
  return { TANDEM_SERVER: target.address, TANDEM_PORT: String(port), TANDEM_SERVICE: target.service };
}

/** Runs one exec probe for `target` on `port`. */
export async function execProbe(target: ProbeTarget, monitor: ExecMonitor, port: number, io: ProbeIo): Promise<ProbeVerdict> {
  const outcome = await io.run({ argv: monitor.command, env: execEnvironment(target, port), timeoutMs: monitor.timeout, maxOutputBytes: EXEC_OUTPUT_MAX_BYTES });
  if (outcome.kind !== "exited") {
    return { ok: false, detail: outcome.kind === "timeout" ? `${timeoutDetail(monitor.timeout)} (killed)` : outcome.detail };
  }
  const line = firstLine(outcome.output);
  return { ok: outcome.code === 0, detail: `exit ${outcome.code}${line === "" ? "" : `: ${line}`}` };
}
