/**
 * The event journal: failovers, config changes, server transitions, kept for operators.
 * Runtime-neutral queries over any synchronous drizzle sqlite database.
 */

import { and, desc, eq, gte } from "drizzle-orm";
import type { SQL } from "drizzle-orm";
import { StoreError } from "./config-versions.ts";
import { events } from "./schema.ts";
import type { StoreDatabase } from "./schema.ts";

/** A stored event, its detail parsed back from JSON. */
export interface StoreEvent {
  id: number;
  timeMs: number;
  kind: string;
  subject: string;
  detail: Record<string, unknown>;
}

/** An event to record; `detail` must survive JSON.stringify (no bigint, no cycles). */
export interface EventInput {
  timeMs: number;
  kind: string;
  subject: string;
  detail: object;
}

/** Which events to list: at most `limit`, optionally only of `kind` and at or after `sinceMs`. */
export interface EventQuery {
  limit: number;
  kind?: string;
  sinceMs?: number;
}

/** Appends one event and returns it as stored. Throws a StoreError if `detail` is not JSON-serialisable. */
export function recordEvent(db: StoreDatabase, input: EventInput): StoreEvent {
  if (!Number.isSafeInteger(input.timeMs)) {
    throw new StoreError(`Cannot record event "${input.kind}": timeMs "${input.timeMs}" is not an integer`);
  }
  let detail: string;
  try {
    detail = JSON.stringify(input.detail);
  } catch (error) {
    throw new StoreError(`Cannot record event "${input.kind}": detail is not JSON: ${String(error)}`);
  }
  const row = db
    .insert(events)
    .values({ timeMs: input.timeMs, kind: input.kind, subject: input.subject, detail })
    .returning()
    .get();
  return toStoreEvent(row);
}

/** Returns matching events newest first (by time, then by insertion order). */
export function listEvents(db: StoreDatabase, query: EventQuery): StoreEvent[] {
  if (!Number.isSafeInteger(query.limit) || query.limit < 1) {
    throw new StoreError(`Cannot list events: limit "${query.limit}" is not a positive integer`);
  }
  const conditions: SQL[] = [];
  if (query.kind !== undefined) conditions.push(eq(events.kind, query.kind));
  if (query.sinceMs !== undefined) conditions.push(gte(events.timeMs, query.sinceMs));
  return db
    .select()
    .from(events)
    .where(and(...conditions))
    .orderBy(desc(events.timeMs), desc(events.id))
    .limit(query.limit)
    .all()
    .map(toStoreEvent);
}

function toStoreEvent(row: typeof events.$inferSelect): StoreEvent {
  return { ...row, detail: JSON.parse(row.detail) as Record<string, unknown> };
}

/** Records the `config_changed` event for a newly stored config version (import, rollback, run, reload). */
export function recordConfigChanged(db: StoreDatabase, version: { id: number; createdAtMs: number; source: string; author: string; parent: number | null; sha256: string }): StoreEvent {
  return recordEvent(db, {
    timeMs: version.createdAtMs,
    kind: "config_changed",
    subject: `version ${version.id}`,
    detail: { source: version.source, author: version.author, parent: version.parent, sha256: version.sha256 },
  });
}
