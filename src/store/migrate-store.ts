/**
 * Brings a store database up to the current schema with drizzle's own migration machinery,
 * fed from the embedded migrations instead of files on disk. Runtime-neutral.
 */

import { sql } from "drizzle-orm";
import type { MigrationMeta } from "drizzle-orm/migrator";
import type { SQLiteSession, SQLiteSyncDialect } from "drizzle-orm/sqlite-core";
import { StoreError } from "./config-versions.ts";
import { embeddedMigrations } from "./embedded-migrations.ts";
import type { StoreDatabase } from "./schema.ts";

// drizzle's bookkeeping table; the default name, so drizzle-kit tooling recognises it too.
const MIGRATIONS_TABLE = "__drizzle_migrations";

// drizzle marks `dialect` and `session` @internal, but its own migrators
// (drizzle-orm/bun-sqlite/migrator.js) call exactly `db.dialect.migrate(migrations, db.session, config)`.
interface DrizzleInternals {
  dialect: SQLiteSyncDialect;
  session: SQLiteSession<"sync", unknown, Record<string, unknown>, never>;
}

/**
 * Applies every embedded migration not yet applied to `db`, in one transaction, and leaves
 * foreign keys enforced. Throws a StoreError if the database was written by a newer tandem
 * (it has migrations this build does not know) or if a migration leaves a foreign-key violation.
 * Must not be called inside a transaction.
 */
export function migrateStore(db: StoreDatabase, migrations: readonly MigrationMeta[] = embeddedMigrations): void {
  refuseNewerDatabase(db, migrations);
  // Table-rebuild migrations say `PRAGMA foreign_keys=OFF`, but drizzle runs them inside a
  // transaction where that pragma is a no-op (https://sqlite.org/pragma.html#pragma_foreign_keys),
  // so switch enforcement off on the connection around the whole run.
  db.run(sql`PRAGMA foreign_keys=OFF`);
  try {
    if (Number(db.values<[number]>(sql`PRAGMA foreign_keys`)[0]?.[0]) !== 0) {
      throw new StoreError("Cannot migrate the store: a transaction is open, so foreign keys cannot be switched off");
    }
    const { dialect, session } = db as unknown as DrizzleInternals;
    dialect.migrate([...migrations], session, { migrationsFolder: "(embedded)", migrationsTable: MIGRATIONS_TABLE });
    // Columns: table, rowid, referenced table, foreign-key index.
    const violations = db.values<[string, number, string, number]>(sql`PRAGMA foreign_key_check`);
    if (violations.length > 0) {
      const [table, rowid, parent] = violations[0]!;
      throw new StoreError(
        `Store migration left ${violations.length} foreign-key violations: ` +
          `first in table "${table}" row "${rowid}" referencing "${parent}"`,
      );
    }
  } finally {
    db.run(sql`PRAGMA foreign_keys=ON`);
  }
}

/** Throws if `db` records a migration newer than the newest one this build carries. */
function refuseNewerDatabase(db: StoreDatabase, migrations: readonly MigrationMeta[]): void {
  // Raw queries go through `values` (arrays), the one result shape every sqlite driver agrees on.
  const tables = db.values<[string]>(
    sql`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ${MIGRATIONS_TABLE}`,
  );
  if (tables.length === 0) return;
  const newest = db.values<[number | null]>(sql`SELECT max(created_at) FROM ${sql.identifier(MIGRATIONS_TABLE)}`);
  const known = migrations.reduce((latest, migration) => Math.max(latest, migration.folderMillis), 0);
  const applied = Number(newest[0]?.[0] ?? 0);
  if (applied > known) {
    throw new StoreError(
      `Cannot use the store: it was migrated by a newer tandem (migration "${applied}", this build knows up to "${known}")`,
    );
  }
}
