/** Helpers shared by the probe kinds: the verdict type, failure details, text for details. */

import type { ProbeIoFailure } from "../../core/health/probe-types.ts";

/** What one probe kind decided; `runProbe` adds the response time. */
export interface ProbeVerdict {
  readonly ok: boolean;
  readonly detail: string;
}

/** The detail of a probe that ran out of time. */
export function timeoutDetail(timeoutMs: number): string {
  return `timeout after ${timeoutMs} ms`;
}

/** A failed verdict from an I/O failure; every timeout reads the same, whichever step it hit. */
export function failureVerdict(failure: ProbeIoFailure, timeoutMs: number): ProbeVerdict {
  return { ok: false, detail: failure.kind === "timeout" ? timeoutDetail(timeoutMs) : failure.detail };
}

/** Compiles a configured regular expression, or returns why it is not one (config checks only see a string). */
export function compilePattern(key: string, pattern: string): RegExp | string {
  try {
    return new RegExp(pattern);
  } catch (error) {
    return `Invalid ${key} regular expression "${pattern}": ${(error as Error).message}`;
  }
}

/** Bytes as text, one character per byte (Latin-1), so any byte sequence matches a pattern byte by byte. */
export function bytesToLatin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 4096) text += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return text;
}

/** At most `maxChars` of `text`, JSON-quoted so control characters show as escapes. */
export function quoteExcerpt(text: string, maxChars = 60): string {
  return JSON.stringify(text.length > maxChars ? `${text.slice(0, maxChars)}…` : text);
}
