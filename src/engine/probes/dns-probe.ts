/** The dns monitor: one query over UDP, then the response's id, question, rcode and answers are checked. */

import ipaddr from "ipaddr.js";
import type { Monitor } from "../../core/config/resolve-config.ts";
import type { ProbeIo, ProbeTarget } from "../../core/health/probe-types.ts";
import { decodeDnsResponse, DNS_TYPES, encodeDnsQuery, type DnsResponse } from "../../core/net/dns-message.ts";
import { failureVerdict, type ProbeVerdict } from "./probe-verdict.ts";

type DnsMonitor = Extract<Monitor, { kind: "dns" }>;

/**
 * The form answers are compared in: names without the trailing dot and in lower case (DNS names
 * are case-insensitive, RFC 4343), IPv6 addresses in RFC 5952 text, anything else as is.
 */
export function normaliseAnswer(text: string): string {
  const trimmed = text.trim();
  if (trimmed.includes(":") && ipaddr.IPv6.isValid(trimmed)) return ipaddr.IPv6.parse(trimmed).toRFC5952String();
  return (trimmed.endsWith(".") && trimmed.length > 1 ? trimmed.slice(0, -1) : trimmed).toLowerCase();
}

/**
 * Judges a decoded response to the query (`id`, `name`, `type`) against the monitor: the id must
 * match (RFC 5452 §9.1), the message must be a response to that question, the rcode the expected
 * one, and `expect_answer`, when set, one of the answers' data.
 */
export function judgeDnsResponse(response: DnsResponse, id: number, monitor: DnsMonitor): ProbeVerdict {
  if (response.id !== id) return { ok: false, detail: `response id ${response.id} does not match query id ${id}` };
  if (!response.isResponse) return { ok: false, detail: "reply is a query, not a response (QR bit clear)" };
  const q = response.question;
  if (q !== undefined && (normaliseAnswer(q.name) !== normaliseAnswer(monitor.query) || q.type !== DNS_TYPES[monitor.type])) {
    return { ok: false, detail: `response is for question "${q.name}" type ${q.type}, not "${monitor.query}" ${monitor.type}` };
  }
  if (response.rcodeName !== monitor.expect_rcode) return { ok: false, detail: `rcode ${response.rcodeName}, expected ${monitor.expect_rcode}` };
  const count = `${response.answers.length} answer${response.answers.length === 1 ? "" : "s"}`;
  if (monitor.expect_answer === undefined) return { ok: true, detail: `${response.rcodeName}, ${count}` };
  const wanted = normaliseAnswer(monitor.expect_answer);
  if (response.answers.some((a) => normaliseAnswer(a.data) === wanted)) return { ok: true, detail: `${response.rcodeName}, ${count}, "${monitor.expect_answer}" among them` };
  const got = response.answers.map((a) => `${a.typeName} ${a.data}`).join(", ");
  const truncated = response.truncated ? " (response truncated)" : "";
  return { ok: false, detail: `answer "${monitor.expect_answer}" not among ${count}${got === "" ? "" : ` [${got}]`}${truncated}` };
}

/** Runs one dns probe against `target` on `port`; `random` (0 ≤ x < 1) picks the query id. */
export async function dnsProbe(target: ProbeTarget, monitor: DnsMonitor, port: number, io: ProbeIo, random: () => number): Promise<ProbeVerdict> {
  const id = Math.floor(random() * 0x10000) & 0xffff;
  const query = encodeDnsQuery({ id, name: monitor.query, type: monitor.type });
  if (!query.ok) return { ok: false, detail: query.reason };
  const outcome = await io.udpExchange({ address: target.address, port, bytes: query.bytes, timeoutMs: monitor.timeout });
  if (outcome.kind !== "reply") return failureVerdict(outcome, monitor.timeout);
  const decoded = decodeDnsResponse(outcome.bytes);
  if (!decoded.ok) return { ok: false, detail: `malformed response: ${decoded.reason}` };
  return judgeDnsResponse(decoded.response, id, monitor);
}
