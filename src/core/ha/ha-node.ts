/**
 * The HA node state machine of a cold-standby pair (heartbeat v1 and keepalived in spirit), as a
 * pure function: `stepHaNode(state, input)` returns the next state and the actions the engine
 * carries out. It holds no timers and reads no clock; every input carries a monotonic `nowMs`,
 * and the engine sends `tick` often (every keepalive/4 or so).
 *
 * Rules, in short (tie-breaks are shared by both nodes, see `ha-ranking.ts`):
 * 1. A node starts as `starting`. Hearing an active peer makes it standby; when neither is
 *    active, the election winner (higher priority, then the lexicographically smaller name;
 *    witnesses first once neither is starting) claims the VIPs and the other becomes standby.
 *    With no peer heard within initdead, it serves alone (if it reaches a witness).
 * 2. Links are late after warntime and down after deadtime of silence (events only); the peer is
 *    dead when every link has been silent for deadtime.
 * 3. A standby takes over from a dead peer only when it reaches a witness (or none is
 *    configured), after a successful fence if one is configured.
 * 4. When both are active, the node handing over loses, else the lower priority, else the larger
 *    name; the loser releases quietly, the keeper repeats its gratuitous ARPs.
 * 5. Planned switchover: the active sets `handover`; an eligible standby (witness, synced) claims;
 *    the old active, seeing it active, releases. A standby asks for it with `wantActive`.
 * 6. auto_failback: a returning higher-priority standby asks for the VIPs once synced (not after
 *    an operator's or the peer's switchover away from it: that choice sticks).
 * 7. An active node that loses its witnesses hands over to a peer that reaches one.
 * 8. Sync gates planned handovers only, never a takeover from a dead peer.
 */

import type { TandemConfig } from "../config/resolve-config.ts";
import { decide, finishFence, finishRelease, finishTakeover, requestTakeover, runTimers, startHandover } from "./ha-decide.ts";
import type { HaInput, HaNodeDescription, HaNodeOptions, HaNodeState, HaOwnStatus, HaStep } from "./ha-node-types.ts";
import { beginStep, emit, livePeer, witnessOk, type StepContext } from "./ha-step-context.ts";
import { hearPeer, watchLiveness } from "./link-watch.ts";

/** How many deadtimes a planned handover or takeover request may wait for the peer. */
export const HANDOVER_TIMEOUT_DEADTIMES = 10;

/**
 * The machine's options for `node` from a resolved config. Contract: `node` is an entry of
 * `config.node`; the other entry, if any, is the peer.
 */
export function haNodeOptionsFromConfig(config: TandemConfig, node: TandemConfig["node"][number]): HaNodeOptions {
  const hb = config.heartbeat;
  return {
    name: node.name,
    priority: node.priority,
    peerName: config.node.find((n) => n.name !== node.name)?.name,
    linkCount: hb.links.length,
    warntimeMs: hb.warntime,
    deadtimeMs: hb.deadtime,
    initdeadMs: hb.initdead,
    autoFailback: hb.auto_failback,
    witnesses: hb.ping_nodes.length > 0,
    fence: hb.fence !== undefined,
    garpRepeatAfterMs: hb.garp.repeat_after,
    handoverTimeoutMs: HANDOVER_TIMEOUT_DEADTIMES * hb.deadtime,
  };
}

/** A node just started at monotonic time `nowMs`: role `starting`, peer unknown, no witness yet. */
export function createHaNode(options: HaNodeOptions, nowMs: number): HaNodeState {
  return {
    options,
    startedMs: nowMs,
    nowMs,
    role: "starting",
    roleSinceMs: nowMs,
    roleReason: "started",
    transition: "none",
    transitionReason: "",
    witnessReachable: false,
    witnessKnown: false,
    synced: false,
    handover: false,
    handoverCause: undefined,
    handoverSinceMs: nowMs,
    wantActive: false,
    wantActiveSinceMs: nowMs,
    autoFailbackArmed: true,
    autoFailbackAfterMs: nowMs,
    fenced: false,
    fenceRetryAtMs: undefined,
    garpRepeatAtMs: undefined,
    peer: { liveness: "unknown", sinceMs: nowMs, name: options.peerName, status: undefined, firstHeardMs: undefined, lastHeardMs: undefined },
    links: Array.from({ length: options.linkCount }, () => ({ lastHeardMs: undefined, health: "unknown" as const })),
    noted: { refused: undefined, splitBrain: false, handoverWaiting: undefined, sameName: false, ignoreWantActive: false },
  };
}

