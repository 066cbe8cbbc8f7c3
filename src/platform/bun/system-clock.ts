import type { Clock } from "../../core/ports.ts";

/** The real clock under Bun; timers are unref'd so a pending timer never keeps the process alive. */
export function systemClock(): Clock {
  return {
    wallMs: () => Date.now(),
    monotonicMs: () => performance.now(),
    after(delayMs, fn) {
      const timer = setTimeout(fn, delayMs);
      timer.unref();
      return () => clearTimeout(timer);
    },
  };
}
