import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { utf8Encode } from "../../../src/core/crypto/utf8.ts";
import { openStore } from "../../../src/platform/bun/open-store.ts";
import type { Store } from "../../../src/platform/bun/open-store.ts";
import {
  StoreError,
  currentConfigVersion,
  getConfigVersion,
  importConfigVersion,
  listConfigVersions,
  rollbackConfig,
  verifyConfigVersions,
} from "../../../src/store/config-versions.ts";

/** Runs `body` with a fresh store in a temporary directory, removed afterwards whatever happens. */
function withStore(body: (store: Store, path: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tandem-config-versions-"));
  const path = join(dir, "store.db");
  let store: Store | undefined;
  try {
    store = openStore(path);
    body(store, path);
  } finally {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function importText(store: Store, toml: string, createdAtMs = 1_000): ReturnType<typeof importConfigVersion> {
  return importConfigVersion(store.db, { toml, source: "import:/etc/tandem.toml", author: "root", createdAtMs });
}

function nodeSha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

describe("importConfigVersion", () => {
  test("the first import becomes version 1 with no parent and the SHA-256 of its UTF-8 bytes", () => {
    withStore((store) => {
      const { version, created } = importText(store, "name = \"a\"\n", 1_700_000_000_123);
      expect(created).toBe(true);
      expect(version).toEqual({
        id: 1,
        parent: null,
        createdAtMs: 1_700_000_000_123,
        source: "import:/etc/tandem.toml",
        author: "root",
        sha256: nodeSha256Hex(utf8Encode("name = \"a\"\n")),
        toml: "name = \"a\"\n",
      });
      expect(currentConfigVersion(store.db)).toEqual(version);
    });
  });

  test("importing the current text again adds no version", () => {
    withStore((store) => {
      const first = importText(store, "a = 1\n");
      const again = importText(store, "a = 1\n", 2_000);
      expect(again.created).toBe(false);
      expect(again.version).toEqual(first.version);
      expect(listConfigVersions(store.db)).toHaveLength(1);
    });
  });

  test("importing an older, non-current text adds a version whose parent is the current one", () => {
    withStore((store) => {
      importText(store, "a = 1\n");
      importText(store, "a = 2\n");
      const third = importText(store, "a = 1\n");
      expect(third.created).toBe(true);
      expect(third.version.id).toBe(3);
      expect(third.version.parent).toBe(2);
    });
  });

  test("an empty text is a version like any other", () => {
    withStore((store) => {
      const { version } = importText(store, "");
      expect(version.sha256).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
      expect(getConfigVersion(store.db, version.id)?.toml).toBe("");
    });
  });

  test("a timestamp that is not an integer is refused", () => {
    withStore((store) => {
      expect(() => importText(store, "a = 1\n", 1.5)).toThrow(
        new StoreError('Cannot store config version: createdAtMs "1.5" is not a non-negative integer'),
      );
      expect(listConfigVersions(store.db)).toHaveLength(0);
    });
  });
});

describe("stored text", () => {
  test("comes back byte for byte with CRLF line endings, a UTF-8 BOM and non-ASCII text, after a reopen", () => {
    const fileBytes = new TextEncoder().encode(
      "\ufeff# tandem \u2014 Z\u00fcrich / \u6771\u4eac \ud83d\ude80\r\n[cluster]\r\nname = \"caf\u00e9\"\r\n\r\n\ttab = 1 \r\n",
    );
    // The caller must keep the BOM when decoding: TextDecoder drops it unless told not to.
    const toml = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(fileBytes);
    const dir = mkdtempSync(join(tmpdir(), "tandem-config-versions-"));
    const path = join(dir, "store.db");
    try {
      const store = openStore(path);
      let id: number;
      try {
        id = importText(store, toml).version.id;
      } finally {
        store.close();
      }
      const reopened = openStore(path);
      try {
        const version = getConfigVersion(reopened.db, id);
        expect(version?.toml).toBe(toml);
        expect(utf8Encode(version!.toml)).toEqual(fileBytes);
        expect(version?.sha256).toBe(nodeSha256Hex(fileBytes));
        expect(verifyConfigVersions(reopened.db)).toEqual([]);
      } finally {
        reopened.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("texts differing only in line endings or the BOM are distinct versions", () => {
    withStore((store) => {
      expect(importText(store, "a = 1\n").created).toBe(true);
      expect(importText(store, "a = 1\r\n").created).toBe(true);
      expect(importText(store, "\ufeffa = 1\r\n").created).toBe(true);
      expect(listConfigVersions(store.db).map((summary) => summary.id)).toEqual([3, 2, 1]);
    });
  });
});

describe("listConfigVersions", () => {
  test("lists every version newest first, each the child of the one before, without the text", () => {
    withStore((store) => {
      importText(store, "a = 1\n", 10);
      importConfigVersion(store.db, { toml: "a = 2\n", source: "ui", author: "alice", createdAtMs: 20 });
      importConfigVersion(store.db, { toml: "a = 3\n", source: "sync:peer", author: "tandem-b", createdAtMs: 30 });
      const history = listConfigVersions(store.db);
      expect(history).toEqual([
        { id: 3, parent: 2, createdAtMs: 30, source: "sync:peer", author: "tandem-b", sha256: nodeSha256Hex(utf8Encode("a = 3\n")) },
        { id: 2, parent: 1, createdAtMs: 20, source: "ui", author: "alice", sha256: nodeSha256Hex(utf8Encode("a = 2\n")) },
        { id: 1, parent: null, createdAtMs: 10, source: "import:/etc/tandem.toml", author: "root", sha256: nodeSha256Hex(utf8Encode("a = 1\n")) },
      ]);
      expect(history.some((summary) => "toml" in summary)).toBe(false);
    });
  });

  test("an empty store has no history and no current version", () => {
    withStore((store) => {
      expect(listConfigVersions(store.db)).toEqual([]);
      expect(currentConfigVersion(store.db)).toBeUndefined();
      expect(getConfigVersion(store.db, 1)).toBeUndefined();
    });
  });
});

describe("rollbackConfig", () => {
  test("makes an old text current again as a new version recording where it came from", () => {
    withStore((store) => {
      importText(store, "a = 1\n");
      importText(store, "a = 2\n");
      importText(store, "a = 3\n");
      const { version, created } = rollbackConfig(store.db, 1, { author: "alice", createdAtMs: 5_000 });
      expect(created).toBe(true);
      expect(version).toMatchObject({ id: 4, parent: 3, source: "rollback:1", author: "alice", createdAtMs: 5_000, toml: "a = 1\n" });
      expect(version.sha256).toBe(getConfigVersion(store.db, 1)!.sha256);
      expect(currentConfigVersion(store.db)?.id).toBe(4);
      expect(verifyConfigVersions(store.db)).toEqual([]);
    });
  });

  test("rolling back to a text that is already current adds no version", () => {
    withStore((store) => {
      importText(store, "a = 1\n");
      importText(store, "a = 2\n");
      importText(store, "a = 1\n");
      const { version, created } = rollbackConfig(store.db, 1, { author: "alice", createdAtMs: 5_000 });
      expect(created).toBe(false);
      expect(version.id).toBe(3);
    });
  });

  test("an unknown version is refused with the range of known ones", () => {
    withStore((store) => {
      expect(() => rollbackConfig(store.db, 1, { author: "alice", createdAtMs: 1 })).toThrow(
        new StoreError('Config version "1" does not exist: the store has no versions yet'),
      );
      for (const text of ["a = 1\n", "a = 2\n", "a = 3\n", "a = 4\n", "a = 5\n"]) importText(store, text);
      let thrown: unknown;
      try {
        rollbackConfig(store.db, 7, { author: "alice", createdAtMs: 1 });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(StoreError);
      expect((thrown as Error).message).toBe('Config version "7" does not exist: versions are 1..5');
      expect(listConfigVersions(store.db)).toHaveLength(5);
    });
  });
});

describe("verifyConfigVersions", () => {
  test("finds no problem in an intact history longer than one page", () => {
    withStore((store) => {
      for (let i = 0; i < 150; i++) importText(store, `serial = ${i}\n`);
      expect(verifyConfigVersions(store.db)).toEqual([]);
    });
  });

  test("reports a row whose text was changed behind the store's back", () => {
    withStore((store) => {
      for (let i = 0; i < 100; i++) importText(store, `serial = ${i}\n`);
      const expected = nodeSha256Hex(utf8Encode("serial = 1\n"));
      const tampered = nodeSha256Hex(utf8Encode("serial = 666\n"));
      store.sqlite.run("UPDATE config_versions SET toml = 'serial = 666\n' WHERE id = 2");
      expect(verifyConfigVersions(store.db)).toEqual([
        `Config version "2" is corrupt: its text hashes to "${tampered}", not "${expected}"`,
      ]);
    });
  });

  test("reports parents that are missing, later, or absent after the first version", () => {
    withStore((store) => {
      for (let i = 0; i < 5; i++) importText(store, `serial = ${i}\n`);
      // Foreign keys would refuse a dangling parent; this simulates damage the schema cannot prevent.
      store.sqlite.run("PRAGMA foreign_keys=OFF");
      store.sqlite.run("UPDATE config_versions SET parent = 2 WHERE id = 1");
      store.sqlite.run("UPDATE config_versions SET parent = NULL WHERE id = 3");
      store.sqlite.run("UPDATE config_versions SET parent = 99 WHERE id = 4");
      store.sqlite.run("UPDATE config_versions SET parent = 5 WHERE id = 5");
      expect(verifyConfigVersions(store.db)).toEqual([
        'Config version "1" is the first version but has parent "2"',
        'Config version "3" has no parent: only the first version may have none',
        'Config version "4" has parent "99": no earlier version has that id',
        'Config version "5" has parent "5": no earlier version has that id',
      ]);
    });
  });

  test("foreign keys refuse a parent that does not exist", () => {
    withStore((store) => {
      importText(store, "a = 1\n");
      expect(() => store.sqlite.run("UPDATE config_versions SET parent = 42 WHERE id = 1")).toThrow(/FOREIGN KEY/);
    });
  });
});
