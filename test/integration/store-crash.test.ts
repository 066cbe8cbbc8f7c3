import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { integrityCheck, openStore } from "../../src/platform/bun/open-store.ts";
import { verifyConfigVersions } from "../../src/store/config-versions.ts";

const ROUNDS = 60;
const MAX_EXTRA_RUN_MS = 30;
const FIRST_IMPORT_TIMEOUT_MS = 10_000;
const TEST_TIMEOUT_MS = 60_000;
const importLoop = join(import.meta.dir, "..", "tools", "import-loop.ts");

/** Follows the `imported <id>` lines of the import loop. */
interface ImportLines {
  /** Resolves at the first `imported` line. */
  first: Promise<void>;
  /** Resolves when stdout closes, that is, once the process is gone. */
  done: Promise<void>;
  /** The id in the last line read, 0 before any. */
  lastId(): number;
  count(): number;
}

function followImportLines(stdout: ReadableStream<Uint8Array>): ImportLines {
  let lastId = 0;
  let count = 0;
  let announceFirst!: () => void;
  let failFirst!: (error: Error) => void;
  const first = new Promise<void>((resolve, reject) => {
    announceFirst = resolve;
    failFirst = reject;
  });
  // Handled here so that an unawaited rejection never surfaces on its own.
  first.catch(() => {});
  const done = (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of stdout) {
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const match = /^imported (\d+)$/.exec(line);
        if (match === null) throw new Error(`Unexpected line from the import loop: "${line}"`);
        const id = Number(match[1]);
        if (id <= lastId) throw new Error(`Import loop announced id "${id}" after "${lastId}"`);
        lastId = id;
        count++;
        if (count === 1) announceFirst();
      }
    }
    failFirst(new Error("The import loop closed stdout before announcing an import"));
  })();
  return { first, done, lastId: () => lastId, count: () => count };
}

/**
 * Counts the frames at the end of a WAL file that belong to its current generation (matching
 * salts, https://sqlite.org/fileformat2.html#walformat) but follow its last commit frame: pages
 * of a transaction that was being written when the process died. Recovery ignores them.
 */
function uncommittedWalFrames(walPath: string): number {
  if (!existsSync(walPath)) return 0;
  const wal = readFileSync(walPath);
  if (wal.length < 32) return 0;
  const view = new DataView(wal.buffer, wal.byteOffset, wal.byteLength);
  const pageSize = view.getUint32(8);
  const salt1 = view.getUint32(16);
  const salt2 = view.getUint32(20);
  let sinceCommit = 0;
  // A frame is a 24-byte header then a page; the last one may be cut short by the kill.
  for (let at = 32; at + 24 <= wal.length; at += 24 + pageSize) {
    if (view.getUint32(at + 8) !== salt1 || view.getUint32(at + 12) !== salt2) break;
    const isCommit = view.getUint32(at + 4) !== 0 && at + 24 + pageSize <= wal.length;
    sinceCommit = isCommit ? 0 : sinceCommit + 1;
  }
  return sinceCommit;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, message: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

test(
  `the store stays sound and loses no committed import across ${ROUNDS} SIGKILLs in the middle of imports`,
  async () => {
    const startedMs = performance.now();
    const dir = mkdtempSync(join(tmpdir(), "tandem-store-crash-"));
    const dbPath = join(dir, "store.db");
    let child: Subprocess<"ignore", "pipe", "pipe"> | undefined;
    let versions = 0;
    let killedBeforeAnnouncing = 0;
    let killedWhileWriting = 0;
    try {
      for (let round = 1; round <= ROUNDS; round++) {
        child = Bun.spawn([process.execPath, importLoop, dbPath], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
        const running = child;
        const lines = followImportLines(running.stdout);
        const exitedEarly = running.exited.then(async (code) => {
          throw new Error(`Import loop exited with "${code}" before the kill: ${await new Response(running.stderr).text()}`);
        });
        exitedEarly.catch(() => {});
        await withTimeout(
          Promise.race([lines.first, exitedEarly]),
          FIRST_IMPORT_TIMEOUT_MS,
          `Round ${round}: no import announced within ${FIRST_IMPORT_TIMEOUT_MS} ms`,
        );
        await delay(Math.random() * MAX_EXTRA_RUN_MS);
        process.kill(running.pid, "SIGKILL");
        await running.exited;
        expect(running.signalCode).toBe("SIGKILL");
        await lines.done;
        if (uncommittedWalFrames(`${dbPath}-wal`) > 0) killedWhileWriting++;

        const store = openStore(dbPath);
        try {
          expect(integrityCheck(store)).toEqual(["ok"]);
          expect(verifyConfigVersions(store.db)).toEqual([]);
          const { count, maxId } = store.sqlite
            .query<{ count: number; maxId: number | null }, []>("SELECT count(*) AS count, max(id) AS maxId FROM config_versions")
            .get()!;
          // Ids come from AUTOINCREMENT inside each import's transaction, so a complete history has no gaps.
          expect(maxId).toBe(count);
          // Every announced import was committed, and nothing committed is ever lost.
          expect(count).toBeGreaterThanOrEqual(lines.lastId());
          expect(count).toBeGreaterThan(versions);
          if (count > lines.lastId()) killedBeforeAnnouncing++;
          versions = count;
        } finally {
          store.close();
        }
      }
    } finally {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, "SIGKILL");
        await child.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
    const elapsedMs = performance.now() - startedMs;
    console.log(
      `store crash: ${ROUNDS} rounds, ${versions} versions committed, ` +
        `${killedBeforeAnnouncing} kills between a commit and its announcement, ` +
        `${killedWhileWriting} kills with uncommitted WAL frames, ${(elapsedMs / 1000).toFixed(1)} s`,
    );
    expect(elapsedMs).toBeLessThan(TEST_TIMEOUT_MS);
  },
  TEST_TIMEOUT_MS,
);
