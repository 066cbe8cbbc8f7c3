/**
 * A two-node test harness for the HA state machine: two machines, each with a fake engine (periodic
 * heartbeats and ticks, claims and releases that take time, a fence), wired through a fake network
 * of links that can be cut, all driven by a fake clock. Runs a minute of failover in milliseconds.
 */

import { createHaNode, ownStatus, stepHaNode } from "../../../../src/core/ha/ha-node.ts";
import type { HaAction, HaEvent, HaEventType, HaInput, HaNodeOptions, HaNodeState } from "../../../../src/core/ha/ha-node-types.ts";

/** Timers of the fake pair, in ms; the defaults keep tests short and readable. */
export interface PairTiming {
  keepaliveMs: number;
  tickMs: number;
  warntimeMs: number;
  deadtimeMs: number;
  initdeadMs: number;
  latencyMs: number;
  claimMs: number;
  releaseMs: number;
  fenceMs: number;
  witnessReportMs: number;
  garpRepeatAfterMs: number;
}

/** The default timing: keepalive 100, warntime 300, deadtime 500, initdead 1000. */
export const TIMING: PairTiming = {
  keepaliveMs: 100,
  tickMs: 25,
  warntimeMs: 300,
  deadtimeMs: 500,
  initdeadMs: 1000,
  latencyMs: 1,
  claimMs: 20,
  releaseMs: 10,
  fenceMs: 30,
  witnessReportMs: 5,
  garpRepeatAfterMs: 2000,
};

/** One node's settings in the harness. */
export interface SimNodeSpec {
  name: string;
  priority: number;
  autoFailback?: boolean;
  /** Whether ping nodes are configured (then the fake engine reports `witnessUp`). */
  witnesses?: boolean;
  /** Whether the fake fence succeeds; undefined means no fence configured. */
  fenceOk?: boolean;
}

/** A recorded action, stamped with the fake time it was returned at. */
export interface Recorded {
  atMs: number;
  action: HaAction;
}

/** One node: its machine, its fake engine's facts, and everything it did. */
export class SimNode {
  state: HaNodeState | undefined;
  alive = false;
  /** Bumped on every start, so that callbacks of a dead incarnation do nothing. */
  incarnation = 0;
  /** The generation this incarnation announces in its heartbeats. */
  generation = 0;
  witnessUp = true;
  holdsVips = false;
  readonly log: Recorded[] = [];
  readonly options: HaNodeOptions;

  constructor(readonly spec: SimNodeSpec, timing: PairTiming, linkCount: number, peerName: string) {
    this.options = {
      name: spec.name,
      priority: spec.priority,
      peerName,
      linkCount,
      warntimeMs: timing.warntimeMs,
      deadtimeMs: timing.deadtimeMs,
      initdeadMs: timing.initdeadMs,
      autoFailback: spec.autoFailback ?? true,
      witnesses: spec.witnesses ?? false,
      fence: spec.fenceOk !== undefined,
      garpRepeatAfterMs: timing.garpRepeatAfterMs,
      handoverTimeoutMs: 10 * timing.deadtimeMs,
    };
  }

  get name(): string {
    return this.spec.name;
  }

  /** The machine's role; "down" while the node is killed. */
  get role(): string {
    return this.alive && this.state ? this.state.role : "down";
  }

  /** The effects asked for since `sinceMs`: actions other than events and heartbeats. */
  effects(sinceMs = 0): HaAction[] {
    return this.log.filter((r) => r.atMs >= sinceMs && r.action.type !== "event" && r.action.type !== "sendHeartbeatNow").map((r) => r.action);
  }

  /** Events recorded since `sinceMs`, optionally of one type. */
  events(type?: HaEventType, sinceMs = 0): HaEvent[] {
    return this.log.flatMap((r) => (r.action.type === "event" && r.atMs >= sinceMs && (type === undefined || r.action.event.type === type) ? [r.action.event] : []));
  }
}

interface Scheduled {
  atMs: number;
  seq: number;
  run: () => void;
}

/** The fake pair: clock, event queue, links, and the two nodes' engines. */
export class Pair {
  nowMs = 0;
  readonly nodes: [SimNode, SimNode];
  /** cut[link][from] is true when messages from node `from` on `link` are lost. */
  readonly cut: boolean[][];
  /** Called after every callback the clock runs, to check invariants as time passes. */
  observer: (() => void) | undefined;
  private queue: Scheduled[] = [];
  private seq = 0;
  private generation = 1;

  constructor(
    a: SimNodeSpec,
    b: SimNodeSpec,
    readonly linkCount = 2,
    readonly timing: PairTiming = TIMING,
  ) {
    this.nodes = [new SimNode(a, timing, linkCount, b.name), new SimNode(b, timing, linkCount, a.name)];
    this.cut = Array.from({ length: linkCount }, () => [false, false]);
  }

