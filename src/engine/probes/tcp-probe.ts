/** The tcp monitor: connect, optionally send, optionally match what comes back. */

import type { Monitor } from "../../core/config/resolve-config.ts";
import { utf8Encode } from "../../core/crypto/utf8.ts";
import type { ProbeIo, ProbeTarget } from "../../core/health/probe-types.ts";
import { bytesToLatin1, compilePattern, failureVerdict, quoteExcerpt, timeoutDetail, type ProbeVerdict } from "./probe-verdict.ts";

/** At most this much is read before `expect` is judged. */
export const TCP_EXPECT_MAX_BYTES = 4096;

type TcpMonitor = Extract<Monitor, { kind: "tcp" }>;

const SIMPLE_ESCAPES: Readonly<Record<string, number>> = { r: 13, n: 10, t: 9, "\\": 92, "0": 0 };

/**
 * The bytes of a `send` value: \r \n \t \0 \\ and \xHH (two hex digits) become those bytes, other
 * characters their UTF-8 bytes. A backslash before anything else stays as written (both
 * characters), so a TOML string that already turned "\r\n" into CR LF is sent unchanged.
 */
export function decodeSendEscapes(text: string): Uint8Array {
  const out: number[] = [];
  let plain = "";
  const flush = () => {
    if (plain !== "") out.push(...utf8Encode(plain));
    plain = "";
  };
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== "\\" || i + 1 >= text.length) {
      plain += c;
      continue;
    }
    const next = text[i + 1]!;
    const simple = SIMPLE_ESCAPES[next];
    if (simple !== undefined) {
      flush();
      out.push(simple);
      i++;
    } else if (next === "x" && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      flush();
      out.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      plain += c;
    }
  }
  flush();
  return Uint8Array.from(out);
}

/** Runs one tcp probe against `target` on `port`. */
export async function tcpProbe(target: ProbeTarget, monitor: TcpMonitor, port: number, io: ProbeIo): Promise<ProbeVerdict> {
  const pattern = monitor.expect === undefined ? undefined : compilePattern("expect", monitor.expect);
  if (typeof pattern === "string") return { ok: false, detail: pattern };
  const send = monitor.send === undefined ? undefined : decodeSendEscapes(monitor.send);
  const outcome = await io.tcpExchange({
    address: target.address,
    port,
    send,
    readUntil: pattern === undefined ? undefined : (received) => pattern.test(bytesToLatin1(received)),
    maxBytes: TCP_EXPECT_MAX_BYTES,
    timeoutMs: monitor.timeout,
  });
  if (outcome.kind !== "connected") return failureVerdict(outcome, monitor.timeout);
  const sent = send === undefined ? "" : `, sent ${send.length} bytes`;
  if (pattern === undefined) return { ok: true, detail: `connected${sent}` };
  const text = bytesToLatin1(outcome.received);
  if (pattern.test(text)) return { ok: true, detail: `connected${sent}, matched /${pattern.source}/` };
  const got = `got ${outcome.received.length} bytes ${quoteExcerpt(text)}`;
  if (outcome.ended === "timeout") return { ok: false, detail: `${timeoutDetail(monitor.timeout)} waiting for /${pattern.source}/ (${got})` };
  const why = outcome.ended === "full" ? `first ${TCP_EXPECT_MAX_BYTES} bytes` : "peer closed";
  return { ok: false, detail: `/${pattern.source}/ not matched (${why}; ${got})` };
}
