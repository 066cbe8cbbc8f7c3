import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { readMigrationFiles } from "drizzle-orm/migrator";
import type { MigrationMeta } from "drizzle-orm/migrator";
import { integrityCheck, openStore } from "../../../src/platform/bun/open-store.ts";
import { StoreError, importConfigVersion, listConfigVersions, verifyConfigVersions } from "../../../src/store/config-versions.ts";
import { embeddedMigrations } from "../../../src/store/embedded-migrations.ts";
import { migrateStore } from "../../../src/store/migrate-store.ts";

const migrationsFolder = join(import.meta.dir, "..", "..", "..", "src", "store", "migrations");

/** Runs `body` with a fresh temporary directory, removed afterwards whatever happens. */
function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tandem-migrate-store-"));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pragma(sqlite: Database, name: string): unknown {
  return sqlite.query<Record<string, unknown>, []>(`PRAGMA ${name}`).values()[0]?.[0];
}

// What drizzle-kit generates when a column of config_versions changes: rebuild the table with
// foreign keys off, which only works if they are off on the connection, not just in the script.
const rebuildConfigVersions: MigrationMeta = {
  sql: [
    "PRAGMA foreign_keys=OFF;",
    "CREATE TABLE `__new_config_versions` (`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL, `parent` integer, " +
      "`created_at_ms` integer NOT NULL, `source` text NOT NULL, `author` text NOT NULL, `sha256` text NOT NULL, " +
      "`toml` text NOT NULL, `note` text DEFAULT '' NOT NULL, " +
      "FOREIGN KEY (`parent`) REFERENCES `config_versions`(`id`) ON UPDATE no action ON DELETE no action);",
    "INSERT INTO `__new_config_versions`(`id`, `parent`, `created_at_ms`, `source`, `author`, `sha256`, `toml`) " +
      "SELECT `id`, `parent`, `created_at_ms`, `source`, `author`, `sha256`, `toml` FROM `config_versions`;",
    "DROP TABLE `config_versions`;",
    "ALTER TABLE `__new_config_versions` RENAME TO `config_versions`;",
    "PRAGMA foreign_keys=ON;",
    "CREATE INDEX `config_versions_sha256_idx` ON `config_versions` (`sha256`);",
  ],
  bps: true,
  folderMillis: embeddedMigrations[embeddedMigrations.length - 1]!.folderMillis + 1_000,
  hash: "test-rebuild",
};

describe("embedded migrations", () => {
  test("equal what drizzle's own file-based reader makes of src/store/migrations", () => {
    expect([...embeddedMigrations]).toEqual(readMigrationFiles({ migrationsFolder }));
  });
});

