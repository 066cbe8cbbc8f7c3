/**
 * The versioned TOML config: append-only history in `config_versions`, the highest id is
 * current. Runtime-neutral queries over any synchronous drizzle sqlite database.
 */

import { asc, desc, eq, gt, max, min } from "drizzle-orm";
import { sha256Hex } from "../core/crypto/sha256.ts";
import { utf8Encode } from "../core/crypto/utf8.ts";
import { configVersions } from "./schema.ts";
import type { StoreDatabase } from "./schema.ts";

/** An error about the store's contents or use, with a message fit to show an operator. */
export class StoreError extends Error {
  override name = "StoreError";
}

/** One stored config version, TOML text included. */
export type ConfigVersion = typeof configVersions.$inferSelect;

/** A config version without its TOML text, for history listings. */
export type ConfigVersionSummary = Omit<ConfigVersion, "toml">;

/** What importing or rolling back produced: the now-current version and whether a row was added. */
export interface ImportResult {
  version: ConfigVersion;
  created: boolean;
}

/** The text of a config and who stored it, when, and from where. */
export interface ConfigVersionInput {
  toml: string;
  /** Where the text came from: "import:/etc/tandem.toml", "run", "ui", "sync:peer", ... */
  source: string;
  author: string;
  createdAtMs: number;
}

/** Who rolls back, and when. */
export interface RollbackInput {
  author: string;
  createdAtMs: number;
}

const summaryColumns = {
  id: configVersions.id,
  parent: configVersions.parent,
  createdAtMs: configVersions.createdAtMs,
  source: configVersions.source,
  author: configVersions.author,
  sha256: configVersions.sha256,
};

/**
 * Stores `toml` as the new current version, with the current one as parent, unless its SHA-256
 * equals the current version's: then nothing is written and the current version is returned
 * with `created: false`. The read and the single insert run in one IMMEDIATE transaction, so
 * concurrent writers cannot fork the history and a crash never leaves half a version.
 */
export function importConfigVersion(db: StoreDatabase, input: ConfigVersionInput): ImportResult {
  requireTimestamp(input.createdAtMs);
  // Hashing happens before taking the write lock, to keep the lock short.
  const sha256 = sha256Hex(utf8Encode(input.toml));
  return db.transaction(
    (tx) => {
      const current = tx.select().from(configVersions).orderBy(desc(configVersions.id)).limit(1).get();
      if (current !== undefined && current.sha256 === sha256) return { version: current, created: false };
      const version = tx
        .insert(configVersions)
        .values({
          parent: current?.id ?? null,
          createdAtMs: input.createdAtMs,
          source: input.source,
          author: input.author,
          sha256,
          toml: input.toml,
        })
        .returning()
        .get();
      return { version, created: true };
    },
    { behavior: "immediate" },
  );
}

/** Returns the current (highest-id) version, or undefined when the store has none yet. */
export function currentConfigVersion(db: StoreDatabase): ConfigVersion | undefined {
  return db.select().from(configVersions).orderBy(desc(configVersions.id)).limit(1).get();
}

/** Returns version `id`, or undefined if there is no such version. */
export function getConfigVersion(db: StoreDatabase, id: number): ConfigVersion | undefined {
  return db.select().from(configVersions).where(eq(configVersions.id, id)).get();
}

/** Returns every version without its TOML text, newest first. */
export function listConfigVersions(db: StoreDatabase): ConfigVersionSummary[] {
  return db.select(summaryColumns).from(configVersions).orderBy(desc(configVersions.id)).all();
}

/**
 * Makes the text of version `id` current again as a new version with source `rollback:<id>`
 * and the current version as parent (history is never rewritten). If that text already is
 * current, nothing is written (`created: false`). Throws a StoreError if `id` does not exist.
 */
export function rollbackConfig(db: StoreDatabase, id: number, input: RollbackInput): ImportResult {
  const target = getConfigVersion(db, id);
  if (target === undefined) throw new StoreError(`Config version "${id}" does not exist: ${describeRange(db)}`);
  return importConfigVersion(db, {
    toml: target.toml,
    source: `rollback:${id}`,
    author: input.author,
    createdAtMs: input.createdAtMs,
  });
}

// Rows are checked in pages so that a long history is never held in memory at once.
const VERIFY_PAGE_ROWS = 64;

/**
 * Checks every stored version and returns one message per problem (empty when all is well):
 * the sha256 column must match the SHA-256 of the UTF-8 text, and `parent` must be null for the
 * first version only and otherwise name an earlier existing version.
 */
export function verifyConfigVersions(db: StoreDatabase): string[] {
  const problems: string[] = [];
  const seen = new Set<number>();
  let afterId = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const page = db
      .select()
      .from(configVersions)
      .where(gt(configVersions.id, afterId))
      .orderBy(asc(configVersions.id))
      .limit(VERIFY_PAGE_ROWS)
      .all();
    for (const row of page) {
      const actual = sha256Hex(utf8Encode(row.toml));
      if (actual !== row.sha256) {
        problems.push(`Config version "${row.id}" is corrupt: its text hashes to "${actual}", not "${row.sha256}"`);
      }
      if (seen.size === 0) {
        if (row.parent !== null) {
          problems.push(`Config version "${row.id}" is the first version but has parent "${row.parent}"`);
        }
      } else if (row.parent === null) {
        problems.push(`Config version "${row.id}" has no parent: only the first version may have none`);
      } else if (!seen.has(row.parent)) {
        problems.push(`Config version "${row.id}" has parent "${row.parent}": no earlier version has that id`);
      }
      seen.add(row.id);
    }
    if (page.length < VERIFY_PAGE_ROWS) return problems;
    afterId = page[page.length - 1]!.id;
  }
}

function describeRange(db: StoreDatabase): string {
  const range = db
    .select({ first: min(configVersions.id), last: max(configVersions.id) })
    .from(configVersions)
    .get();
  if (range?.first == null || range.last == null) return "the store has no versions yet";
  return `versions are ${range.first}..${range.last}`;
}

function requireTimestamp(createdAtMs: number): void {
  if (!Number.isSafeInteger(createdAtMs) || createdAtMs < 0) {
    throw new StoreError(`Cannot store config version: createdAtMs "${createdAtMs}" is not a non-negative integer`);
  }
}
