/**
 * Connection-state sync between the pair, on the main thread: the active node streams its packet
 * Worker's connection-table changes to the peer in authenticated UDP batches (one datagram each,
 * on `sync.interface`, port `sync.port`), and answers a (re)joining standby's request with a full
 * walk of its table; the standby applies what arrives to its own Worker's table (the shadow that
 * becomes live at takeover), acknowledges what its table holds, and reports whether it is synced.
 *
 * Why UDP datagrams rather than a TCP stream: every batch is self-contained and idempotent
 * (upserts carry the whole entry and its remaining lifetime), so a lost one costs a resync of the
 * table, never a stalled stream, and a dead peer costs nothing; LVS's sync daemon makes the same
 * choice. Loss is detected from the batch numbers and the sender's reported position.
 *
 * Every received batch is applied whatever this node's role, so changes the old active node sent
 * during a planned switchover still land on the new one; the Worker never echoes applied entries.
 */

import type { TandemConfig } from "../core/config/resolve-config.ts";
import { DropBurst } from "../core/ha/drop-burst.ts";
import type { HaEvent, HaRole } from "../core/ha/ha-node-types.ts";
import { createHeartbeatAuth, FRAME_DROP_REASONS, FrameType, type HeartbeatAuth } from "../core/ha/heartbeat-message.ts";
import { ReplayGuard } from "../core/ha/replay-guard.ts";
import { SYNC_MAX_BODY_BYTES, SYNC_MAX_ENTRIES } from "../core/sync/conn-sync-codec.ts";
import {
  decodeSyncStatus, encodeSyncStatus, MAX_SYNC_FRAME_BYTES, openSyncFrame, peekSyncBatchSeq, sealSyncFrame, SYNC_BODY_OFFSET, SyncStatusFlag,
} from "../core/sync/sync-frame.ts";
import { SyncLagMeter, type SyncLagSnapshot } from "../core/sync/sync-lag.ts";
import { SyncLagAlarm, type SyncLagTransition } from "../core/sync/sync-lag-alarm.ts";
import { SyncReceiver, type SyncReceiverChange } from "../core/sync/sync-receiver.ts";
import type { Cancel, Clock, DatagramSocket, HaNet, Log } from "../core/ports.ts";
import type { FullSyncCursor, SyncApplied, SyncEncoded, SyncSnapshot } from "./sync-ring.ts";

/** Reasons a received sync frame is dropped besides the frame codec's own. */
export const SYNC_DROP_REASONS = [...FRAME_DROP_REASONS, "self", "unknown-node", "replay", "old-generation", "bad-body"] as const;

/** The packet Worker's side of sync, as `DispatcherEngine` offers it. */
export interface SyncDataPlane {
  setSyncCapture(on: boolean): void;
  readonly syncNeedsFullResync: boolean;
  drainSyncChanges(out: Uint8Array, maxEntries?: number, created?: Float64Array): SyncEncoded;
  fullSyncCursor(): FullSyncCursor;
  encodeFullSync(cursor: FullSyncCursor, out: Uint8Array, maxEntries?: number): SyncEncoded;
  applySyncBody(bytes: Uint8Array, length: number): SyncApplied;
  readonly syncQueuedPosition: number;
  syncAppliedThrough(position: number): boolean;
  syncClockMs(): number;
  syncSnapshot(): SyncSnapshot;
}

/** Options of `SyncEngine.start`. */
export interface SyncEngineOptions {
  readonly config: TandemConfig;
  readonly nodeName: string;
  readonly authKey: Uint8Array;
  /** This process's generation (the heartbeat's): larger than any earlier run's. */
  readonly generation: number;
  readonly net: HaNet;
  readonly clock: Clock;
  readonly log: Log;
  readonly dataPlane: SyncDataPlane;
  /** The standby's shadow table became complete (true) or stopped being so (false). */
  readonly onSynced: (synced: boolean) => void;
  /** Records an event in the store (the engine logs it). */
  readonly onEvent: (event: HaEvent) => void;
}

