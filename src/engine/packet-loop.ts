import { Verdict, type Dispatcher } from "../core/nat/dispatcher.ts";

/** What the packet loop needs of a device (the `PacketDevice` port satisfies it). */
export interface LoopDevice {
  readonly vnetHdr: boolean;
  /** One packet into `buf` from offset 0: its length, 0 when none is ready, -1 when the device is gone. */
  read(buf: Uint8Array): number;
  /** Writes `buf[0, length)` as one packet; returns bytes written or -1. */
  write(buf: Uint8Array, length: number): number;
  /** Waits up to `timeoutMs` for a packet; true when one is ready. */
  waitReadable(timeoutMs: number): boolean;
}

/** Tunables of the loop; the defaults suit a 2-core appliance. */
export interface PacketLoopOptions {
  /** Packets handled per wake-up before housekeeping runs (bounds latency of control messages). */
  readonly batch?: number;
  /** Longest blocking wait for packets; also the idle housekeeping period. */
  readonly pollMs?: number;
  /** Minimum interval between connection-table expiry passes. */
  readonly expireEveryMs?: number;
  /** Work budget of one expiry pass (entries looked at). */
  readonly expireBudget?: number;
  /** Connection-state sync, run after every batch and idle poll (see `SyncPump`). */
  readonly sync?: { pump(nowMs: number): void };
}

/** Counters of the loop itself, beside the dispatcher's own. */
export interface LoopCounters {
  read: number;
  written: number;
  writeErrors: number;
  wakeups: number;
}

/**
 * Runs the dispatcher over `device` until `control()` returns true (stop) or the device goes
 * away. Decision stays in the dispatcher; this loop only moves bytes, keeps time and does
 * housekeeping. It blocks the calling thread in short polls and never yields, so it must run in
 * its own Worker; `control` is called between batches to apply commands from the main thread.
 */
export function runPacketLoop(
  device: LoopDevice,
  dispatcher: Dispatcher,
  monotonicMs: () => number,
  control: () => boolean,
  options: PacketLoopOptions = {},
  counters: LoopCounters = { read: 0, written: 0, writeErrors: 0, wakeups: 0 },
): LoopCounters {
  const batch = options.batch ?? 256;
  const pollMs = options.pollMs ?? 20;
  const expireEveryMs = options.expireEveryMs ?? 100;
  const expireBudget = options.expireBudget ?? 8192;
  const sync = options.sync;
  // 64 KiB super-packets plus the virtio header, with room to spare.
  const buf = new Uint8Array(65536 + 64);
  const vnet = device.vnetHdr;
  let lastExpire = monotonicMs();
  while (!control()) {
    const ready = device.waitReadable(pollMs);
    const now = monotonicMs();
    if (ready) {
      counters.wakeups++;
      for (let n = 0; n < batch; n++) {
        const length = device.read(buf);
        if (length <= 0) {
          if (length < 0) return counters;
          break;
        }
        counters.read++;
        const verdict = vnet ? dispatcher.processFrame(buf, length, now) : dispatcher.process(buf, 0, length, now);
        if (verdict !== Verdict.Drop) {
          if (device.write(buf, length) === length) counters.written++;
          else counters.writeErrors++;
        }
      }
    }
    if (now - lastExpire >= expireEveryMs) {
      dispatcher.expire(now, expireBudget);
      lastExpire = now;
    }
    // After expiry, so this round's removals are published with the batch's changes.
    if (sync !== undefined) sync.pump(now);
  }
  return counters;
}