/**
 * Feeds one input and returns the next state and the actions to carry out in order. Contract:
 * pure (the argument is not modified); duplicate inputs produce no duplicate effects; at most one
 * `sendHeartbeatNow`, last.
 */
export function stepHaNode(state: HaNodeState, input: HaInput): HaStep {
  const ctx = beginStep(state, input.nowMs);
  // Time passes before the input is applied, so a silence is judged as of this moment.
  watchLiveness(ctx);
  applyInput(ctx, input);
  runTimers(ctx);
  for (let round = 0; round < 3 && decide(ctx); round++);
  if (ctx.announce) ctx.out.push({ type: "sendHeartbeatNow" });
  return { state: ctx.s, actions: ctx.out };
}

function applyInput(ctx: StepContext, input: HaInput): void {
  const s = ctx.s;
  switch (input.type) {
    case "tick":
      return;
    case "peerHeartbeat":
      hearPeer(ctx, input.link, input.msg);
      return;
    case "witness":
      return onWitness(ctx, input.reachable);
    case "command":
      return input.command === "standby" ? onStandbyCommand(ctx) : onTakeoverCommand(ctx);
    case "syncStatus":
      if (s.synced !== input.synced) ctx.announce = true;
      s.synced = input.synced;
      return;
    case "fenceResult":
      return finishFence(ctx, input.ok, input.detail);
    case "takeoverDone":
      return finishTakeover(ctx);
    case "releaseDone":
      return finishRelease(ctx);
  }
}

function onWitness(ctx: StepContext, reachable: boolean): void {
  const s = ctx.s;
  const changed = !s.witnessKnown || s.witnessReachable !== reachable;
  s.witnessKnown = true;
  s.witnessReachable = reachable;
  if (!changed || !s.options.witnesses) return;
  ctx.announce = true;
  if (reachable) emit(ctx, "witness-ok", "info", "A witness is reachable", { role: s.role });
  else emit(ctx, "witness-lost", "warn", "No witness is reachable", { role: s.role });
}

function ignoreCommand(ctx: StepContext, command: string, why: string): void {
  emit(ctx, "command-ignored", "warn", `Command "${command}" ignored: ${why}`, { command, reason: why, role: ctx.s.role });
}

function onStandbyCommand(ctx: StepContext): void {
  const s = ctx.s;
  if (s.role !== "active") return ignoreCommand(ctx, "standby", `this node is ${s.role}, not active`);
  if (s.transition === "releasing") return ignoreCommand(ctx, "standby", "the VIPs are being released already");
  if (s.handover) return ignoreCommand(ctx, "standby", "a handover is in progress already");
  if (!livePeer(s)) return ignoreCommand(ctx, "standby", "no live peer to hand over to");
  startHandover(ctx, "command", "operator command");
}

function onTakeoverCommand(ctx: StepContext): void {
  const s = ctx.s;
  if (s.role === "active") return ignoreCommand(ctx, "takeover", "this node is active already");
  if (s.transition !== "none") return ignoreCommand(ctx, "takeover", "a takeover is in progress already");
  if (s.wantActive) return ignoreCommand(ctx, "takeover", "a takeover request is pending already");
  if (!livePeer(s)) return ignoreCommand(ctx, "takeover", "the peer is not alive (a takeover from a dead peer needs no command)");
  requestTakeover(ctx, "operator command");
}

/** This node's status for its outgoing heartbeats. */
export function ownStatus(state: HaNodeState): HaOwnStatus {
  return {
    node: state.options.name,
    priority: state.options.priority,
    role: state.role,
    flags: { witnessOk: witnessOk(state), handover: state.handover, wantActive: state.wantActive, synced: state.synced },
  };
}

/** The state for the API at monotonic time `nowMs`: roles, flags, peer and per-link ages. */
export function describeHaNode(state: HaNodeState, nowMs: number): HaNodeDescription {
  const age = (ms: number | undefined) => (ms === undefined ? null : Math.max(0, nowMs - ms));
  const status = state.peer.status;
  return {
    node: state.options.name,
    priority: state.options.priority,
    role: state.role,
    roleSinceMs: state.roleSinceMs,
    roleReason: state.roleReason,
    transition: state.transition,
    flags: ownStatus(state).flags,
    peer: {
      name: state.peer.name ?? null,
      liveness: state.peer.liveness,
      sinceMs: state.peer.sinceMs,
      role: status?.role ?? null,
      priority: status?.priority ?? null,
      flags: status?.flags ?? null,
      generation: status?.generation ?? null,
      lastHeardAgeMs: age(state.peer.lastHeardMs),
      links: state.links.map((link, i) => ({ link: i, health: link.health, lastHeardAgeMs: age(link.lastHeardMs) })),
    },
  };
}
