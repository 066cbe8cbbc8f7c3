/**
 * Turns a stream of dropped frames into events: the first drop after a quiet spell raises one
 * event at once (an operator learns of an attack or a misconfigured peer within a keepalive),
 * and while drops continue at most one summary per interval follows, with the counts by reason.
 * A flood of forged frames therefore costs the store a row per interval, never a row per frame.
 */
import type { HaEvent } from "./ha-node-types.ts";

/** Counts drops and decides when they become an event; pure, time is passed in. */
export class DropBurst {
  private readonly counts = new Map<string, number>();
  private pending = 0;
  private lastEventMs = -Infinity;
  private lastDropMs = -Infinity;

  /**
   * @param what names the frames in messages ("heartbeat", "sync").
   * @param intervalMs least time between two events, and the quiet spell that ends a burst.
   */
  constructor(private readonly what: string, private readonly intervalMs = 10_000) {}

  /** One dropped frame; returns an event when one is due now. */
  drop(reason: string, nowMs: number, source?: string): HaEvent | undefined {
    const quiet = nowMs - this.lastDropMs > this.intervalMs;
    this.lastDropMs = nowMs;
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
    this.pending++;
    if (!quiet && nowMs - this.lastEventMs < this.intervalMs) return undefined;
    return this.flush(nowMs, quiet ? "started" : "continues", source);
  }

  /** Reports drops counted since the last event, if any and if an interval has passed (call it from a timer). */
  tick(nowMs: number): HaEvent | undefined {
    if (this.pending === 0 || nowMs - this.lastEventMs < this.intervalMs) return undefined;
    return this.flush(nowMs, "summary");
  }

  private flush(nowMs: number, phase: string, source?: string): HaEvent {
    const fields: Record<string, string | number> = { frames: this.pending, phase };
    for (const [reason, n] of this.counts) fields[`reason_${reason.replaceAll("-", "_")}`] = n;
    if (source !== undefined) fields.source = source;
    const reasons = [...this.counts].map(([r, n]) => `${n} ${r}`).join(", ");
    const event: HaEvent = {
      type: "forged-burst",
      severity: "warn",
      message: `Dropped ${this.pending} ${this.what} frame${this.pending === 1 ? "" : "s"} (${reasons})`,
      fields,
    };
    this.counts.clear();
    this.pending = 0;
    this.lastEventMs = nowMs;
    return event;
  }
}