  /** Node by name. */
  node(name: string): SimNode {
    const node = this.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`Test bug: no node "${name}"`);
    return node;
  }

  /** Roles of both nodes as "a:active b:standby". */
  roles(): string {
    return this.nodes.map((n) => `${n.name}:${n.role}`).join(" ");
  }

  /** Names of the nodes whose role is active. */
  actives(): string[] {
    return this.nodes.filter((n) => n.role === "active").map((n) => n.name);
  }

  /** Starts (or restarts) a node now: a fresh machine with a newer generation. */
  start(name: string): void {
    const node = this.node(name);
    node.incarnation++;
    node.alive = true;
    node.holdsVips = false;
    node.state = createHaNode(node.options, this.nowMs);
    node.generation = this.generation++;
    const inc = node.incarnation;
    const live = () => node.alive && node.incarnation === inc;
    this.every(this.timing.keepaliveMs, live, () => this.sendHeartbeat(node));
    this.every(this.timing.tickMs, live, () => this.feed(node, { type: "tick", nowMs: this.nowMs }));
    if (node.options.witnesses) this.at(this.nowMs + this.timing.witnessReportMs, () => live() && this.feed(node, { type: "witness", nowMs: this.nowMs, reachable: node.witnessUp }));
  }

  /** Kills a node: it stops sending, hearing and acting, and loses its addresses. */
  kill(name: string): void {
    const node = this.node(name);
    node.alive = false;
    node.holdsVips = false;
  }

  /** Cuts (or heals) `link` in both directions, or only from `from`. */
  setCut(link: number, isCut: boolean, from?: string): void {
    for (const [i, node] of this.nodes.entries()) if (from === undefined || node.name === from) this.cut[link]![i] = isCut;
  }

  /** Whether both nodes are up and every link carries messages both ways. */
  healthy(): boolean {
    return this.nodes.every((n) => n.alive) && this.cut.every((link) => !link[0] && !link[1]);
  }

  /** Cuts or heals every link in both directions. */
  setAllCut(isCut: boolean): void {
    for (let link = 0; link < this.linkCount; link++) this.setCut(link, isCut);
  }

  /** Sets a node's witness reachability; its engine reports it at once when witnesses are configured. */
  setWitness(name: string, up: boolean): void {
    const node = this.node(name);
    node.witnessUp = up;
    if (node.alive && node.options.witnesses) this.feed(node, { type: "witness", nowMs: this.nowMs, reachable: up });
  }

  /** Feeds a syncStatus input to a node now. */
  setSynced(name: string, synced: boolean): void {
    const node = this.node(name);
    if (node.alive) this.feed(node, { type: "syncStatus", nowMs: this.nowMs, synced });
  }

  /** Feeds an operator command to a node now. */
  command(name: string, command: "standby" | "takeover"): void {
    this.feed(this.node(name), { type: "command", nowMs: this.nowMs, command });
  }

  /** Runs every scheduled callback up to and including `untilMs`, then sets the clock to it. */
  runUntil(untilMs: number): void {
    for (;;) {
      let best = -1;
      for (let i = 0; i < this.queue.length; i++) {
        const q = this.queue[i]!;
        const b = this.queue[best];
        if (q.atMs <= untilMs && (b === undefined || q.atMs < b.atMs || (q.atMs === b.atMs && q.seq < b.seq))) best = i;
      }
      if (best < 0) break;
      const [next] = this.queue.splice(best, 1);
      this.nowMs = next!.atMs;
      next!.run();
      this.observer?.();
    }
    this.nowMs = untilMs;
  }

  /** Runs for `ms` more. */
  run(ms: number): void {
    this.runUntil(this.nowMs + ms);
  }

  /** Feeds one input to a live node and carries out its actions like an engine would. */
  feed(node: SimNode, input: HaInput): void {
    if (!node.alive || !node.state) return;
    const { state, actions } = stepHaNode(node.state, input);
    node.state = state;
    for (const action of actions) {
      node.log.push({ atMs: this.nowMs, action });
      this.carryOut(node, action);
    }
  }

  private carryOut(node: SimNode, action: HaAction): void {
    const inc = node.incarnation;
    const live = () => node.alive && node.incarnation === inc;
    const later = (ms: number, input: (nowMs: number) => HaInput, effect = () => {}) =>
      this.at(this.nowMs + ms, () => {
        if (!live()) return;
        effect();
        this.feed(node, input(this.nowMs));
      });
    switch (action.type) {
      case "claimVips":
        return later(this.timing.claimMs, (nowMs) => ({ type: "takeoverDone", nowMs }), () => (node.holdsVips = true));
      case "releaseVips":
        return later(this.timing.releaseMs, (nowMs) => ({ type: "releaseDone", nowMs }), () => (node.holdsVips = false));
      case "runFence":
        return later(this.timing.fenceMs, (nowMs) => ({ type: "fenceResult", nowMs, ok: node.spec.fenceOk === true, detail: node.spec.fenceOk ? "" : "exit status 1" }));
      case "sendHeartbeatNow":
        return this.sendHeartbeat(node);
      case "garp":
      case "event":
        return;
    }
  }

  private sendHeartbeat(node: SimNode): void {
    if (!node.alive || !node.state) return;
    const from = this.nodes.indexOf(node);
    const peer = this.nodes[1 - from]!;
    const own = ownStatus(node.state);
    const msg = { node: own.node, generation: node.generation, role: own.role, priority: own.priority, flags: own.flags, vips: node.holdsVips ? 1 : 0, syncPosition: 0 };
    for (let link = 0; link < this.linkCount; link++) {
      if (this.cut[link]![from]) continue;
      this.at(this.nowMs + this.timing.latencyMs, () => this.feed(peer, { type: "peerHeartbeat", nowMs: this.nowMs, link, msg }));
    }
  }

  private at(atMs: number, run: () => void): void {
    this.queue.push({ atMs, seq: this.seq++, run });
  }

  private every(periodMs: number, live: () => boolean, run: () => void): void {
    const loop = () => {
      if (!live()) return;
      run();
      this.at(this.nowMs + periodMs, loop);
    };
    this.at(this.nowMs, loop);
  }
}
