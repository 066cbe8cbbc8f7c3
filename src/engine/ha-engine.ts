/**
 * The heartbeat engine: runs the pure HA machine (`src/core/ha/ha-node.ts`) on the main thread
 * with real timers and I/O. It sends an authenticated heartbeat on every link each keepalive,
 * authenticates and de-duplicates what arrives (dropping and counting the rest), pings the
 * witnesses, and carries out the machine's actions: claim or release the VIPs through the data
 * plane, gratuitous ARP bursts, the fence command, events for the store.
 *
 * It never waits on the packet Worker: claiming and releasing are host-plumbing commands, so a
 * saturated dispatcher cannot delay a heartbeat.
 */

import type { TandemConfig } from "../core/config/resolve-config.ts";
import { createHaNode, describeHaNode, haNodeOptionsFromConfig, ownStatus, stepHaNode } from "../core/ha/ha-node.ts";
import type { HaAction, HaEvent, HaInput, HaNodeDescription, HaNodeState, HaRole } from "../core/ha/ha-node-types.ts";
import {
  createHeartbeatAuth,
  decodeHeartbeat,
  encodeHeartbeat,
  FRAME_DROP_REASONS,
  HeartbeatFlag,
  MAX_HEARTBEAT_BYTES,
  type HeartbeatAuth,
  type HeartbeatMessage,
} from "../core/ha/heartbeat-message.ts";
import { ReplayGuard } from "../core/ha/replay-guard.ts";
import { DropBurst } from "../core/ha/drop-burst.ts";
import type { Cancel, Clock, HaNet, HostCommands, Log } from "../core/ports.ts";
import { openHaLinks, type HaLink, type HaLinkCounters } from "./ha-links.ts";

/** Reasons a received heartbeat is dropped besides the codec's own. */
export const HA_DROP_REASONS = [...FRAME_DROP_REASONS, "wrong-link", "self", "unknown-node", "replay", "old-generation", "too-many-nodes"] as const;

/** A reason a received heartbeat was dropped. */
export type HaDropReason = (typeof HA_DROP_REASONS)[number];

/** What the engine needs from the data plane; absent on a node with nothing to serve. */
export interface HaDataPlane {
  readonly claimed: boolean;
  claim(): Promise<{ readonly failures: readonly unknown[] }>;
  release(): Promise<{ readonly failures: readonly unknown[] }>;
}

/** Options of `HaEngine.start`. */
export interface HaEngineOptions {
  readonly config: TandemConfig;
  readonly nodeName: string;
  /** The auth key file's bytes. */
  readonly authKey: Uint8Array;
  /** This process's generation: larger than any earlier run's of this node. */
  readonly generation: number;
  readonly net: HaNet;
  readonly clock: Clock;
  readonly log: Log;
  /** Runs the fence command. */
  readonly commands: HostCommands;
  readonly dataPlane: HaDataPlane | undefined;
  /** Records an event in the store (and nothing else: the engine logs it). */
  readonly onEvent: (event: HaEvent) => void;
  /** Called after every role change, for the status screen and the API. */
  readonly onRole?: (role: HaRole) => void;
  /** The sync position heartbeats carry (last sync batch sent or received); 0 without sync. */
  readonly syncPosition?: () => number;
}

/** The engine's state for the API: the machine's description plus link counters and drops. */
export interface HaSnapshot extends HaNodeDescription {
  readonly generation: number;
  readonly vipsHeld: boolean;
  readonly links: readonly (HaLinkCounters & { readonly index: number; readonly label: string })[];
  readonly drops: Readonly<Record<string, number>>;
  readonly witnesses: readonly { readonly address: string; readonly reachable: boolean; readonly lastReplyAgeMs: number | null }[];
}

