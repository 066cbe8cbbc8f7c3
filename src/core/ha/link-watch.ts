/**
 * Peer liveness, per link and overall, in the spirit of heartbeat v1: a link is late after
 * warntime of silence and down after deadtime; the peer is dead only when every link has been
 * silent for deadtime (initdead before the first contact). Only transitions are reported.
 */

import type { PeerStatus } from "./ha-node-types.ts";
import { emit, peerName, type StepContext } from "./ha-step-context.ts";

/** Records one authenticated peer heartbeat heard on `link`; returns false when it was ignored. */
export function hearPeer(ctx: StepContext, link: number, msg: PeerStatus): boolean {
  const s = ctx.s;
  if (msg.node === s.options.name) {
    // Our own name: a looped-back link or a copied config. Acting on it would fight ourselves.
    if (!s.noted.sameName) emit(ctx, "peer-same-name", "error", `Ignoring heartbeats carrying this node's own name "${msg.node}": a loop or a misconfigured peer`, { link });
    s.noted.sameName = true;
    return false;
  }
  const slot = Number.isInteger(link) ? s.links[link] : undefined;
  if (!slot) return false;
  const peer = s.peer;
  const before = peer.status;
  if (before !== undefined && msg.generation > before.generation) {
    emit(ctx, "peer-restarted", "warn", `Peer "${msg.node}" restarted`, { peer: msg.node, generation: msg.generation, previous: before.generation });
    s.noted.ignoreWantActive = false;
  }
  peer.status = msg;
  peer.name = msg.node;
  peer.lastHeardMs = ctx.nowMs;
  peer.firstHeardMs ??= ctx.nowMs;
  if (slot.health === "late" || slot.health === "down") emit(ctx, "link-up", "info", `Heartbeat link ${link} is up again`, { link, peer: msg.node, was: slot.health });
  slot.health = "up";
  slot.lastHeardMs = ctx.nowMs;
  if (peer.liveness !== "alive") {
    const first = peer.liveness === "unknown";
    emit(ctx, "peer-alive", "info", first ? `Peer "${msg.node}" heard for the first time` : `Peer "${msg.node}" is alive again`, { peer: msg.node, link, role: msg.role });
    peer.liveness = "alive";
    peer.sinceMs = ctx.nowMs;
    // A new episode: refusals and fencing of the dead peer no longer apply.
    s.fenced = false;
    s.fenceRetryAtMs = undefined;
    s.noted.refused = undefined;
  }
  if (!msg.flags.wantActive) s.noted.ignoreWantActive = false;
  // A standby reports a handover it cannot take once per request of the active peer.
  if (!msg.flags.handover && s.role !== "active") s.noted.handoverWaiting = undefined;
  return true;
}

/** Advances link and peer liveness to `ctx.nowMs`, reporting each transition once. */
export function watchLiveness(ctx: StepContext): void {
  const s = ctx.s;
  const peer = s.peer;
  if (peer.liveness === "unknown") {
    if (ctx.nowMs - s.startedMs >= s.options.initdeadMs) peerDied(ctx, `not heard within initdead (${s.options.initdeadMs} ms)`);
    return;
  }
  // A peer declared dead at initdead without ever being heard has no link to judge.
  const firstHeardMs = peer.firstHeardMs;
  if (firstHeardMs === undefined) return;
  const { warntimeMs, deadtimeMs } = s.options;
  s.links.forEach((slot, link) => {
    // A link never heard since the first contact has been silent since then.
    const silenceMs = ctx.nowMs - (slot.lastHeardMs ?? firstHeardMs);
    if (silenceMs >= deadtimeMs) {
      if (slot.health === "down") return;
      slot.health = "down";
      emit(ctx, "link-down", "warn", `Heartbeat link ${link} is down: silent for ${silenceMs} ms`, { link, peer: peerName(s), silenceMs });
    } else if (silenceMs >= warntimeMs && (slot.health === "up" || slot.health === "unknown")) {
      slot.health = "late";
      emit(ctx, "link-late", "warn", `Heartbeat link ${link} is late: silent for ${silenceMs} ms`, { link, peer: peerName(s), silenceMs });
    }
  });
  if (peer.liveness === "alive" && ctx.nowMs - peer.lastHeardMs! >= deadtimeMs) peerDied(ctx, `silent on every link for ${ctx.nowMs - peer.lastHeardMs!} ms`);
}

// The peer is gone: whatever was negotiated with it is void, and a new episode begins.
function peerDied(ctx: StepContext, why: string): void {
  const s = ctx.s;
  s.peer.liveness = "dead";
  s.peer.sinceMs = ctx.nowMs;
  s.fenced = false;
  s.fenceRetryAtMs = undefined;
  s.noted.refused = undefined;
  s.noted.splitBrain = false;
  s.noted.handoverWaiting = undefined;
  s.noted.ignoreWantActive = false;
  emit(ctx, "peer-dead", s.role === "active" ? "warn" : "error", `Peer "${peerName(s)}" is dead: ${why}`, { peer: peerName(s), role: s.role });
  if (s.handover || s.wantActive) {
    emit(ctx, "handover-abandoned", "warn", `${s.handover ? "Handover" : "Takeover request"} abandoned: peer "${peerName(s)}" is dead`, { peer: peerName(s) });
    s.handover = false;
    s.handoverCause = undefined;
    s.wantActive = false;
    ctx.announce = true;
  }
}
