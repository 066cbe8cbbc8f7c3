/**
 * When the standby's connection table counts as lagging for an alert: out of sync with the
 * active node's for longer than a grace period. A loss alone is not worth waking anyone: each
 * one (a lost batch, a restarted peer) asks for a walk at once and is usually mended within a
 * second. A table still incomplete after the grace means a failover now would cut the
 * connections that are missing from it. Pure: the sync engine feeds it and emits what it returns.
 */

/** What the alarm asks its owner to announce. */
export interface SyncLagTransition {
  /** "open": lagging past the grace; "resolved": synced again, or this node is no longer standby. */
  readonly kind: "open" | "resolved";
  /** How long the table had been out of sync, in ms (at opening, or in all at resolution). */
  readonly outOfSyncMs: number;
  /** Why the table was out of sync (the last loss's reason), or why the alarm ended. */
  readonly reason: string;
}

/** Tracks one node's shadow table against `graceMs`; see the file comment. */
export class SyncLagAlarm {
  private standby = false;
  private synced = false;
  /** Monotonic ms since when the table is out of sync while standby; undefined when synced or not standby. */
  private since: number | undefined;
  private reason = "no full table received yet";
  private open = false;

  constructor(private readonly graceMs: number) {}

  /** This node's role changed; only a standby's table is watched. */
  role(standby: boolean, nowMs: number): SyncLagTransition | undefined {
    if (standby === this.standby) return undefined;
    this.standby = standby;
    if (standby) {
      // A new standby has no table from this active node yet, whatever it had before.
      this.synced = false;
      this.since = nowMs;
      this.reason = "no full table received yet";
      return undefined;
    }
    return this.end(nowMs, "this node is no longer standby");
  }

  /** The table became complete (true) or stopped being so (false, with the reason). */
  syncState(synced: boolean, reason: string, nowMs: number): SyncLagTransition | undefined {
    if (synced === this.synced) return undefined;
    this.synced = synced;
    if (synced) return this.end(nowMs, "the table is synced again");
    this.reason = reason;
    if (this.standby) this.since = nowMs;
    return undefined;
  }

  /** Called periodically; opens the condition once the grace has run out. */
  tick(nowMs: number): SyncLagTransition | undefined {
    if (this.open || this.since === undefined || !this.standby || this.synced) return undefined;
    const outOfSyncMs = nowMs - this.since;
    if (outOfSyncMs < this.graceMs) return undefined;
    this.open = true;
    return { kind: "open", outOfSyncMs, reason: this.reason };
  }

  private end(nowMs: number, reason: string): SyncLagTransition | undefined {
    const since = this.since;
    this.since = undefined;
    if (!this.open) return undefined;
    this.open = false;
    return { kind: "resolved", outOfSyncMs: since === undefined ? 0 : nowMs - since, reason };
  }
}
