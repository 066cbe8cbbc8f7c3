/**
 * The working context of one `stepHaNode` call: a private mutable copy of the state, the actions
 * collected so far, and the helpers every rule uses to report events and change the role.
 */

import type { HaAction, HaEventFields, HaEventSeverity, HaEventType, HaLinkState, HaNodeState, HaNoted, HaPeerState, HaRole, PeerStatus } from "./ha-node-types.ts";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A mutable copy of `HaNodeState`, private to one step. */
export interface HaDraft extends Mutable<Omit<HaNodeState, "peer" | "links" | "noted">> {
  peer: Mutable<HaPeerState>;
  links: Mutable<HaLinkState>[];
  noted: Mutable<HaNoted>;
}

/** One step in progress: the draft state, the time, the actions, and whether to send a heartbeat at the end. */
export interface StepContext {
  readonly s: HaDraft;
  readonly nowMs: number;
  readonly out: HaAction[];
  /** Set by any change of role or flags; one `sendHeartbeatNow` ends the step. */
  announce: boolean;
}

/** Starts a step on a copy of `state`; time is clamped so that it never goes backwards. */
export function beginStep(state: HaNodeState, nowMs: number): StepContext {
  const s: HaDraft = {
    ...state,
    peer: { ...state.peer },
    links: state.links.map((link) => ({ ...link })),
    noted: { ...state.noted },
  };
  s.nowMs = Math.max(state.nowMs, nowMs);
  return { s, nowMs: s.nowMs, out: [], announce: false };
}

/** Appends an event action. */
export function emit(ctx: StepContext, type: HaEventType, severity: HaEventSeverity, message: string, fields: HaEventFields = {}): void {
  ctx.out.push({ type: "event", event: { type, severity, message, fields: { node: ctx.s.options.name, ...fields } } });
}

/** Changes the role (a no-op when unchanged), reports it and asks for an immediate heartbeat. */
export function setRole(ctx: StepContext, role: HaRole, reason: string): void {
  const s = ctx.s;
  if (s.role === role) return;
  const from = s.role;
  s.role = role;
  s.roleSinceMs = ctx.nowMs;
  s.roleReason = reason;
  ctx.announce = true;
  const severity = role === "active" || from === "active" ? "warn" : "info";
  emit(ctx, "role-change", severity, `Became ${role}: ${reason}`, { from, to: role, reason });
}

/** Whether this node counts as reaching a witness: always when none is configured. */
export function witnessOk(s: Pick<HaNodeState, "options" | "witnessReachable">): boolean {
  return !s.options.witnesses || s.witnessReachable;
}

/** The peer's last status when it is alive; undefined when it is unknown or dead. */
export function livePeer(s: Pick<HaNodeState, "peer">): PeerStatus | undefined {
  return s.peer.liveness === "alive" ? s.peer.status : undefined;
}

/** The peer's name for messages and fencing: last heard, else from the config, else "peer". */
export function peerName(s: Pick<HaNodeState, "peer" | "options">): string {
  return s.peer.name ?? s.options.peerName ?? "peer";
}
