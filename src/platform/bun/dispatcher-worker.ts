/**
 * Entry point of the packet Worker under Bun: opens the TUN queue, builds the dispatcher over the
 * shared memory the main thread allocated, and runs the packet loop until told to stop. Must be
 * listed as an extra entry point of `bun build --compile` (see the justfile).
 */
import { ConnTable } from "../../core/nat/conn-table.ts";
import { Dispatcher } from "../../core/nat/dispatcher.ts";
import { DropCounters } from "../../core/packet/drop-reason.ts";
import { ADMIN_STATES, ControlOp, ControlRing } from "../../engine/control-ring.ts";
import type { DispatcherWorkerInit, DispatcherWorkerMessage } from "../../engine/dispatcher-engine.ts";
import { runPacketLoop } from "../../engine/packet-loop.ts";
import { SyncApplyRing, SyncChangeRing, SyncChangeWriter, SyncPump } from "../../engine/sync-ring.ts";
import { openTun } from "./tun-device.ts";

declare const self: { onmessage: ((event: MessageEvent) => void) | null; postMessage(message: DispatcherWorkerMessage): void };

self.onmessage = (event: MessageEvent) => {
  self.onmessage = null;
  const init = event.data as DispatcherWorkerInit;
  let device: ReturnType<typeof openTun>;
  try {
    device = openTun({ name: init.tun.name, vnetHdr: init.tun.vnetHdr, offload: init.tun.offload });
  } catch (error) {
    self.postMessage({ type: "error", message: (error as Error).message });
    return;
  }
  const dispatcher = new Dispatcher(init.spec, {
    table: ConnTable.attach(init.tableBuffer),
    drops: new DropCounters(init.dropsBuffer),
    statsBuffer: init.statsBuffer,
    seed: init.seed,
  });
  const ring = new ControlRing(init.controlBuffer);
  const changes = new SyncChangeRing(init.syncChangesBuffer);
  const sync = new SyncPump(dispatcher, changes, new SyncChangeWriter(changes, dispatcher.table), new SyncApplyRing(init.syncApplyBuffer));
  let stop = false;
  const apply = (op: number, a: number, b: number, c: number) => {
    if (op === ControlOp.Stop) stop = true;
    else if (op === ControlOp.SetWeight) dispatcher.setWeight(a, b, c);
    else if (op === ControlOp.SetAdmin) dispatcher.setAdmin(a, b, ADMIN_STATES[c] ?? "active");
    else if (op === ControlOp.SetUp) dispatcher.setUp(a, b, c !== 0);
    else if (op === ControlOp.SetAdaptiveWeight) dispatcher.setAdaptiveWeight(a, b, c);
  };
  self.postMessage({ type: "ready", tun: device.name });
  // Epoch-based and monotonic within this thread, so entry times mean the same on the main thread.
  const origin = performance.timeOrigin;
  const counters = runPacketLoop(device, dispatcher, () => origin + performance.now(), () => {
    ring.drain(apply);
    return stop;
  }, { sync });
  device.close();
  self.postMessage({ type: "stopped", counters });
};
