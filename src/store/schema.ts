/**
 * The sqlite schema of the tandem store, in drizzle-orm's sqlite-core dialect. Runtime-neutral:
 * it imports only drizzle-orm, so the Bun and a future Deno sqlite driver share it.
 * Changing it means running drizzle-kit generate and test/tools/gen-migrations.ts (see
 * src/store/embedded-migrations.ts).
 */

import { index, integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import type { AnySQLiteColumn, BaseSQLiteDatabase } from "drizzle-orm/sqlite-core";

/**
 * Every version of the TOML config ever accepted, append-only. The current version is the row
 * with the highest id; `parent` is the version that was current when this one was stored
 * (null only for the first row). `sha256` is the hex SHA-256 of the UTF-8 bytes of `toml`.
 */
export const configVersions = sqliteTable(
  "config_versions",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    parent: integer("parent").references((): AnySQLiteColumn => configVersions.id),
    createdAtMs: integer("created_at_ms").notNull(),
    // Where the text came from: "import:/etc/tandem.toml", "rollback:3", "run", "ui", "sync:peer".
    source: text("source").notNull(),
    author: text("author").notNull(),
    sha256: text("sha256").notNull(),
    toml: text("toml").notNull(),
  },
  (table) => [index("config_versions_sha256_idx").on(table.sha256)],
);

/**
 * An append-only journal of things worth showing to an operator later (failovers, config
 * changes, server transitions). `detail` is a JSON object as text.
 */
export const events = sqliteTable(
  "events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    timeMs: integer("time_ms").notNull(),
    kind: text("kind").notNull(),
    subject: text("subject").notNull(),
    detail: text("detail").notNull(),
  },
  (table) => [
    index("events_time_ms_idx").on(table.timeMs),
    index("events_kind_time_ms_idx").on(table.kind, table.timeMs),
  ],
);

/**
 * The database handle the store's queries take: any synchronous drizzle sqlite database
 * (bun:sqlite today, a Deno driver later). The queries use the query builder only, so no
 * relational schema is attached.
 */
export type StoreDatabase = BaseSQLiteDatabase<"sync", unknown>;
