/** The http and https monitors: one request, then the status and optionally the body are checked. */

import type { Monitor } from "../../core/config/resolve-config.ts";
import type { ProbeIo, ProbeTarget } from "../../core/health/probe-types.ts";
import { compilePattern, failureVerdict, type ProbeVerdict } from "./probe-verdict.ts";

/** Only this much of a body is read and matched (mon's http monitors read a prefix too). */
export const HTTP_BODY_MAX_BYTES = 64 * 1024;

type HttpMonitor = Extract<Monitor, { kind: "http" | "https" }>;

/** Inclusive status ranges, such as [[200, 299], [301, 301]]. */
export type StatusRanges = readonly (readonly [number, number])[];

/**
 * Parses an expect_status value ("200", "200-299,301") into inclusive ranges; undefined when it is
 * not a comma list of codes and ranges (the schema's pattern already refuses those), or a range
 * runs backwards.
 */
export function parseStatusRanges(text: string): StatusRanges | undefined {
  const ranges: [number, number][] = [];
  for (const part of text.split(",")) {
    const m = /^(\d{3})(?:-(\d{3}))?$/.exec(part.trim());
    if (!m) return undefined;
    const low = Number(m[1]);
    const high = m[2] === undefined ? low : Number(m[2]);
    if (high < low) return undefined;
    ranges.push([low, high]);
  }
  return ranges;
}

/** True when `status` lies in one of `ranges`. */
export function statusInRanges(status: number, ranges: StatusRanges): boolean {
  return ranges.some(([low, high]) => status >= low && status <= high);
}

/**
 * The Host header: the configured `host`, else the server's address, with the port when it is
 * not the scheme's default (RFC 9110 §7.2).
 */
export function defaultHostHeader(address: string, port: number, tls: boolean): string {
  return port === (tls ? 443 : 80) ? address : `${address}:${port}`;
}

/** Runs one http or https probe against `target` on `port`. */
export async function httpProbe(target: ProbeTarget, monitor: HttpMonitor, port: number, io: ProbeIo): Promise<ProbeVerdict> {
  const ranges = parseStatusRanges(monitor.expect_status);
  if (!ranges) return { ok: false, detail: `Invalid expect_status "${monitor.expect_status}": expected codes or ranges such as "200-299,301"` };
  const bodyPattern = monitor.expect_body === undefined ? undefined : compilePattern("expect_body", monitor.expect_body);
  if (typeof bodyPattern === "string") return { ok: false, detail: bodyPattern };
  const tls = monitor.kind === "https";
  const outcome = await io.httpRequest({
    tls,
    verifyTls: monitor.kind === "https" && monitor.verify_tls,
    method: monitor.method,
    address: target.address,
    port,
    path: monitor.path,
    host: monitor.host ?? defaultHostHeader(target.address, port, tls),
    // Without expect_body the status decides, so the body is not read at all.
    maxBodyBytes: bodyPattern === undefined ? 0 : HTTP_BODY_MAX_BYTES,
    timeoutMs: monitor.timeout,
  });
  if (outcome.kind !== "response") return failureVerdict(outcome, monitor.timeout);
  if (!statusInRanges(outcome.status, ranges)) return { ok: false, detail: `status ${outcome.status} not in ${monitor.expect_status}` };
  if (bodyPattern !== undefined && !bodyPattern.test(outcome.body)) {
    return { ok: false, detail: `status ${outcome.status} but body does not match /${bodyPattern.source}/` };
  }
  return { ok: true, detail: String(outcome.status) };
}