/** Sync figures for the API and metrics. */
export interface SyncEngineSnapshot {
  /** "send": this node streams its changes (active); "receive": it keeps the shadow table. */
  readonly mode: "send" | "receive";
  readonly synced: boolean;
  /** Last batch sent (send) or received (receive), -1 before the first. */
  readonly position: number;
  readonly link: string;
  readonly sent: { readonly batches: number; readonly entries: number; readonly statuses: number; readonly failed: number };
  readonly received: { readonly batches: number; readonly entries: number; readonly statuses: number };
  readonly fullResyncs: { readonly sent: number; readonly inProgress: boolean; readonly received: number };
  readonly gaps: number;
  readonly requests: number;
  /** Bodies waiting for room in the Worker's apply ring. */
  readonly backlog: number;
  readonly lag: SyncLagSnapshot;
  readonly drops: Readonly<Record<string, number>>;
  readonly table: SyncSnapshot;
}

/** Status frames every this many ms (the receiver's acks also go out as soon as applied). */
const STATUS_INTERVAL_MS = 200;
/** Full-walk batches per tick: 32 × 33 entries per 20 ms is about 50,000 entries/s, 2.3 MB/s. */
const WALK_BATCHES_PER_TICK = 32;
/** Change batches per tick at most, so that a flood cannot hold the event loop. */
const CHANGE_BATCHES_PER_TICK = 1024;
/** How often pending acks and the apply backlog are looked at while there are some. */
const APPLY_POLL_MS = 2;
/** Bodies the receiver buffers while the Worker's apply ring is full; beyond, it resyncs. */
const MAX_BACKLOG = 1024;

/** A running sync endpoint; see the file comment. */
export class SyncEngine {
  private mode: "send" | "receive" = "receive";
  private socket: DatagramSocket | undefined;
  private readonly auth: HeartbeatAuth;
  private readonly guard = new ReplayGuard();
  private readonly out = new Uint8Array(MAX_SYNC_FRAME_BYTES);
  private readonly body: Uint8Array;
  private readonly created = new Float64Array(SYNC_MAX_ENTRIES);
  private readonly lag = new SyncLagMeter();
  private readonly receiver: SyncReceiver;
  private readonly burst = new DropBurst("sync");
  private readonly lagAlarm: SyncLagAlarm;
  private readonly drops = new Map<string, number>();
  private readonly nodeIndex: number;
  private readonly peerIndex: number;
  private readonly peerName: string;
  private readonly peerAddress: string;
  private readonly port: number;
  private readonly label: string;
  private cursor: FullSyncCursor | undefined;
  private walkStartMs = 0;
  private walkEntries = 0;
  private servedRequest = -1;
  private servedGeneration = -1;
  private position = -1;
  private statusSeq = 0;
  private lastStatusMs = -Infinity;
  /** The peer's generation and highest batch its table holds, for acks. */
  private peerGeneration = 0;
  private receivedSeq = -1;
  private ackedSeq = -1;
  /** Batches queued to the Worker, acknowledged once its table holds them; a walk's end is reported then too. */
  private readonly pendingAcks: { seq: number; position: number; change?: SyncReceiverChange }[] = [];
  /** The highest batch taken in (applied or waiting in the backlog) of sender `takenGeneration`. */
  private takenGeneration = -1;
  private takenSeq = -1;
  /** Bodies waiting for room in the Worker's apply ring, in order, with their sender's generation. */
  private readonly backlog: { generation: number; body: Uint8Array }[] = [];
  private pollCancel: Cancel | undefined;
  /** What the HA machine was last told (the receiver may be ahead while the Worker applies the walk's end). */
  private syncedReported = false;
  private readonly c = { sentBatches: 0, sentEntries: 0, sentStatuses: 0, sendFailed: 0, receivedBatches: 0, receivedEntries: 0, receivedStatuses: 0, walksSent: 0 };
  private readonly timers: Cancel[] = [];
  private stopped = false;

