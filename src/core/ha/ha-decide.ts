/**
 * The rules of the HA node: who claims the VIPs and when, how a planned handover proceeds, and
 * how a split brain ends. They read the step's draft state and append actions; the effects
 * themselves (addresses, ARP, fencing) belong to the engine.
 */

import type { HandoverCause, PeerStatus } from "./ha-node-types.ts";
import { electionWinner, splitBrainKeeper, type RankedNode } from "./ha-ranking.ts";
import { emit, livePeer, peerName, setRole, witnessOk, type HaDraft, type StepContext } from "./ha-step-context.ts";

function rankSelf(s: HaDraft): RankedNode {
  return { name: s.options.name, priority: s.options.priority, witnessOk: witnessOk(s), handover: s.handover };
}

function rankPeer(peer: PeerStatus): RankedNode {
  return { name: peer.node, priority: peer.priority, witnessOk: peer.flags.witnessOk, handover: peer.flags.handover };
}

/** Asks the engine for the VIPs; the role changes on `takeoverDone`. */
function claim(ctx: StepContext, reason: string): void {
  ctx.s.transition = "claiming";
  ctx.s.transitionReason = reason;
  ctx.s.noted.refused = undefined;
  ctx.out.push({ type: "claimVips", reason });
}

// Every release hands the addresses to a peer that claims and announces them itself, so the
// releasing side stays quiet: an announcement from it would race the peer's gratuitous ARP.
function release(ctx: StepContext, reason: string): void {
  ctx.s.transition = "releasing";
  ctx.s.transitionReason = reason;
  ctx.s.garpRepeatAtMs = undefined;
  ctx.out.push({ type: "releaseVips", reason, announce: false });
}

function refuseTakeover(ctx: StepContext, why: string): void {
  if (ctx.s.noted.refused === why) return;
  ctx.s.noted.refused = why;
  emit(ctx, "takeover-refused", "error", `Not taking over from dead peer "${peerName(ctx.s)}": ${why}`, { peer: peerName(ctx.s), reason: why });
}

/** Starts this node's handover to its live peer (sets the flag; the peer claims when eligible). */
export function startHandover(ctx: StepContext, cause: HandoverCause, why: string): void {
  const s = ctx.s;
  s.handover = true;
  s.handoverCause = cause;
  s.handoverSinceMs = ctx.nowMs;
  s.noted.handoverWaiting = undefined;
  ctx.announce = true;
  emit(ctx, "handover-started", "info", `Handing over to "${peerName(s)}": ${why}`, { peer: peerName(s), cause, reason: why });
  const peer = livePeer(s);
  if (peer) reportActiveBlocker(ctx, peer);
}

/** Sets wantActive: asks the active peer to hand over. */
export function requestTakeover(ctx: StepContext, why: string): void {
  const s = ctx.s;
  s.wantActive = true;
  s.wantActiveSinceMs = ctx.nowMs;
  ctx.announce = true;
  emit(ctx, "handover-started", "info", `Asking "${peerName(s)}" to hand over: ${why}`, { peer: peerName(s), cause: "request", reason: why });
}

function clearHandover(ctx: StepContext): void {
  ctx.s.handover = false;
  ctx.s.handoverCause = undefined;
  ctx.s.noted.handoverWaiting = undefined;
  ctx.announce = true;
}

// What keeps a live peer from taking a planned handover, as this active node sees it. Mirrors
// `standbyBlocker`: sync is waived when this node has lost its witnesses, as it cannot serve anyway.
function activeBlocker(s: HaDraft, peer: PeerStatus): string | undefined {
  if (!peer.flags.witnessOk) return `peer "${peer.node}" reaches no witness`;
  if (!peer.flags.synced && witnessOk(s)) return `peer "${peer.node}" is not synced`;
  return undefined;
}

function standbyBlocker(s: HaDraft, peer: PeerStatus): string | undefined {
  if (!witnessOk(s)) return "no witness reachable";
  if (!s.synced && peer.flags.witnessOk) return "connection table not synced";
  return undefined;
}

function reportActiveBlocker(ctx: StepContext, peer: PeerStatus): void {
  const blocker = activeBlocker(ctx.s, peer);
  if (blocker !== undefined && ctx.s.noted.handoverWaiting !== blocker) {
    emit(ctx, "handover-waiting", "warn", `Handover to "${peer.node}" waits: ${blocker}`, { peer: peer.node, reason: blocker });
  }
  ctx.s.noted.handoverWaiting = blocker;
}

