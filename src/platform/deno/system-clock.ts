import type { Clock } from "../../core/ports.ts";

declare const Deno: { unrefTimer(id: number): void };

/** The real clock under Deno; timers are unref'd so a pending timer never keeps the process alive. */
export function systemClock(): Clock {
  return {
    wallMs: () => Date.now(),
    monotonicMs: () => performance.now(),
    after(delayMs, fn) {
      const id = setTimeout(fn, delayMs) as unknown as number;
      Deno.unrefTimer(id);
      return () => clearTimeout(id);
    },
  };
}