  private constructor(private readonly options: SyncEngineOptions) {
    const { config, nodeName } = options;
    this.auth = createHeartbeatAuth(options.authKey, config.cluster.name);
    this.lagAlarm = new SyncLagAlarm(config.sync.alert_after);
    this.body = this.out.subarray(SYNC_BODY_OFFSET, SYNC_BODY_OFFSET + SYNC_MAX_BODY_BYTES);
    this.nodeIndex = config.node.findIndex((n) => n.name === nodeName);
    this.peerIndex = config.node.findIndex((n) => n.name !== nodeName);
    const role = config.sync.interface;
    const own = config.node[this.nodeIndex]!.interfaces[role ?? ""];
    const peer = config.node[this.peerIndex]?.interfaces[role ?? ""];
    if (role === undefined || own === undefined || peer === undefined || this.peerIndex < 0) {
      throw new Error(`Cannot start connection-state sync: no interface "${role ?? "(none)"}" on both nodes (set sync.interface)`);
    }
    this.peerName = config.node[this.peerIndex]!.name;
    this.peerAddress = peer.address.address;
    this.port = config.sync.port;
    this.label = `udp ${own.device} ${own.address.address} -> ${this.peerAddress}:${this.port}`;
    this.receiver = new SyncReceiver({ rerequestMs: 2000, stallMs: 3000 }, options.clock.monotonicMs(), (options.generation % 0x7fffffff) >>> 0);
  }

  /** Opens the sync socket and starts in receive mode (the role decides; see `setRole`). */
  static async start(options: SyncEngineOptions): Promise<SyncEngine> {
    const engine = new SyncEngine(options);
    const { config, nodeName, net } = options;
    const own = config.node[engine.nodeIndex]!.interfaces[config.sync.interface!]!;
    engine.socket = await net
      .openDatagram({ address: own.address.address, port: engine.port, device: own.device }, (bytes) => engine.receive(bytes, bytes.length))
      .catch((error: unknown) => {
        throw new Error(`Cannot open the sync socket (udp ${own.device} ${own.address.address}:${engine.port}): ${(error as Error).message}`);
      });
    options.log.info("Sync link open", { node: nodeName, path: engine.label });
    options.dataPlane.setSyncCapture(false);
    engine.every(config.sync.batch_interval, () => engine.tick());
    return engine;
  }

  /** Follows the HA role: the active node sends its changes, every other role receives. */
  setRole(role: HaRole): void {
    const now = this.options.clock.monotonicMs();
    this.lagAlarmReport(this.lagAlarm.role(role === "standby", now));
    const mode = role === "active" ? "send" : "receive";
    if (mode === this.mode) return;
    this.mode = mode;
    this.options.dataPlane.setSyncCapture(mode === "send");
    this.cursor = undefined;
    this.servedRequest = -1;
    this.lag.forgetPending();
    // Quietly: becoming active is no loss, and a new standby was unsynced since it was last active.
    this.receiver.reset(now);
    for (const p of this.pendingAcks) p.change = undefined;
    // A standby's table is complete only after a walk from the new active node.
    this.syncedReported = false;
    this.options.onSynced(false);
    this.sendStatus(now);
  }

  /** The heartbeat's sync position: last batch sent (active) or received (standby), -1 before any. */
  syncPosition(): number {
    return this.mode === "send" ? this.position : this.receivedSeq;
  }

  /** The figures for the API. */
  snapshot(): SyncEngineSnapshot {
    const r = this.receiver.counters;
    return {
      mode: this.mode,
      synced: this.mode === "receive" && this.syncedReported,
      position: this.syncPosition(),
      link: this.label,
      sent: { batches: this.c.sentBatches, entries: this.c.sentEntries, statuses: this.c.sentStatuses, failed: this.c.sendFailed },
      received: { batches: this.c.receivedBatches, entries: this.c.receivedEntries, statuses: this.c.receivedStatuses },
      fullResyncs: { sent: this.c.walksSent, inProgress: this.cursor !== undefined, received: r.walksCompleted },
      gaps: r.gaps,
      requests: r.requests,
      backlog: this.backlog.length,
      lag: this.lag.snapshot(),
      drops: Object.fromEntries(this.drops),
      table: this.options.dataPlane.syncSnapshot(),
    };
  }