// Rule 3: a standby (or a starting node past initdead) whose peer is dead serves, if it may.
function takeOverFromDeadPeer(ctx: StepContext): void {
  const s = ctx.s;
  const reason = s.peer.firstHeardMs === undefined ? "no peer heard within initdead" : "peer dead";
  if (!witnessOk(s)) {
    refuseTakeover(ctx, "no witness reachable");
    setRole(ctx, "standby", `${reason}, but no witness reachable`);
    return;
  }
  if (s.options.fence && !s.fenced) {
    if (s.fenceRetryAtMs !== undefined && ctx.nowMs < s.fenceRetryAtMs) return;
    s.fenceRetryAtMs = undefined;
    s.transition = "fencing";
    s.transitionReason = reason;
    ctx.out.push({ type: "runFence", peer: peerName(s) });
    return;
  }
  claim(ctx, reason);
}

// Rules 5, 6 and 8 on the standby side, with an active peer.
function followActivePeer(ctx: StepContext, peer: PeerStatus): void {
  const s = ctx.s;
  if (peer.flags.handover) {
    const blocker = standbyBlocker(s, peer);
    if (blocker === undefined) return claim(ctx, "handover");
    if (s.noted.handoverWaiting !== blocker) emit(ctx, "takeover-refused", "warn", `Cannot take the VIPs "${peer.node}" hands over: ${blocker}`, { peer: peer.node, reason: blocker });
    s.noted.handoverWaiting = blocker;
    return;
  }
  const o = s.options;
  if (!o.autoFailback || !s.autoFailbackArmed || s.wantActive || o.priority <= peer.priority) return;
  if (!witnessOk(s) || !s.synced || ctx.nowMs < s.autoFailbackAfterMs) return;
  requestTakeover(ctx, `auto_failback: priority ${o.priority} > ${peer.priority} and synced`);
}

// Rule 4: both active. Both nodes compute the same keeper; the loser releases quietly.
function resolveBothActive(ctx: StepContext, peer: PeerStatus): void {
  const s = ctx.s;
  const verdict = splitBrainKeeper(rankSelf(s), rankPeer(peer));
  if (verdict.selfWins) {
    // A peer with the handover flag is completing a planned handover to us, not a split brain.
    if (peer.flags.handover || s.noted.splitBrain) return;
    s.noted.splitBrain = true;
    emit(ctx, "split-brain", "error", `Both nodes active: keeping the VIPs, ${verdict.why}`, { peer: peer.node, keeper: s.options.name, reason: verdict.why });
    // The peer's ARP announcements may have won some caches; repair them.
    ctx.out.push({ type: "garp", burst: "repeat" });
    return;
  }
  if (!s.handover) emit(ctx, "split-brain", "error", `Both nodes active: releasing the VIPs to "${peer.node}", ${verdict.why}`, { peer: peer.node, keeper: peer.node, reason: verdict.why });
  release(ctx, s.handover ? "handover" : `split brain: ${verdict.why}`);
}

// Rules 5 and 7 on the active side.
function decideActive(ctx: StepContext): void {
  const s = ctx.s;
  const peer = livePeer(s);
  if (!peer) return;
  if (peer.role === "active") return resolveBothActive(ctx, peer);
  s.noted.splitBrain = false;
  if (s.handover) {
    if (s.handoverCause === "witness" && witnessOk(s)) return cancelHandover(ctx, "a witness is reachable again");
    if (s.handoverCause === "peer" && !peer.flags.wantActive) return cancelHandover(ctx, `peer "${peer.node}" withdrew its request`);
    return reportActiveBlocker(ctx, peer);
  }
  if (peer.flags.wantActive && !s.noted.ignoreWantActive) return startHandover(ctx, "peer", `peer "${peer.node}" asked to take over`);
  if (!witnessOk(s) && peer.flags.witnessOk) startHandover(ctx, "witness", `no witness reachable, peer "${peer.node}" reaches one`);
}

function cancelHandover(ctx: StepContext, why: string): void {
  emit(ctx, "handover-cancelled", "info", `Handover to "${peerName(ctx.s)}" cancelled: ${why}`, { peer: peerName(ctx.s), reason: why });
  clearHandover(ctx);
}

/**
 * Applies the rules once to the current facts; does nothing while an effect (fence, claim,
 * release) is in progress. Returns whether the role changed with no effect started, in which
 * case the caller applies them again so that one input settles the node.
 */
export function decide(ctx: StepContext): boolean {
  const s = ctx.s;
  const role = s.role;
  if (s.transition !== "none") return false;
  if (role === "active") decideActive(ctx);
  else if (s.peer.liveness === "dead") takeOverFromDeadPeer(ctx);
  else decideWithPeer(ctx);
  return s.role !== role && s.transition === "none";
}

