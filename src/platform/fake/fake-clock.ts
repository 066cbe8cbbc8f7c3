import type { Cancel, Clock } from "../../core/ports.ts";

interface Timer {
  atMs: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that only moves when told to, for deterministic tests. Contract: `advance` fires due
 * timers in time order (ties in creation order), including timers they schedule within the step.
 */
export class FakeClock implements Clock {
  private nowMs: number;
  private readonly wallOffsetMs: number;
  private timers: Timer[] = [];
  private seq = 0;

  constructor(startWallMs = Date.UTC(2026, 0, 1)) {
    this.nowMs = 0;
    this.wallOffsetMs = startWallMs;
  }

  wallMs(): number {
    return this.wallOffsetMs + this.nowMs;
  }

  monotonicMs(): number {
    return this.nowMs;
  }

  after(delayMs: number, fn: () => void): Cancel {
    const timer = { atMs: this.nowMs + Math.max(0, delayMs), seq: this.seq++, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const target = this.nowMs + ms;
    for (;;) {
      const next = this.timers.filter((t) => t.atMs <= target).sort((a, b) => a.atMs - b.atMs || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.nowMs = next.atMs;
      next.fn();
    }
    this.nowMs = target;
  }

  /** Number of timers not yet fired or cancelled. */
  get pending(): number {
    return this.timers.length;
  }
}
