import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../../src/platform/bun/open-store.ts";
import type { Store } from "../../../src/platform/bun/open-store.ts";
import { StoreError } from "../../../src/store/config-versions.ts";
import { listEvents, recordEvent } from "../../../src/store/events.ts";

/** Runs `body` with a fresh store in a temporary directory, removed afterwards whatever happens. */
function withStore(body: (store: Store) => void): void {
  const dir = mkdtempSync(join(tmpdir(), "tandem-events-"));
  let store: Store | undefined;
  try {
    store = openStore(join(dir, "store.db"));
    body(store);
  } finally {
    store?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function recordSamples(store: Store): void {
  recordEvent(store.db, { timeMs: 100, kind: "ha.transition", subject: "tandem-a", detail: { from: "backup", to: "master" } });
  recordEvent(store.db, { timeMs: 200, kind: "server.down", subject: "web/10.0.1.2:80", detail: { reason: "timeout" } });
  recordEvent(store.db, { timeMs: 300, kind: "server.up", subject: "web/10.0.1.2:80", detail: {} });
  recordEvent(store.db, { timeMs: 300, kind: "server.down", subject: "web/10.0.1.3:80", detail: { reason: "refused" } });
  recordEvent(store.db, { timeMs: 400, kind: "server.down", subject: "web/10.0.1.2:80", detail: { reason: "http 503" } });
}

describe("recordEvent", () => {
  test("stores an event and returns it with its id and its detail as an object", () => {
    withStore((store) => {
      const event = recordEvent(store.db, {
        timeMs: 1_700_000_000_000,
        kind: "config.applied",
        subject: "version 3",
        detail: { version: 3, changed: ["vip"], note: "Z\u00fcrich \ud83d\ude80" },
      });
      expect(event).toEqual({
        id: 1,
        timeMs: 1_700_000_000_000,
        kind: "config.applied",
        subject: "version 3",
        detail: { version: 3, changed: ["vip"], note: "Z\u00fcrich \ud83d\ude80" },
      });
      expect(listEvents(store.db, { limit: 10 })).toEqual([event]);
      const raw = store.sqlite.query<{ detail: string }, []>("SELECT detail FROM events").get();
      expect(raw?.detail).toBe('{"version":3,"changed":["vip"],"note":"Z\u00fcrich \ud83d\ude80"}');
    });
  });

  test("a detail that JSON cannot represent is refused and nothing is stored", () => {
    withStore((store) => {
      expect(() => recordEvent(store.db, { timeMs: 1, kind: "bad", subject: "x", detail: { count: 1n } })).toThrow(StoreError);
      expect(listEvents(store.db, { limit: 10 })).toEqual([]);
    });
  });
});

describe("listEvents", () => {
  test("lists newest first, breaking ties by insertion order, up to the limit", () => {
    withStore((store) => {
      recordSamples(store);
      const all = listEvents(store.db, { limit: 100 });
      expect(all.map((event) => [event.timeMs, event.id])).toEqual([[400, 5], [300, 4], [300, 3], [200, 2], [100, 1]]);
      expect(listEvents(store.db, { limit: 2 }).map((event) => event.id)).toEqual([5, 4]);
    });
  });

  test("filters by kind, by time from sinceMs inclusive, and by both", () => {
    withStore((store) => {
      recordSamples(store);
      expect(listEvents(store.db, { limit: 100, kind: "server.down" }).map((event) => event.id)).toEqual([5, 4, 2]);
      expect(listEvents(store.db, { limit: 100, sinceMs: 300 }).map((event) => event.id)).toEqual([5, 4, 3]);
      expect(listEvents(store.db, { limit: 100, kind: "server.down", sinceMs: 300 }).map((event) => event.id)).toEqual([5, 4]);
      expect(listEvents(store.db, { limit: 100, kind: "no.such.kind" })).toEqual([]);
    });
  });

  test("a limit below one is refused", () => {
    withStore((store) => {
      expect(() => listEvents(store.db, { limit: 0 })).toThrow(
        new StoreError('Cannot list events: limit "0" is not a positive integer'),
      );
    });
  });

  test("queries by kind and by time use the indexes instead of scanning the table", () => {
    withStore((store) => {
      const plan = (query: string): string =>
        store.sqlite
          .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${query}`)
          .all()
          .map((row) => row.detail)
          .join("; ");
      expect(plan("SELECT * FROM events WHERE kind = 'x' AND time_ms >= 5 ORDER BY time_ms DESC, id DESC LIMIT 10")).toContain(
        "events_kind_time_ms_idx",
      );
      expect(plan("SELECT * FROM events WHERE time_ms >= 5 ORDER BY time_ms DESC, id DESC LIMIT 10")).toContain(
        "events_time_ms_idx",
      );
      expect(plan("SELECT id FROM config_versions WHERE sha256 = 'x'")).toContain("config_versions_sha256_idx");
    });
  });
});