/** A running heartbeat engine. */
export class HaEngine {
  private state: HaNodeState;
  private links: HaLink[] = [];
  private readonly auth: HeartbeatAuth;
  private readonly guard = new ReplayGuard();
  private readonly out = new Uint8Array(MAX_HEARTBEAT_BYTES);
  private readonly seq: number[];
  private readonly drops = new Map<HaDropReason, number>();
  private readonly burst = new DropBurst("heartbeat");
  private readonly timers: Cancel[] = [];
  /** One-shot timers still pending, cancelled at stop. */
  private readonly pending = new Set<Cancel>();
  private readonly witnessReplies = new Map<string, number>();
  private readonly peer: TandemConfig["node"][number] | undefined;
  private readonly node: TandemConfig["node"][number];
  private stopped = false;
  /** Inputs queue up while one is being handled, so that actions run in order. */
  private readonly queue: HaInput[] = [];
  private busy = false;

  private constructor(private readonly options: HaEngineOptions) {
    const { config, nodeName } = options;
    this.node = config.node.find((n) => n.name === nodeName)!;
    this.peer = config.node.find((n) => n.name !== nodeName);
    this.auth = createHeartbeatAuth(options.authKey, config.cluster.name);
    this.seq = config.heartbeat.links.map(() => 0);
    // Every takeover from a silent peer is fenced: at least by the VIP check (see `fence`).
    this.state = createHaNode({ ...haNodeOptionsFromConfig(config, this.node), fence: true }, options.clock.monotonicMs());
  }

  /** Opens the links and starts the timers. Rejects (with nothing left open) when a link cannot be opened. */
  static async start(options: HaEngineOptions): Promise<HaEngine> {
    const engine = new HaEngine(options);
    engine.links = await openHaLinks(options.config, engine.node, engine.peer, options.net, (link, bytes, length) => engine.receive(link, bytes, length));
    for (const link of engine.links) options.log.info("Heartbeat link open", { link: link.index, path: link.label });
    const hb = options.config.heartbeat;
    engine.every(hb.keepalive, () => engine.sendHeartbeats());
    engine.every(Math.max(10, Math.min(100, Math.floor(hb.keepalive / 4))), () => {
      const nowMs = options.clock.monotonicMs();
      const summary = engine.burst.tick(nowMs);
      if (summary) engine.emit(summary);
      engine.input({ type: "tick", nowMs });
    });
    if (hb.ping_nodes.length > 0) engine.every(hb.ping_interval, () => engine.pingWitnesses());
    engine.sendHeartbeats();
    engine.input({ type: "tick", nowMs: options.clock.monotonicMs() });
    return engine;
  }

  /** The current role. */
  get role(): HaRole {
    return this.state.role;
  }

  /** An operator's planned switchover (`tandem standby` / `tandem takeover`). */
  command(command: "standby" | "takeover"): void {
    this.input({ type: "command", nowMs: this.options.clock.monotonicMs(), command });
  }

  /** Whether this node's shadow connection table has caught up (from the sync engine). */
  syncStatus(synced: boolean): void {
    if (synced !== this.state.synced) this.input({ type: "syncStatus", nowMs: this.options.clock.monotonicMs(), synced });
  }

  /** The engine's state for the API. */
  snapshot(): HaSnapshot {
    const now = this.options.clock.monotonicMs();
    return {
      ...describeHaNode(this.state, now),
      generation: this.options.generation,
      vipsHeld: this.options.dataPlane?.claimed ?? false,
      links: this.links.map((l) => ({ index: l.index, label: l.label, ...l.counters })),
      drops: Object.fromEntries(this.drops),
      witnesses: this.options.config.heartbeat.ping_nodes.map((address) => {
        const at = this.witnessReplies.get(address);
        return { address, reachable: at !== undefined && now - at <= this.options.config.heartbeat.ping_deadtime, lastReplyAgeMs: at === undefined ? null : now - at };
      }),
    };
  }

  /** Stops timers and closes the links; the data plane is the caller's to stop. */
  stop(): void {
    this.stopped = true;
    for (const cancel of this.timers) cancel();
    for (const cancel of this.pending) cancel();
    for (const link of this.links) link.close();
  }