  /** Stops the timers and closes the socket. */
  stop(): void {
    this.stopped = true;
    for (const cancel of this.timers) cancel();
    this.pollCancel?.();
    this.socket?.close();
  }

  private every(intervalMs: number, fn: () => void): void {
    const slot = this.timers.length;
    this.timers.push(() => {});
    const arm = () => {
      if (this.stopped) return;
      this.timers[slot] = this.options.clock.after(intervalMs, () => {
        fn();
        arm();
      });
    };
    arm();
  }

  private tick(): void {
    const now = this.options.clock.monotonicMs();
    const dp = this.options.dataPlane;
    if (this.mode === "send") {
      if (dp.syncNeedsFullResync && this.cursor === undefined) this.startWalk(now, "changes were lost to a full change ring");
      for (let i = 0; i < CHANGE_BATCHES_PER_TICK; i++) {
        const enc = dp.drainSyncChanges(this.body, SYNC_MAX_ENTRIES, this.created);
        if (enc.bytes === 0) break;
        this.sendBatch(enc);
        this.lag.sent(enc.seq, this.created, enc.fresh);
        if (!enc.more) break;
      }
      this.walk(now);
    } else {
      this.report(this.receiver.tick(now));
    }
    const event = this.burst.tick(now);
    if (event) this.emit(event);
    this.lagAlarmReport(this.lagAlarm.tick(now));
    if (now - this.lastStatusMs >= STATUS_INTERVAL_MS) this.sendStatus(now);
  }

  private startWalk(now: number, why: string): void {
    this.cursor = this.options.dataPlane.fullSyncCursor();
    this.walkStartMs = now;
    this.walkEntries = 0;
    this.options.log.info("Sending a full resync of the connection table", { peer: this.peerName, reason: why });
  }

  private walk(now: number): void {
    if (this.cursor === undefined) return;
    for (let i = 0; i < WALK_BATCHES_PER_TICK; i++) {
      const enc = this.options.dataPlane.encodeFullSync(this.cursor, this.body);
      if (enc.bytes === 0) break;
      this.sendBatch(enc);
      this.walkEntries += enc.entries;
      if (!enc.more) {
        this.cursor = undefined;
        this.c.walksSent++;
        this.emit({
          type: "sync-resync-sent",
          severity: "info",
          message: `Sent the connection table to "${this.peerName}": ${this.walkEntries} entries in ${Math.round(now - this.walkStartMs)} ms`,
          fields: { peer: this.peerName, entries: this.walkEntries, ms: Math.round(now - this.walkStartMs) },
        });
        return;
      }
    }
  }

  private sendBatch(enc: SyncEncoded): void {
    const length = sealSyncFrame(this.auth, FrameType.SyncBatch, this.out, this.nodeIndex, this.options.generation, enc.bytes);
    this.position = enc.seq;
    if (this.socket?.send(this.out, length, this.peerAddress, this.port)) {
      this.c.sentBatches++;
      this.c.sentEntries += enc.entries;
    } else {
      this.c.sendFailed++;
    }
  }

  private sendStatus(now: number): void {
    if (this.stopped) return;
    this.lastStatusMs = now;
    const receiving = this.mode === "receive";
    const flags = (receiving && this.receiver.synced ? SyncStatusFlag.Synced : 0)
      | (receiving && this.receiver.wantsFull ? SyncStatusFlag.NeedFull : 0)
      | (receiving ? 0 : SyncStatusFlag.Sending);
    const bodyLength = encodeSyncStatus({
      seq: ++this.statusSeq,
      ackedSeq: this.peerGeneration > 0 ? this.ackedSeq : -1,
      ackedGeneration: this.peerGeneration,
      position: this.mode === "send" ? this.position : -1,
      requestId: this.receiver.requestId,
      flags,
    }, this.out);
    const length = sealSyncFrame(this.auth, FrameType.SyncStatus, this.out, this.nodeIndex, this.options.generation, bodyLength);
    if (this.socket?.send(this.out, length, this.peerAddress, this.port)) this.c.sentStatuses++;
    else this.c.sendFailed++;
  }

