import type { Cancel, Clock } from "../core/ports.ts";

/**
 * One-shot timers that all end with their owner: `later` runs a function once after a delay
 * unless `stop` came first, and `stop` cancels every timer still pending. For the engines whose
 * schedules re-arm themselves (monitors, content checks), so that a stopped engine leaves no timer.
 */
export class TimerSet {
  private readonly pending = new Set<Cancel>();
  private stopped = false;

  constructor(private readonly clock: Pick<Clock, "after">) {}

  /** Runs `fn` once after `delayMs`, unless stopped first; does nothing once stopped. */
  later(delayMs: number, fn: () => void): void {
    if (this.stopped) return;
    const cancel = this.clock.after(delayMs, () => {
      this.pending.delete(cancel);
      if (!this.stopped) fn();
    });
    this.pending.add(cancel);
  }

  /** Whether `stop` was called. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** Cancels every pending timer; later calls to `later` do nothing. */
  stop(): void {
    this.stopped = true;
    for (const cancel of this.pending) cancel();
    this.pending.clear();
  }
}