  private every(intervalMs: number, fn: () => void): void {
    const arm = () => {
      if (this.stopped) return;
      const cancel = this.options.clock.after(intervalMs, () => {
        fn();
        arm();
      });
      this.timers[slot] = cancel;
    };
    const slot = this.timers.length;
    this.timers.push(() => {});
    arm();
  }

  /** Runs `fn` once after `delayMs` unless the engine stops first. */
  private later(delayMs: number, fn: () => void): void {
    const cancel = this.options.clock.after(delayMs, () => {
      this.pending.delete(cancel);
      fn();
    });
    this.pending.add(cancel);
  }

  private countDrop(reason: HaDropReason): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + 1);
    const event = this.burst.drop(reason, this.options.clock.monotonicMs());
    if (event) this.emit(event);
  }

  private emit(event: HaEvent): void {
    this.options.log[event.severity](event.message, { event: event.type, ...event.fields });
    this.options.onEvent(event);
  }

  private receive(link: number, bytes: Uint8Array, length: number): void {
    if (this.stopped) return;
    const decoded = decodeHeartbeat(bytes, length, this.auth);
    if (!decoded.ok) return this.countDrop(decoded.reason);
    const msg = decoded.message;
    // A copy moved to another link would otherwise prove that link alive.
    if (msg.link !== link) return this.countDrop("wrong-link");
    // Broadcast and multicast links hear their own node's messages.
    if (msg.node === this.node.name) return this.countDrop("self");
    if (msg.node !== this.peer?.name) return this.countDrop("unknown-node");
    const verdict = this.guard.accept(msg.node, msg.generation, msg.link, msg.seq);
    if (verdict !== "ok") return this.countDrop(verdict === "unknown" ? "too-many-nodes" : verdict);
    this.input({
      type: "peerHeartbeat",
      nowMs: this.options.clock.monotonicMs(),
      link,
      msg: {
        node: msg.node,
        generation: msg.generation,
        role: msg.role,
        priority: msg.priority,
        vips: msg.vips,
        syncPosition: msg.syncPosition,
        flags: {
          witnessOk: (msg.flags & HeartbeatFlag.WitnessOk) !== 0,
          handover: (msg.flags & HeartbeatFlag.Handover) !== 0,
          wantActive: (msg.flags & HeartbeatFlag.WantActive) !== 0,
          synced: (msg.flags & HeartbeatFlag.Synced) !== 0,
        },
      },
    });
  }

  private sendHeartbeats(): void {
    if (this.stopped) return;
    const own = ownStatus(this.state);
    const flags =
      (own.flags.witnessOk ? HeartbeatFlag.WitnessOk : 0) |
      (own.flags.handover ? HeartbeatFlag.Handover : 0) |
      (own.flags.wantActive ? HeartbeatFlag.WantActive : 0) |
      (own.flags.synced ? HeartbeatFlag.Synced : 0);
    for (const link of this.links) {
      const message: HeartbeatMessage = {
        cluster: this.auth.cluster,
        node: own.node,
        generation: this.options.generation,
        link: link.index,
        seq: ++this.seq[link.index]!,
        wallMs: this.options.clock.wallMs(),
        role: own.role,
        priority: own.priority,
        flags,
        vips: this.options.dataPlane?.claimed ? this.options.config.vip.length : 0,
        syncPosition: Math.max(0, this.options.syncPosition?.() ?? 0),
      };
      const length = encodeHeartbeat(message, this.auth, this.out);
      link.send(this.out, length);
    }
  }

  private pingWitnesses(): void {
    const hb = this.options.config.heartbeat;
    const timeoutMs = Math.min(hb.ping_interval, hb.ping_deadtime);
    for (const address of hb.ping_nodes) {
      void this.options.net.ping(address, timeoutMs).then((ok) => {
        const now = this.options.clock.monotonicMs();
        if (ok) this.witnessReplies.set(address, now);
        const reachable = hb.ping_nodes.some((a) => {
          const at = this.witnessReplies.get(a);
          return at !== undefined && now - at <= hb.ping_deadtime;
        });
        // Until ping_deadtime has passed since start a silent witness is not yet a lost one.
        if (!reachable && now - this.state.startedMs < hb.ping_deadtime && !this.state.witnessKnown) return;
        if (reachable !== this.state.witnessReachable || !this.state.witnessKnown) this.input({ type: "witness", nowMs: now, reachable });
      });
    }
  }

  /** Feeds one input to the machine and carries out its actions, one input at a time. */
  private input(input: HaInput): void {
    if (this.stopped) return;
    this.queue.push(input);
    if (this.busy) return;
    this.busy = true;
    void this.drain().finally(() => {
      this.busy = false;
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.stopped) {
      const input = this.queue.shift()!;
      const before = this.state.role;
      const step = stepHaNode(this.state, input);
      this.state = step.state;
      for (const action of step.actions) await this.act(action);
      if (this.state.role !== before) this.options.onRole?.(this.state.role);
    }
  }

  private async act(action: HaAction): Promise<void> {
    const { log, clock } = this.options;
    switch (action.type) {
      case "event":
        this.emit(action.event);
        return;
      case "sendHeartbeatNow":
        this.sendHeartbeats();
        return;
      case "claimVips": {
        const report = await this.options.dataPlane?.claim();
        if (report && report.failures.length > 0) log.error("The VIPs were claimed only in part", { failures: report.failures.length });
        this.queue.unshift({ type: "takeoverDone", nowMs: clock.monotonicMs() });
        return;
      }
      case "releaseVips": {
        await this.options.dataPlane?.release();
        this.queue.unshift({ type: "releaseDone", nowMs: clock.monotonicMs() });
        return;
      }
      case "garp":
        this.garpBurst(action.burst);
        return;
      case "runFence":
        void this.fence(action.peer);
        return;
    }
  }

  private garpBurst(burst: "first" | "repeat"): void {
    const { config, net, log } = this.options;
    const { count, interval } = config.heartbeat.garp;
    const targets = config.vip.map((v) => ({ address: v.address, device: this.node.interfaces[v.interface]!.device }));
    for (const service of config.service) {
      for (const address of service.local_addresses ?? []) {
        const itf = Object.values(this.node.interfaces).find((i) => sameSubnet(i.address.address, address, i.address.prefix));
        if (itf && !targets.some((t) => t.address === address)) targets.push({ address, device: itf.device });
      }
    }
    let sent = 0;
    const one = () => {
      if (this.stopped || !(this.options.dataPlane?.claimed ?? true)) return;
      for (const t of targets) {
        net.announceArp(t.device, t.address).catch((error: unknown) => log.warn("Cannot send a gratuitous ARP", { address: t.address, device: t.device, reason: (error as Error).message }));
      }
      if (++sent < count) this.later(interval, one);
    };
    log.info("Announcing the VIPs", { burst, addresses: targets.length, count });
    one();
  }

  /**
   * Before taking over from a silent peer: if any VIP still answers ARP from another MAC, the
   * peer is alive and serving but unreachable on every heartbeat link (cut cables), so taking
   * over would split the clients between two nodes; if no witness answers now, this node may be
   * the isolated one. Either way the machine retries after a deadtime. Then the configured fence
   * command, if any.
   */
  /**
   * Why this node must not claim the VIPs now, or undefined when it may: a VIP's interface is
   * down (the node could not serve it, nor see who does), or some other host answers ARP for a
   * VIP. The check uses the kernel's own resolution: the neighbour entry is flushed, a ping makes
   * the kernel ask, and the entry is read back until it resolves or VIP_CHECK_MS pass.
   */
  private async vipInUse(): Promise<string | undefined> {
    const { config, commands, clock } = this.options;
    if (this.options.dataPlane?.claimed) return undefined;
    const targets = config.vip.map((v) => ({ address: v.address, device: this.node.interfaces[v.interface]!.device }));
    const ip = (args: string[]) => commands.run(["ip", ...args]).catch(() => ({ code: -1, stdout: "", stderr: "" }));
    const parse = <T>(text: string): T[] => {
      try {
        return JSON.parse(text || "[]") as T[];
      } catch {
        return [];
      }
    };
    for (const device of new Set(targets.map((t) => t.device))) {
      const link = parse<{ flags?: string[] }>((await ip(["-j", "link", "show", "dev", device])).stdout)[0];
      if (!link?.flags?.includes("LOWER_UP")) return `interface "${device}" of a VIP is down`;
    }
    await Promise.all(targets.map((t) => ip(["neigh", "flush", "to", t.address, "dev", t.device])));
    for (const t of targets) void commands.run(["ping", "-c", "1", "-W", "1", "-I", t.device, t.address]).catch(() => undefined);
    const deadline = clock.monotonicMs() + VIP_CHECK_MS;
    for (;;) {
      for (const t of targets) {
        const entries = parse<{ lladdr?: string; state?: string[] }>((await ip(["-j", "neigh", "show", "to", t.address, "dev", t.device])).stdout);
        const entry = entries.find((e) => e.lladdr && !e.state?.includes("FAILED") && !e.state?.includes("INCOMPLETE"));
        if (entry?.lladdr) return `VIP "${t.address}" still answers ARP from "${entry.lladdr}": the peer serves it but no heartbeat link reaches it`;
      }
      if (clock.monotonicMs() >= deadline) return undefined;
      await new Promise<void>((resolve) => this.later(VIP_CHECK_POLL_MS, resolve));
    }
  }

  /** With witnesses configured: whether one answers a ping now (the periodic state may lag by ping_deadtime). */
  private async witnessNow(): Promise<boolean> {
    const { ping_nodes } = this.options.config.heartbeat;
    if (ping_nodes.length === 0) return true;
    const answers = await Promise.all(ping_nodes.map((a) => this.options.net.ping(a, WITNESS_CHECK_MS)));
    return answers.some(Boolean);
  }

  private async fence(peer: string): Promise<void> {
    const { config, commands, clock } = this.options;
    const [inUse, witness] = await Promise.all([this.vipInUse(), this.witnessNow()]);
    const refusal = inUse ?? (witness ? undefined : "no witness answers a ping now");
    if (refusal !== undefined) {
      this.options.log.warn("Takeover held back", { peer, reason: refusal });
      this.input({ type: "fenceResult", nowMs: clock.monotonicMs(), ok: false, detail: refusal });
      return;
    }
    const fence = config.heartbeat.fence;
    if (fence === undefined) {
      this.input({ type: "fenceResult", nowMs: clock.monotonicMs(), ok: true, detail: "no VIP answers from another host" });
      return;
    }
    let ok = false;
    let detail: string;
    try {
      const run = commands.run([...fence.command]);
      const timeout = new Promise<"timeout">((resolve) => this.later(fence.timeout, () => resolve("timeout")));
      const result = await Promise.race([run, timeout]);
      if (result === "timeout") detail = `timed out after ${fence.timeout} ms`;
      else {
        ok = result.code === 0;
        detail = ok ? "exit 0" : `exit ${result.code}: ${result.stderr.trim().slice(0, 200)}`;
      }
    } catch (error) {
      detail = (error as Error).message;
    }
    this.options.log[ok ? "info" : "error"]("Fence finished", { peer, ok, detail });
    this.input({ type: "fenceResult", nowMs: clock.monotonicMs(), ok, detail });
  }
}

/** How long the VIP check waits for an ARP answer: the peer's proxy ARP answers at once (proxy_delay 0). */
const VIP_CHECK_MS = 150;
const VIP_CHECK_POLL_MS = 20;
/** How long the takeover's fresh witness ping waits. */
const WITNESS_CHECK_MS = 300;

function sameSubnet(a: string, b: string, prefix: number): boolean {
  const n = (s: string) => s.split(".").reduce((x, o) => x * 256 + Number(o), 0);
  const size = 2 ** (32 - prefix);
  return Math.floor(n(a) / size) === Math.floor(n(b) / size);
}
