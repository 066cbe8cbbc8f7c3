import { ConnTable } from "../core/nat/conn-table.ts";
import { DispatchStats, StatField } from "../core/nat/dispatch-stats.ts";
import type { DispatchSpec } from "../core/nat/dispatcher-spec.ts";
import { DROP_REASON_SLOTS, DropCounters } from "../core/packet/drop-reason.ts";
import type { Log } from "../core/ports.ts";
import type { AdminState } from "../core/sched/server-pool.ts";
import { ADMIN_STATES, ControlOp, ControlRing } from "./control-ring.ts";
import type { LoopCounters } from "./packet-loop.ts";
import { SyncApplyRing, SyncChangeRing, SyncEndpoint, type FullSyncCursor, type SyncApplied, type SyncEncoded, type SyncSnapshot } from "./sync-ring.ts";

// The Worker's clock, on the same epoch-based monotonic scale in every thread.
const syncClockMs = () => performance.timeOrigin + performance.now();

/** What the packet Worker is started with; plain data and shared buffers only. */
export interface DispatcherWorkerInit {
  readonly spec: DispatchSpec;
  readonly tun: { readonly name: string; readonly mtu: number; readonly vnetHdr: boolean; readonly offload: boolean };
  readonly tableBuffer: SharedArrayBuffer;
  readonly dropsBuffer: SharedArrayBuffer;
  readonly statsBuffer: SharedArrayBuffer;
  readonly controlBuffer: SharedArrayBuffer;
  readonly syncChangesBuffer: SharedArrayBuffer;
  readonly syncApplyBuffer: SharedArrayBuffer;
  readonly seed: number;
}

/** Messages the packet Worker posts back. */
export type DispatcherWorkerMessage =
  | { readonly type: "ready"; readonly tun: string }
  | { readonly type: "error"; readonly message: string }
  | { readonly type: "stopped"; readonly counters: LoopCounters };

/** The part of the Web Worker API the engine uses (Bun and Deno both provide it). */
export interface WorkerLike {
  postMessage(message: unknown): void;
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message?: string }) => void) | null;
  terminate(): void;
}

/** A snapshot of the data plane for the API, metrics and logs. */
export interface DispatcherSnapshot {
  readonly connections: number;
  readonly tableCapacity: number;
  readonly refused: number;
  readonly evicted: number;
  readonly drops: Record<string, number>;
  /** Connection-state sync counters. */
  readonly sync: SyncSnapshot;
  readonly services: readonly {
    readonly name: string;
    readonly connections: number;
    readonly packetsIn: number;
    readonly packetsOut: number;
    readonly bytesIn: number;
    readonly bytesOut: number;
    readonly dropped: number;
    /** Response times measured on the service (see `servers[].responseTimeSumMs`). */
    readonly responseTimeSumMs: number;
    readonly responseTimes: number;
    readonly servers: readonly {
      readonly name: string;
      readonly connections: number;
      readonly packetsIn: number;
      readonly packetsOut: number;
      readonly bytesIn: number;
      readonly bytesOut: number;
      /** Passive health counters: SYNs answered with a RST, SYNs left unanswered, resets before any data. */
      readonly refused: number;
      readonly timeouts: number;
      readonly resets: number;
      /**
       * Response times, cumulative since start: the sum in ms and the count of request turns measured
       * (client's first data → server's first data after it). Their deltas give a mean per interval.
       */
      readonly responseTimeSumMs: number;
      readonly responseTimes: number;
    }[];
  }[];
}

/** Options of `DispatcherEngine.start`. */
export interface DispatcherEngineOptions {
  readonly spec: DispatchSpec;
  readonly tun: DispatcherWorkerInit["tun"];
  readonly spawnWorker: () => WorkerLike;
  readonly log: Log;
  /** Random seed for the table's hash key and port shuffles (from the platform's CSPRNG). */
  readonly seed: number;
  readonly startTimeoutMs?: number;
  /** Connection-state sync; the rings always exist, capture starts off unless `capture` is true. */
  readonly sync?: DispatcherSyncOptions;
}

/** Connection-state sync settings of a `DispatcherEngine`. */
export interface DispatcherSyncOptions {
  /** Capture changes from the start (the active node). Default false; see `setSyncCapture`. */
  readonly capture?: boolean;
  /** Slots of the worker → main change ring, a power of two. Default 65536 (1.3 MB, pages touched as used). */
  readonly changeSlots?: number;
  /** Slots of the main → worker apply ring, a power of two. Default 16384 (640 KiB). */
  readonly applySlots?: number;
  /** Table generation sent with every batch; default derived from `seed` (new at every start). */
  readonly generation?: number;
}

/**
 * The data plane as seen from the main thread: it owns the shared memory (connection table,
 * counters, command ring), starts the packet Worker and waits until its TUN device is up, sends
 * commands without waiting on the packet loop, and reads statistics straight from shared memory.
 */