  private drop(reason: (typeof SYNC_DROP_REASONS)[number]): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    const event = this.burst.drop(reason, this.options.clock.monotonicMs());
    if (event) this.emit(event);
  }

  private lagAlarmReport(t: SyncLagTransition | undefined): void {
    if (t === undefined) return;
    const seconds = (t.outOfSyncMs / 1000).toFixed(1);
    const fields = { peer: this.peerName, reason: t.reason, out_of_sync_ms: Math.round(t.outOfSyncMs), resolved: t.kind === "resolved" };
    if (t.kind === "open") {
      this.emit({ type: "sync-lag", severity: "warn", message: `Connection table out of sync with "${this.peerName}" for ${seconds} s (${t.reason}): a failover now would cut the connections it lacks`, fields });
    } else {
      this.emit({ type: "sync-lag", severity: "info", message: `Connection table lag over after ${seconds} s: ${t.reason}`, fields });
    }
  }

  private emit(event: HaEvent): void {
    this.options.log[event.severity](event.message, { event: event.type, ...event.fields });
    this.options.onEvent(event);
  }

  private report(change: SyncReceiverChange): void {
    const now = this.options.clock.monotonicMs();
    if (change.synced === true) {
      this.emit({
        type: "sync-synced",
        severity: "info",
        message: `Connection table synced from "${this.peerName}": ${change.walkEntries ?? 0} entries in ${Math.round(change.walkMs ?? 0)} ms`,
        fields: { peer: this.peerName, entries: change.walkEntries ?? 0, ms: Math.round(change.walkMs ?? 0) },
      });
      this.syncedReported = true;
      this.options.onSynced(true);
      this.lagAlarmReport(this.lagAlarm.syncState(true, "", now));
    } else if (change.synced === false) {
      this.syncedReported = false;
      this.emit({ type: "sync-lost", severity: "warn", message: `Connection table no longer synced: ${change.reason ?? "unknown"}`, fields: { peer: this.peerName, reason: change.reason ?? "unknown" } });
      this.options.onSynced(false);
      this.lagAlarmReport(this.lagAlarm.syncState(false, change.reason ?? "unknown", now));
    }
    // A new request goes out at once, not at the next status interval.
    if (change.reason !== undefined && this.receiver.wantsFull) this.sendStatus(now);
  }

  private receive(bytes: Uint8Array, length: number): void {
    if (this.stopped) return;
    const frame = openSyncFrame(bytes, length, this.auth);
    if (!frame.ok) return this.drop(frame.reason);
    if (frame.nodeIndex === this.nodeIndex) return this.drop("self");
    if (frame.nodeIndex !== this.peerIndex) return this.drop("unknown-node");
    const now = this.options.clock.monotonicMs();
    if (frame.type === FrameType.SyncStatus) {
      const status = decodeSyncStatus(bytes, frame.bodyOffset, frame.bodyLength);
      if (status === undefined) return this.drop("bad-body");
      // Link 1 of the guard: status frames have their own numbering.
      const verdict = this.guard.accept(this.peerName, frame.generation, 1, status.seq);
      if (verdict !== "ok") return this.drop(verdict === "unknown" ? "unknown-node" : verdict);
      this.c.receivedStatuses++;
      return this.onStatus(now, frame.generation, status);
    }
    const seq = peekSyncBatchSeq(bytes, frame.bodyOffset, frame.bodyLength);
    if (seq < 0) return this.drop("bad-body");
    const verdict = this.guard.accept(this.peerName, frame.generation, 0, seq + 1);
    if (verdict !== "ok") return this.drop(verdict === "unknown" ? "unknown-node" : verdict);
    this.takenGeneration = frame.generation;
    this.takenSeq = seq;
    const body = bytes.subarray(frame.bodyOffset, frame.bodyOffset + frame.bodyLength);
    if (this.backlog.length > 0 || !this.apply(now, frame.generation, body)) {
      if (this.backlog.length >= MAX_BACKLOG) {
        // Once per overflow: the walk this asks for restarts the count, more requests would restart it again.
        if (this.mode === "receive" && !this.receiver.wantsFull) this.report(this.receiver.onLostLocally(now));
        return;
      }
      // A copy: `bytes` is only valid during this call.
      this.backlog.push({ generation: frame.generation, body: body.slice() });
      this.armPoll();
    }
  }

  /** Applies one body; false when the Worker's ring is full (nothing applied, retry the same body). */
  private apply(now: number, generation: number, body: Uint8Array): boolean {
    const result = this.options.dataPlane.applySyncBody(body, body.length);
    if (result.status === "busy") return false;
    if (result.status === "malformed") {
      this.drop("bad-body");
      this.report(this.receiver.onLostLocally(now));
      return true;
    }
    this.c.receivedBatches++;
    this.c.receivedEntries += result.applied;
    if (generation !== this.peerGeneration) {
      this.peerGeneration = generation;
      this.ackedSeq = -1;
      this.pendingAcks.length = 0;
    }
    this.receivedSeq = result.seq;
    const change = this.mode === "receive" ? this.receiver.onBatch(now, generation, result.seq, result.flags, result.applied + result.dropped) : {};
    // "Synced" is true once the Worker's table holds the walk's last batch, not when it is queued.
    this.pendingAcks.push({ seq: result.seq, position: this.options.dataPlane.syncQueuedPosition, change: change.synced === true ? change : undefined });
    this.armPoll();
    if (change.synced !== true) this.report(change);
    return true;
  }

  private onStatus(now: number, generation: number, status: ReturnType<typeof decodeSyncStatus> & object): void {
    if (this.mode === "send") {
      if (status.ackedGeneration === this.options.generation && status.ackedSeq >= 0) this.lag.acked(status.ackedSeq, this.options.dataPlane.syncClockMs());
      const wants = (status.flags & SyncStatusFlag.NeedFull) !== 0;
      if (wants && (status.requestId !== this.servedRequest || generation !== this.servedGeneration)) {
        this.servedRequest = status.requestId;
        this.servedGeneration = generation;
        this.lag.forgetPending();
        this.startWalk(now, `"${this.peerName}" asked for one (request ${status.requestId})`);
      }
    } else if ((status.flags & SyncStatusFlag.Sending) !== 0) {
      // Batches up to takenSeq are in hand (some maybe still in the backlog): not lost.
      if (generation === this.takenGeneration && status.position <= this.takenSeq) return;
      this.report(this.receiver.onSenderPosition(now, generation, status.position));
    }
  }

  private armPoll(): void {
    if (this.pollCancel !== undefined || this.stopped) return;
    this.pollCancel = this.options.clock.after(APPLY_POLL_MS, () => {
      this.pollCancel = undefined;
      this.poll();
    });
  }

  /** Retries the backlog and acknowledges what the Worker's table now holds. */
  private poll(): void {
    if (this.stopped) return;
    const now = this.options.clock.monotonicMs();
    while (this.backlog.length > 0) {
      const waiting = this.backlog[0]!;
      if (!this.apply(now, waiting.generation, waiting.body)) break;
      this.backlog.shift();
    }
    let acked = -1;
    while (this.pendingAcks.length > 0 && this.options.dataPlane.syncAppliedThrough(this.pendingAcks[0]!.position)) {
      const done = this.pendingAcks.shift()!;
      acked = done.seq;
      // Still synced (no loss since the walk's end was queued): report it now that the table holds it.
      if (done.change !== undefined && this.receiver.synced) this.report(done.change);
    }
    if (acked >= 0) {
      this.ackedSeq = acked;
      this.sendStatus(now);
    }
    if (this.backlog.length > 0 || this.pendingAcks.length > 0) this.armPoll();
  }
}
