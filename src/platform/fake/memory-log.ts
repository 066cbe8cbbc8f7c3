import { createLog } from "../../core/log/create-log.ts";
import type { Clock, Log, LogLevel } from "../../core/ports.ts";

/** A logger that keeps its lines in memory, for tests that assert on what was logged. */
export function memoryLog(clock: Pick<Clock, "wallMs">, level: LogLevel = "debug"): { log: Log; lines: string[] } {
  const lines: string[] = [];
  return { log: createLog((line) => lines.push(line), level, clock), lines };
}
