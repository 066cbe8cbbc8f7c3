/**
 * Opens the tandem store on bun:sqlite: durable pragmas, embedded migrations, a quick check.
 */

import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";
import { dirname } from "node:path";
import { drizzle } from "drizzle-orm/bun-sqlite";
import type { BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { StoreError } from "../../store/config-versions.ts";
import { migrateStore } from "../../store/migrate-store.ts";

/** An open store: the drizzle handle for queries, the raw connection for pragmas, and `close`. */
export interface Store {
  db: BunSQLiteDatabase;
  sqlite: Database;
  /** Checkpoints the WAL into the database file and closes the connection; a second call does nothing. */
  close(): void;
}

/**
 * Opens (creating if needed) the sqlite store at `path` in WAL mode with synchronous=FULL,
 * migrates it and runs PRAGMA quick_check. The directory must already exist. Throws a
 * StoreError `Cannot open store "PATH": REASON` on any failure, leaving nothing open.
 */
export function openStore(path: string): Store {
  let sqlite: Database;
  try {
    sqlite = new Database(path, { create: true, readwrite: true });
  } catch (error) {
    const directory = dirname(path);
    const reason = existsSync(directory) ? errorMessage(error) : `directory "${directory}" does not exist`;
    throw new StoreError(`Cannot open store "${path}": ${reason}`);
  }
  try {
    // busy_timeout first, so that the pragmas and migrations below wait for other connections.
    sqlite.run("PRAGMA busy_timeout=5000");
    const mode = sqlite.query<{ journal_mode: string }, []>("PRAGMA journal_mode=WAL").get()?.journal_mode;
    if (mode !== "wal" && !(path === ":memory:" && mode === "memory")) {
      throw new Error(`journal_mode is "${mode}", not "wal"`);
    }
    // FULL also syncs the WAL at every commit: the appliance may lose power at any moment.
    sqlite.run("PRAGMA synchronous=FULL");
    sqlite.run("PRAGMA foreign_keys=ON");
    const db = drizzle({ client: sqlite });
    migrateStore(db);
    const problems = quickCheck(sqlite);
    if (problems.length !== 1 || problems[0] !== "ok") throw new Error(`quick_check failed: ${problems.join("; ")}`);
    let closed = false;
    return {
      db,
      sqlite,
      close() {
        if (closed) return;
        closed = true;
        try {
          // TRUNCATE leaves a zero-length WAL, so the file on disk is complete by itself.
          sqlite.run("PRAGMA wal_checkpoint(TRUNCATE)");
        } finally {
          sqlite.close();
        }
      },
    };
  } catch (error) {
    sqlite.close();
    throw new StoreError(`Cannot open store "${path}": ${errorMessage(error)}`);
  }
}

/** Runs the full PRAGMA integrity_check and returns its lines: exactly ["ok"] when the file is sound. */
export function integrityCheck(store: Store): string[] {
  return store.sqlite
    .query<Record<string, string>, []>("PRAGMA integrity_check")
    .values()
    .map((row) => String(row[0]));
}

function quickCheck(sqlite: Database): string[] {
  return sqlite
    .query<Record<string, string>, []>("PRAGMA quick_check")
    .values()
    .map((row) => String(row[0]));
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
