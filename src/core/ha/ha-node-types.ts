/**
 * Types of the HA node state machine (`ha-node.ts`): its options, inputs, actions, events and
 * state. The machine is pure: the engine owns timers and I/O, feeds inputs stamped with a
 * monotonic `nowMs`, and carries out the actions it gets back.
 */

/** A node's role as announced in heartbeats: `starting` until its first decision, then standby or active. */
export type HaRole = "starting" | "standby" | "active";

/** Flags every heartbeat carries, from the sender's point of view. */
export interface HaFlags {
  /** The sender reaches at least one witness (always true when no witness is configured). */
  readonly witnessOk: boolean;
  /** The active sender asks its peer to take the VIPs over (planned switchover). */
  readonly handover: boolean;
  /** The standby sender asks its active peer to hand the VIPs over (operator takeover, auto_failback). */
  readonly wantActive: boolean;
  /** The standby sender's shadow connection table has caught up with the active's. */
  readonly synced: boolean;
}

/**
 * What the machine needs from one authenticated peer heartbeat; the wire codec's message is
 * adapted to this shape. `generation` grows each time the peer's process starts.
 */
export interface PeerStatus {
  readonly node: string;
  readonly generation: number;
  readonly role: HaRole;
  readonly priority: number;
  readonly flags: HaFlags;
  readonly vips: number;
  readonly syncPosition: number;
}

/** This node's status for its outgoing heartbeats (`ownStatus`). */
export interface HaOwnStatus {
  readonly node: string;
  readonly priority: number;
  readonly role: HaRole;
  readonly flags: HaFlags;
}

/** Settings of one node's machine, all durations in monotonic milliseconds. */
export interface HaNodeOptions {
  /** This node's name; heartbeats carrying it are ignored (a loop or a copied config). */
  readonly name: string;
  /** This node's priority, 1 to 255; the higher one is preferred for the active role. */
  readonly priority: number;
  /** The peer's name from the config, used to name it before it was ever heard (fencing at start-up). */
  readonly peerName: string | undefined;
  /** Number of heartbeat links; link ids are 0 .. linkCount-1. Zero means a lone node. */
  readonly linkCount: number;
  /** Silence on a link after which it is reported late. */
  readonly warntimeMs: number;
  /** Silence on a link after which it is down; on every link, after which the peer is dead. */
  readonly deadtimeMs: number;
  /** Deadtime used before the peer was heard for the first time. */
  readonly initdeadMs: number;
  /** Whether a returning higher-priority node takes the VIPs back once synced. */
  readonly autoFailback: boolean;
  /** Whether ping nodes are configured; without them `witnessOk` is always true. */
  readonly witnesses: boolean;
  /** Whether a fence command is configured; it then runs before every takeover from a dead peer. */
  readonly fence: boolean;
  /** Delay from takeover to the repeat gratuitous-ARP burst; 0 disables the repeat. */
  readonly garpRepeatAfterMs: number;
  /** How long a handover or takeover request may wait for the peer before it is abandoned. */
  readonly handoverTimeoutMs: number;
}

/** One input to the machine; every input carries the engine's monotonic time. */
export type HaInput =
  /** Time passes; the engine sends it often (every keepalive/4 or so). */
  | { readonly type: "tick"; readonly nowMs: number }
  /** An authenticated heartbeat from the peer arrived on `link`. */
  | { readonly type: "peerHeartbeat"; readonly nowMs: number; readonly link: number; readonly msg: PeerStatus }
  /** Whether at least one ping node answered within ping_deadtime (only sent when ping nodes exist). */
  | { readonly type: "witness"; readonly nowMs: number; readonly reachable: boolean }
  /** An operator's planned switchover: `standby` on the active node, `takeover` on the standby. */
  | { readonly type: "command"; readonly nowMs: number; readonly command: "standby" | "takeover" }
  /** Whether this node's shadow connection table has caught up with the active's. */
  | { readonly type: "syncStatus"; readonly nowMs: number; readonly synced: boolean }
  /** The fence command asked for by `runFence` finished. */
  | { readonly type: "fenceResult"; readonly nowMs: number; readonly ok: boolean; readonly detail: string }
  /** The engine finished claiming the VIPs asked for by `claimVips`. */
  | { readonly type: "takeoverDone"; readonly nowMs: number }
  /** The engine finished releasing the VIPs asked for by `releaseVips`. */
  | { readonly type: "releaseDone"; readonly nowMs: number };

/** Kinds of events the machine reports for the event store. */
export type HaEventType =
  | "role-change"
  | "peer-alive"
  | "peer-dead"
  | "peer-restarted"
  | "peer-same-name"
  | "peer-fenced"
  | "link-late"
  | "link-down"
  | "link-up"
  | "witness-lost"
  | "witness-ok"
  | "split-brain"
  | "takeover-refused"
  | "handover-started"
  | "handover-waiting"
  | "handover-finished"
  | "handover-cancelled"
  | "handover-abandoned"
  | "command-ignored"
  /** Heartbeat or sync frames were dropped (forged, replayed, mangled): first one after a quiet spell, then a summary per interval. */
  | "forged-burst"
  /** The standby's shadow connection table caught up (a full resync completed). */
  | "sync-synced"
  /** The standby's shadow table is no longer complete, with the reason. */
  | "sync-lost"
  /** This (active) node sent a full resync of its table to the peer. */
  | "sync-resync-sent"
  /** The standby's table stayed out of sync past `sync.alert_after` (or, with `resolved`, that ended). */
  | "sync-lag";

/** Severity of an event, a subset of log levels. */
export type HaEventSeverity = "info" | "warn" | "error";

/** Values an event field may hold. */
export type HaEventFields = Readonly<Record<string, string | number | boolean>>;

