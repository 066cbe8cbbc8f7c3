/**
 * The ports: everything the runtime-neutral core needs from the outside world. Implementations
 * live in `src/platform/{bun,deno,fake}`; the core and engine see only these interfaces.
 */

/** Cancels a timer; calling it twice, or after the timer fired, is harmless. */
export type Cancel = () => void;

/**
 * Time, injected so that tests can drive it. Contract: `monotonicMs` never goes backwards and is
 * the only clock used for timeouts; `wallMs` is for timestamps shown to people and stored.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch, for timestamps. May jump (NTP, manual changes). */
  wallMs(): number;
  /** Milliseconds from an arbitrary origin; never decreases. */
  monotonicMs(): number;
  /** Calls `fn` once after `delayMs` (monotonic); returns a function that cancels it. */
  after(delayMs: number, fn: () => void): Cancel;
}

/** Severity of a log line; `debug` is for per-packet and per-probe detail and is off by default. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured fields attached to a log line; values are printed logfmt-style. */
export type LogFields = Readonly<Record<string, string | number | boolean | bigint | null | undefined>>;

/**
 * A structured logger. Contract: never throws, never blocks on I/O for long; lines below the
 * configured level cost no formatting.
 */
export interface Log {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line (for example `{ component: "heartbeat" }`). */
  with(fields: LogFields): Log;
}