export class DispatcherEngine {
  private stopped: Promise<LoopCounters> | undefined;

  private constructor(
    private readonly worker: WorkerLike,
    private readonly ring: ControlRing,
    private readonly table: ConnTable,
    private readonly drops: DropCounters,
    private readonly stats: DispatchStats,
    private readonly spec: DispatchSpec,
    private readonly log: Log,
    private readonly messages: { waiters: ((m: DispatcherWorkerMessage) => void)[] },
    private readonly sync: SyncEndpoint,
    /** Name of the TUN device the Worker created. */
    readonly tunName: string,
  ) {}

  /** Starts the Worker and resolves once its TUN device exists; rejects with its error otherwise. */
  static async start(options: DispatcherEngineOptions): Promise<DispatcherEngine> {
    const { spec } = options;
    const table = ConnTable.create(spec.maxConnections, { timeouts: spec.timeouts, shared: true, seed: [options.seed >>> 0, (options.seed * 2654435761) >>> 0] });
    const dropsBuffer = new SharedArrayBuffer(DROP_REASON_SLOTS * 8);
    const serverCounts = spec.services.map((s) => s.servers.length);
    const statsBuffer = new SharedArrayBuffer(DispatchStats.byteLength(serverCounts));
    const ring = new ControlRing();
    const changes = new SyncChangeRing(undefined, options.sync?.changeSlots);
    const applyRing = new SyncApplyRing(undefined, options.sync?.applySlots);
    changes.setCapture(options.sync?.capture ?? false);
    const init: DispatcherWorkerInit = {
      spec,
      tun: options.tun,
      tableBuffer: table.buffer as SharedArrayBuffer,
      dropsBuffer,
      statsBuffer,
      controlBuffer: ring.buffer,
      syncChangesBuffer: changes.buffer,
      syncApplyBuffer: applyRing.buffer,
      seed: options.seed,
    };
    const worker = options.spawnWorker();
    const messages: { waiters: ((m: DispatcherWorkerMessage) => void)[] } = { waiters: [] };
    worker.onmessage = (event) => {
      const message = event.data as DispatcherWorkerMessage;
      for (const w of messages.waiters.splice(0)) w(message);
      if (message.type === "error") options.log.error("Packet worker failed", { reason: message.message });
    };
    worker.onerror = (event) => {
      const message: DispatcherWorkerMessage = { type: "error", message: event.message ?? "unknown worker error" };
      for (const w of messages.waiters.splice(0)) w(message);
    };
    const first = new Promise<DispatcherWorkerMessage>((resolve) => messages.waiters.push(resolve));
    worker.postMessage(init);
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const reply = await Promise.race([
      first,
      new Promise<DispatcherWorkerMessage>((resolve) => {
        timer = setTimeout(() => resolve({ type: "error", message: `no answer within ${timeoutMs} ms` }), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (reply.type !== "ready") {
      worker.terminate();
      throw new Error(`Cannot start the packet engine: ${reply.type === "error" ? reply.message : "it stopped at once"}`);
    }
    // The worker's clock: epoch-based monotonic ms, the same scale as the table's times.
    const sync = new SyncEndpoint({
      table, spec, changes, apply: applyRing,
      generation: options.sync?.generation ?? Math.imul(options.seed | 0, 0x9e3779b1) >>> 0,
      nowMs: syncClockMs,
    });
    return new DispatcherEngine(worker, ring, table, new DropCounters(dropsBuffer), new DispatchStats(serverCounts, statsBuffer), spec, options.log, messages, sync, reply.tun);
  }

  /** Changes a server's weight (applies to new connections). */
  setWeight(service: number, server: number, weight: number): void {
    this.command(ControlOp.SetWeight, service, server, weight);
  }

  /** Sets the adaptive controller's weight of a server (the `adaptive` scheduler's effective weight). */
  setAdaptiveWeight(service: number, server: number, weight: number): void {
    this.command(ControlOp.SetAdaptiveWeight, service, server, weight);
  }

  /** Changes a server's administrative state. */
  setAdmin(service: number, server: number, admin: AdminState): void {
    this.command(ControlOp.SetAdmin, service, server, ADMIN_STATES.indexOf(admin));
  }

  /** Marks a server up or down. */
  setUp(service: number, server: number, up: boolean): void {
    this.command(ControlOp.SetUp, service, server, up ? 1 : 0);
  }

  /** Starts or stops capturing connection changes in the Worker (on for the active node). */
  setSyncCapture(on: boolean): void {
    this.sync.setCapture(on);
  }

  /** True once captured changes were lost to a full ring: the peer needs a full resync. */
  get syncNeedsFullResync(): boolean {
    return this.sync.needsFullResync;
  }

  /**
   * Encodes up to `maxEntries` captured changes (at most `SYNC_MAX_ENTRIES`) into one batch body
   * in `out`, reading the entries from the shared table now; `bytes` is 0 when nothing is queued
   * and `more` says another call has work. See `SyncEndpoint.drainChanges`.
   */
  drainSyncChanges(out: Uint8Array, maxEntries?: number, created?: Float64Array): SyncEncoded {
    return this.sync.drainChanges(out, maxEntries, created);
  }

  /** Starts a full-table walk for a (re)joining standby; clears "needs full resync". */
  fullSyncCursor(): FullSyncCursor {
    return this.sync.fullSyncCursor();
  }

  /** Encodes the next batch of the full walk at `cursor` into `out`; `bytes` 0 once done. The caller paces the calls. */
  encodeFullSync(cursor: FullSyncCursor, out: Uint8Array, maxEntries?: number): SyncEncoded {
    return this.sync.encodeFullSync(cursor, out, maxEntries);
  }

  /**
   * Decodes a received batch body and queues it for the Worker's table; "busy" means the apply
   * ring is full and nothing was queued: retry the same body later. Never throws on any input.
   */
  applySyncBody(bytes: Uint8Array, length: number): SyncApplied {
    return this.sync.applyBody(bytes, length);
  }

  /** The clock of the table's times (and of `SyncEncoded` creation times): epoch-based monotonic ms. */
  syncClockMs(): number {
    return syncClockMs();
  }

  /** The apply ring's position after the last `applySyncBody`, for `syncAppliedThrough`. */
  get syncQueuedPosition(): number {
    return this.sync.queuedPosition;
  }

  /** Whether the Worker's table holds everything queued up to `position`. */
  syncAppliedThrough(position: number): boolean {
    return this.sync.appliedThrough(position);
  }

  /** Sync counters of the table side (capture, encode, apply). */
  syncSnapshot(): SyncSnapshot {
    return this.sync.snapshot();
  }

  private command(op: number, a: number, b: number, c: number): void {
    if (!this.ring.send(op, a, b, c)) this.log.error("Packet worker command ring is full: command dropped", { op });
  }

  /** Reads the data plane's counters from shared memory (no message to the Worker). */
  snapshot(): DispatcherSnapshot {
    const t = this.table.stats();
    const v = this.stats.values;
    return {
      connections: t.count,
      tableCapacity: t.capacity,
      refused: t.refused,
      evicted: t.evicted,
      drops: this.drops.snapshot(),
      sync: this.sync.snapshot(),
      services: this.spec.services.map((s, si) => ({
        name: s.name,
        connections: v[this.stats.serviceSlot(si, StatField.Connections)]!,
        packetsIn: v[this.stats.serviceSlot(si, StatField.PacketsIn)]!,
        packetsOut: v[this.stats.serviceSlot(si, StatField.PacketsOut)]!,
        bytesIn: v[this.stats.serviceSlot(si, StatField.BytesIn)]!,
        bytesOut: v[this.stats.serviceSlot(si, StatField.BytesOut)]!,
        dropped: v[this.stats.serviceSlot(si, StatField.Dropped)]!,
        responseTimeSumMs: v[this.stats.serviceSlot(si, StatField.ResponseTimeSumMs)]!,
        responseTimes: v[this.stats.serviceSlot(si, StatField.ResponseTimes)]!,
        servers: s.servers.map((r, ri) => ({
          name: r.name,
          connections: v[this.stats.serverSlot(si, ri, StatField.Connections)]!,
          packetsIn: v[this.stats.serverSlot(si, ri, StatField.PacketsIn)]!,
          packetsOut: v[this.stats.serverSlot(si, ri, StatField.PacketsOut)]!,
          bytesIn: v[this.stats.serverSlot(si, ri, StatField.BytesIn)]!,
          bytesOut: v[this.stats.serverSlot(si, ri, StatField.BytesOut)]!,
          refused: v[this.stats.serverSlot(si, ri, StatField.Refused)]!,
          timeouts: v[this.stats.serverSlot(si, ri, StatField.Timeouts)]!,
          resets: v[this.stats.serverSlot(si, ri, StatField.Resets)]!,
          responseTimeSumMs: v[this.stats.serverSlot(si, ri, StatField.ResponseTimeSumMs)]!,
          responseTimes: v[this.stats.serverSlot(si, ri, StatField.ResponseTimes)]!,
        })),
      })),
    };
  }

  /** Stops the packet loop (the TUN device goes with it); terminates the Worker if it does not answer. */
  stop(timeoutMs = 5000): Promise<LoopCounters> {
    this.stopped ??= new Promise<LoopCounters>((resolve) => {
      const timer = setTimeout(() => {
        this.worker.terminate();
        resolve({ read: 0, written: 0, writeErrors: 0, wakeups: 0 });
      }, timeoutMs);
      this.messages.waiters.push((m) => {
        if (m.type !== "stopped") return;
        clearTimeout(timer);
        this.worker.terminate();
        resolve(m.counters);
      });
      this.command(ControlOp.Stop, 0, 0, 0);
    });
    return this.stopped;
  }
}