// Rule 1 and the standby's duties while the peer is alive (or not heard yet).
function decideWithPeer(ctx: StepContext): void {
  const s = ctx.s;
  const peer = livePeer(s);
  if (!peer) return;
  if (peer.role === "active") {
    if (s.role === "starting") return setRole(ctx, "standby", `peer "${peer.node}" is active`);
    return followActivePeer(ctx, peer);
  }
  // Nobody serves. While either node is starting its witness flag may not be known yet (pings
  // answer after the first heartbeats), so priority alone decides, as both sides can agree on
  // it; rule 7 moves the VIPs afterwards if the winner turns out to reach no witness.
  const withWitness = s.role !== "starting" && peer.role !== "starting";
  const verdict = electionWinner(rankSelf(s), rankPeer(peer), withWitness);
  if (verdict.selfWins) return claim(ctx, `elected: ${verdict.why}`);
  setRole(ctx, "standby", `peer "${peer.node}" preferred: ${verdict.why}`);
}

/** Fires the machine's own deadlines: the repeat ARP burst and the handover and request timeouts. */
export function runTimers(ctx: StepContext): void {
  const s = ctx.s;
  if (s.garpRepeatAtMs !== undefined && ctx.nowMs >= s.garpRepeatAtMs) {
    s.garpRepeatAtMs = undefined;
    if (s.role === "active") ctx.out.push({ type: "garp", burst: "repeat" });
  }
  if (s.transition !== "none") return;
  const limitMs = s.options.handoverTimeoutMs;
  if (s.handover && ctx.nowMs - s.handoverSinceMs >= limitMs) {
    emit(ctx, "handover-abandoned", "warn", `Handover abandoned: peer "${peerName(s)}" did not take over within ${limitMs} ms`, { peer: peerName(s), timeoutMs: limitMs });
    // The peer's request is honoured once; it must drop and raise wantActive to ask again.
    if (s.handoverCause === "peer") s.noted.ignoreWantActive = true;
    clearHandover(ctx);
  }
  if (s.wantActive && ctx.nowMs - s.wantActiveSinceMs >= limitMs) {
    emit(ctx, "handover-abandoned", "warn", `Takeover request abandoned: peer "${peerName(s)}" did not hand over within ${limitMs} ms`, { peer: peerName(s), timeoutMs: limitMs });
    s.wantActive = false;
    // Dropping the flag for a while lets the peer notice and accept a later request.
    s.autoFailbackAfterMs = ctx.nowMs + limitMs;
    ctx.announce = true;
  }
}

/** Handles `takeoverDone`: the VIPs are ours, so announce them. Ignored unless a claim is in progress. */
export function finishTakeover(ctx: StepContext): void {
  const s = ctx.s;
  if (s.transition !== "claiming") return;
  s.transition = "none";
  s.wantActive = false;
  // Whatever switchover disarmed auto_failback has been overtaken by events.
  s.autoFailbackArmed = true;
  s.noted.splitBrain = false;
  s.noted.handoverWaiting = undefined;
  setRole(ctx, "active", s.transitionReason);
  ctx.out.push({ type: "garp", burst: "first" });
  s.garpRepeatAtMs = s.options.garpRepeatAfterMs > 0 ? ctx.nowMs + s.options.garpRepeatAfterMs : undefined;
  ctx.announce = true;
}

/** Handles `releaseDone`: this node is standby now. Ignored unless a release is in progress. */
export function finishRelease(ctx: StepContext): void {
  const s = ctx.s;
  if (s.transition !== "releasing") return;
  s.transition = "none";
  const cause = s.handover ? s.handoverCause : undefined;
  clearHandover(ctx);
  s.noted.splitBrain = false;
  // The new active's table moves on from here; ours must catch up again before it counts.
  s.synced = false;
  // An operator's (or the peer's) switchover sticks: auto_failback must not undo it. A node
  // that handed over for lack of witnesses takes the VIPs back once it is healthy again.
  if (cause === "command" || cause === "peer") s.autoFailbackArmed = false;
  setRole(ctx, "standby", s.transitionReason);
  if (cause !== undefined) emit(ctx, "handover-finished", "info", `Handover to "${peerName(s)}" finished`, { peer: peerName(s), cause });
}

/** Handles `fenceResult`: success lets the takeover go on, failure refuses it until another deadtime passed. */
export function finishFence(ctx: StepContext, ok: boolean, detail: string): void {
  const s = ctx.s;
  if (s.transition !== "fencing") return;
  s.transition = "none";
  if (ok) {
    s.fenced = true;
    emit(ctx, "peer-fenced", "warn", `Fenced peer "${peerName(s)}"${detail ? `: ${detail}` : ""}`, { peer: peerName(s), detail });
    return;
  }
  s.fenceRetryAtMs = ctx.nowMs + s.options.deadtimeMs;
  s.noted.refused = undefined;
  emit(ctx, "takeover-refused", "error", `Not taking over from dead peer "${peerName(s)}": fence failed: ${detail}`, { peer: peerName(s), reason: "fence failed", detail, retryAtMs: s.fenceRetryAtMs });
  if (s.role === "starting") setRole(ctx, "standby", "fence failed");
}