describe("openStore", () => {
  test("opens a new store in WAL mode with synchronous FULL, a busy timeout and foreign keys on", () => {
    withDir((dir) => {
      const store = openStore(join(dir, "store.db"));
      try {
        expect(pragma(store.sqlite, "journal_mode")).toBe("wal");
        expect(pragma(store.sqlite, "synchronous")).toBe(2);
        expect(pragma(store.sqlite, "busy_timeout")).toBe(5000);
        expect(pragma(store.sqlite, "foreign_keys")).toBe(1);
        expect(integrityCheck(store)).toEqual(["ok"]);
      } finally {
        store.close();
      }
    });
  });

  test("reopening applies no migration twice and keeps the data", () => {
    withDir((dir) => {
      const path = join(dir, "store.db");
      const first = openStore(path);
      try {
        importConfigVersion(first.db, { toml: "a = 1\n", source: "run", author: "root", createdAtMs: 1 });
      } finally {
        first.close();
      }
      const second = openStore(path);
      try {
        const applied = second.sqlite.query<{ n: number }, []>("SELECT count(*) AS n FROM __drizzle_migrations").get();
        expect(applied?.n).toBe(embeddedMigrations.length);
        expect(listConfigVersions(second.db).map((summary) => summary.id)).toEqual([1]);
      } finally {
        second.close();
      }
    });
  });

  test("close checkpoints the WAL down to nothing, and a second close does nothing", () => {
    withDir((dir) => {
      const path = join(dir, "store.db");
      const store = openStore(path);
      importConfigVersion(store.db, { toml: "x".repeat(100_000), source: "run", author: "root", createdAtMs: 1 });
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(100_000);
      store.close();
      store.close();
      expect(!existsSync(`${path}-wal`) || statSync(`${path}-wal`).size === 0).toBe(true);
    });
  });

  test("a missing directory is reported as such", () => {
    withDir((dir) => {
      const path = join(dir, "absent", "store.db");
      expect(() => openStore(path)).toThrow(
        new StoreError(`Cannot open store "${path}": directory "${join(dir, "absent")}" does not exist`),
      );
    });
  });

  test("a file that is not a database is refused with sqlite's reason", () => {
    withDir((dir) => {
      const path = join(dir, "store.db");
      writeFileSync(path, "name = \"this is TOML, not sqlite\"\n".repeat(200));
      expect(() => openStore(path)).toThrow(`Cannot open store "${path}": file is not a database`);
    });
  });

  test("a store migrated by a newer tandem is refused", () => {
    withDir((dir) => {
      const path = join(dir, "store.db");
      openStore(path).close();
      const sqlite = new Database(path);
      try {
        sqlite.run("INSERT INTO __drizzle_migrations (hash, created_at) VALUES ('future', 99999999999999)");
      } finally {
        sqlite.close();
      }
      expect(() => openStore(path)).toThrow(/it was migrated by a newer tandem \(migration "99999999999999"/);
    });
  });
});

describe("migrateStore", () => {
  test("a table-rebuild migration succeeds on a history of versions that reference each other", () => {
    withDir((dir) => {
      const store = openStore(join(dir, "store.db"));
      try {
        for (let i = 0; i < 5; i++) {
          importConfigVersion(store.db, { toml: `a = ${i}\n`, source: "run", author: "root", createdAtMs: i });
        }
        migrateStore(store.db, [...embeddedMigrations, rebuildConfigVersions]);
        expect(pragma(store.sqlite, "foreign_keys")).toBe(1);
        const columns = store.sqlite.query<{ name: string }, []>("PRAGMA table_info(config_versions)").all();
        expect(columns.map((column) => column.name)).toContain("note");
        expect(listConfigVersions(store.db).map((summary) => summary.parent)).toEqual([4, 3, 2, 1, null]);
        expect(verifyConfigVersions(store.db)).toEqual([]);
        expect(integrityCheck(store)).toEqual(["ok"]);
      } finally {
        store.close();
      }
    });
  });

  test("a failing migration changes nothing and leaves foreign keys on", () => {
    withDir((dir) => {
      const store = openStore(join(dir, "store.db"));
      try {
        const broken: MigrationMeta = {
          sql: ["CREATE TABLE `half_done` (`id` integer);", "THIS IS NOT SQL;"],
          bps: true,
          folderMillis: rebuildConfigVersions.folderMillis,
          hash: "test-broken",
        };
        expect(() => migrateStore(store.db, [...embeddedMigrations, broken])).toThrow();
        expect(pragma(store.sqlite, "foreign_keys")).toBe(1);
        const halfDone = store.sqlite.query("SELECT name FROM sqlite_master WHERE name = 'half_done'").all();
        expect(halfDone).toEqual([]);
      } finally {
        store.close();
      }
    });
  });

  test("refuses to run inside an open transaction, where foreign keys cannot be switched", () => {
    withDir((dir) => {
      const store = openStore(join(dir, "store.db"));
      try {
        const db = drizzle({ client: store.sqlite });
        store.sqlite.run("BEGIN");
        try {
          expect(() => migrateStore(db)).toThrow("Cannot migrate the store: a transaction is open");
        } finally {
          store.sqlite.run("ROLLBACK");
        }
      } finally {
        store.close();
      }
    });
  });
});