/** One event for the store and the log: a transition, never a repeat. */
export interface HaEvent {
  readonly type: HaEventType;
  readonly severity: HaEventSeverity;
  /** A sentence for people, values quoted. */
  readonly message: string;
  readonly fields: HaEventFields;
}

/** One thing the engine must do; the machine waits for `takeoverDone`, `releaseDone` and `fenceResult`. */
export type HaAction =
  /** Add the VIPs, routes and start forwarding; answer with `takeoverDone`. */
  | { readonly type: "claimVips"; readonly reason: string }
  /**
   * Remove the VIPs and stop forwarding; answer with `releaseDone`. `announce` asks the engine to
   * tell the network the addresses left; it is false when the peer holds them and announces them.
   */
  | { readonly type: "releaseVips"; readonly reason: string; readonly announce: boolean }
  /** Run the fence command against `peer`; answer with `fenceResult`. */
  | { readonly type: "runFence"; readonly peer: string }
  /** Send a heartbeat on every link now: this node's role or flags changed. */
  | { readonly type: "sendHeartbeatNow" }
  /** Send a burst of gratuitous ARPs (garp.count at garp.interval) for every VIP. */
  | { readonly type: "garp"; readonly burst: "first" | "repeat" }
  /** Record and log an event. */
  | { readonly type: "event"; readonly event: HaEvent };

/** What `stepHaNode` returns: the next state and the actions to carry out, in order. */
export interface HaStep {
  readonly state: HaNodeState;
  readonly actions: readonly HaAction[];
}

/** Liveness of the peer: not heard yet (within initdead), heard within deadtime, or silent. */
export type PeerLiveness = "unknown" | "alive" | "dead";

/** Health of one link: never heard, heard within warntime, silent for warntime, silent for deadtime. */
export type LinkHealth = "unknown" | "up" | "late" | "down";

/** Effect the machine is waiting for, if any. */
export type HaTransition = "none" | "fencing" | "claiming" | "releasing";

/** Why this node set its handover flag: an operator, the peer's request, or losing the witnesses. */
export type HandoverCause = "command" | "peer" | "witness";

/** State of one heartbeat link. */
export interface HaLinkState {
  readonly lastHeardMs: number | undefined;
  readonly health: LinkHealth;
}

/** What this node knows about its peer. */
export interface HaPeerState {
  readonly liveness: PeerLiveness;
  /** When `liveness` last changed (start-up time while unknown). */
  readonly sinceMs: number;
  readonly name: string | undefined;
  /** The last status heard; kept after death for `describe`, never used for decisions then. */
  readonly status: PeerStatus | undefined;
  readonly firstHeardMs: number | undefined;
  readonly lastHeardMs: number | undefined;
}

/** Events already reported in the current episode, so that each is reported once. */
export interface HaNoted {
  /** The reason of the last takeover-refused event, cleared when the situation changes. */
  readonly refused: string | undefined;
  readonly splitBrain: boolean;
  /** Why a handover cannot proceed (reported by either side), cleared when the handover ends. */
  readonly handoverWaiting: string | undefined;
  readonly sameName: boolean;
  /** The peer's wantActive request already led to an abandoned handover; ignored until it drops. */
  readonly ignoreWantActive: boolean;
}

/**
 * The machine's whole state, a plain immutable value: `stepHaNode` returns a new one and never
 * modifies its argument. Read it through `ownStatus` and `describeHaNode`.
 */
export interface HaNodeState {
  readonly options: HaNodeOptions;
  readonly startedMs: number;
  /** The latest `nowMs` seen; time never goes backwards inside the machine. */
  readonly nowMs: number;
  readonly role: HaRole;
  readonly roleSinceMs: number;
  /** Why the role last changed. */
  readonly roleReason: string;
  readonly transition: HaTransition;
  /** Reason of the claim, release or fence in progress. */
  readonly transitionReason: string;
  readonly witnessReachable: boolean;
  /** Whether a witness report arrived yet (the first one is reported even when negative). */
  readonly witnessKnown: boolean;
  readonly synced: boolean;
  readonly handover: boolean;
  readonly handoverCause: HandoverCause | undefined;
  readonly handoverSinceMs: number;
  readonly wantActive: boolean;
  readonly wantActiveSinceMs: number;
  /** Whether auto_failback may ask for the VIPs; a planned switchover away from this node disarms it. */
  readonly autoFailbackArmed: boolean;
  /** auto_failback does not ask again before this time after an abandoned request. */
  readonly autoFailbackAfterMs: number;
  /** The fence ran successfully in the current peer-death episode. */
  readonly fenced: boolean;
  /** A failed fence is retried from this time. */
  readonly fenceRetryAtMs: number | undefined;
  /** The repeat gratuitous-ARP burst is due at this time. */
  readonly garpRepeatAtMs: number | undefined;
  readonly peer: HaPeerState;
  readonly links: readonly HaLinkState[];
  readonly noted: HaNoted;
}

/** One link in `describeHaNode`. */
export interface HaLinkDescription {
  readonly link: number;
  readonly health: LinkHealth;
  readonly lastHeardAgeMs: number | null;
}

/** The machine's state for the API and the status screen. */
export interface HaNodeDescription {
  readonly node: string;
  readonly priority: number;
  readonly role: HaRole;
  readonly roleSinceMs: number;
  readonly roleReason: string;
  readonly transition: HaTransition;
  readonly flags: HaFlags;
  readonly peer: {
    readonly name: string | null;
    readonly liveness: PeerLiveness;
    readonly sinceMs: number;
    readonly role: HaRole | null;
    readonly priority: number | null;
    readonly flags: HaFlags | null;
    readonly generation: number | null;
    readonly lastHeardAgeMs: number | null;
    readonly links: readonly HaLinkDescription[];
  };
}
