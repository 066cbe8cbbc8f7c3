/**
 * Conditions: what `alert_every` repeats. Some events open a condition that lasts until another
 * event closes it (a server down until it is up again); an alert with `alert_every` re-sends the
 * opening event at that interval while the condition is open. One-shot events (failover,
 * takeover, release, config_changed) and the closing events themselves never repeat.
 *
 * A condition is named by the opening kind and the subject: "server_down:http/10.201.0.11:80".
 *
 * | opened by         | closed by (same subject)                                  |
 * |-------------------|-----------------------------------------------------------|
 * | server_down       | server_up                                                  |
 * | server_flapping   | server_up (the hold-down ended and the server passed rise) |
 * | link_down         | link_up                                                    |
 * | peer_dead         | peer_alive                                                 |
 * | split_brain       | split_brain with `fields.resolved = true`                  |
 * | sync_lag          | sync_lag with `fields.resolved = true`                     |
 * | content_mismatch  | content_mismatch with `fields.resolved = true`             |
 *
 * Any opening kind sent with `fields.resolved = true` closes its condition instead of opening it,
 * so emitters have one way to say "over" for kinds without a counterpart.
 */

import type { AlertEvent, AlertKind } from "./alert-event.ts";

/** The kinds that open a condition, each with the kinds (besides itself, resolved) that close it. */
export const CONDITION_CLOSERS: Readonly<Partial<Record<AlertKind, readonly AlertKind[]>>> = {
  server_down: ["server_up"],
  server_flapping: ["server_up"],
  link_down: ["link_up"],
  peer_dead: ["peer_alive"],
  split_brain: [],
  sync_lag: [],
  content_mismatch: [],
};

const OPENED_BY = new Map<AlertKind, AlertKind[]>();
for (const [opener, closers] of Object.entries(CONDITION_CLOSERS) as [AlertKind, readonly AlertKind[]][]) {
  for (const closer of closers) OPENED_BY.set(closer, [...(OPENED_BY.get(closer) ?? []), opener]);
}

/** What an event does to conditions: the key it opens (if any) and the keys it closes. */
export interface ConditionEffect {
  readonly opens: string | undefined;
  readonly closes: readonly string[];
}

/** The condition key of `kind` about `subject`. */
export function conditionKey(kind: AlertKind, subject: string): string {
  return `${kind}:${subject}`;
}

/** Whether events of `kind` open a condition (and so can repeat with `alert_every`). */
export function opensCondition(kind: AlertKind): boolean {
  return CONDITION_CLOSERS[kind] !== undefined;
}

/** The conditions `event` opens and closes; see the table in the file comment. */
export function alertCondition(event: AlertEvent): ConditionEffect {
  if (opensCondition(event.kind)) {
    const key = conditionKey(event.kind, event.subject);
    return event.fields["resolved"] === true ? { opens: undefined, closes: [key] } : { opens: key, closes: [] };
  }
  const openers = OPENED_BY.get(event.kind) ?? [];
  return { opens: undefined, closes: openers.map((opener) => conditionKey(opener, event.subject)) };
}
