import type { Clock, Log, LogFields, LogLevel } from "../ports.ts";

const RANK: Readonly<Record<LogLevel, number>> = { debug: 10, info: 20, warn: 30, error: 40 };

function formatValue(value: LogFields[string]): string {
  const text = value === null || value === undefined ? "" : String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** Formats one logfmt-style line: `2026-11-21T10:00:00.000Z info message key=value ...`. */
export function formatLogLine(timeMs: number, level: LogLevel, message: string, fields: LogFields): string {
  let line = `${new Date(timeMs).toISOString()} ${level.padEnd(5)} ${message}`;
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) line += ` ${key}=${formatValue(value)}`;
  }
  return line;
}

/**
 * A logger writing formatted lines to `sink`. Contract: lines below `level` cost one comparison;
 * a throwing sink is ignored, since logging must never take the process down.
 */
export function createLog(sink: (line: string) => void, level: LogLevel, clock: Pick<Clock, "wallMs">, base: LogFields = {}): Log {
  const min = RANK[level];
  const emit = (lvl: LogLevel, message: string, fields?: LogFields) => {
    if (RANK[lvl] < min) return;
    try {
      sink(formatLogLine(clock.wallMs(), lvl, message, fields ? { ...base, ...fields } : base));
    } catch {
      // A closed stderr must not crash the dispatcher.
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    with: (fields) => createLog(sink, level, clock, { ...base, ...fields }),
  };
}
