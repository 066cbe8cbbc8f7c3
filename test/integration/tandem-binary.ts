/**
 * Helpers for integration tests that drive the compiled binary: run it to completion, or start
 * it in the background and await lines it prints. Every started process is killed by PID in
 * `stopAll()`, which tests call from afterEach/afterAll even when they fail.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Subprocess } from "bun";

/** Absolute path of the binary under test (built by `just build`). */
export const TANDEM = resolve(import.meta.dir, "../../dist/tandem");

/** The repository root, the working directory tests run commands in. */
export const ROOT = resolve(import.meta.dir, "../..");

/** Fails with a clear message when the binary has not been built. */
export function requireBinary(): void {
  if (!existsSync(TANDEM)) throw new Error(`${TANDEM} is missing: run "just build" first (npm test does)`);
}

/** The outcome of a finished command. */
export interface RunResult {
  code: number;
  stdout: string;
  /** stdout exactly as written (the text form would drop a leading byte order mark). */
  stdoutBytes: Uint8Array;
  stderr: string;
}

/** Runs a command to completion (bounded by `timeoutMs`) and returns its exit code and output. */
export async function run(argv: string[], options: { env?: Record<string, string>; timeoutMs?: number; stdin?: Uint8Array } = {}): Promise<RunResult> {
  const proc = Bun.spawn(argv, { cwd: ROOT, env: { ...process.env, ...options.env }, stdout: "pipe", stderr: "pipe", stdin: options.stdin ?? "ignore" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), options.timeoutMs ?? 30_000);
  const [out, stderr, code] = await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(timer);
  const stdoutBytes = new Uint8Array(out);
  return { code, stdout: new TextDecoder("utf-8", { ignoreBOM: true }).decode(stdoutBytes), stdoutBytes, stderr };
}

const started = new Set<Subprocess>();

/** A background process whose stderr lines can be awaited. */
export interface Background {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  lines: string[];
  /** Resolves with the first stderr line matching `pattern`, or rejects after `timeoutMs` or on exit. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<string>;
}

/** Starts a command in the background, collecting its stderr line by line. */
export function start(argv: string[], env: Record<string, string> = {}): Background {
  const proc = Bun.spawn(argv, { cwd: ROOT, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  started.add(proc);
  void proc.exited.then(() => started.delete(proc));
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  void (async () => {
    let buffer = "";
    for await (const chunk of proc.stderr) {
      buffer += new TextDecoder().decode(chunk);
      let nl: number;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        lines.push(line);
        for (const w of [...waiters]) if (w.pattern.test(line)) waiters.splice(waiters.indexOf(w), 1), w.resolve(line);
      }
    }
  })();
  return {
    proc,
    lines,
    waitFor(pattern, timeoutMs = 15_000) {
      const seen = lines.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolvePromise, reject) => {
        const timer = setTimeout(() => reject(new Error(`Timed out after ${timeoutMs} ms waiting for ${pattern}; stderr so far:\n${lines.join("\n")}`)), timeoutMs);
        void proc.exited.then((code) => reject(new Error(`Process exited (${code}) before printing ${pattern}; stderr:\n${lines.join("\n")}`)));
        waiters.push({ pattern, resolve: (line) => (clearTimeout(timer), resolvePromise(line)) });
      });
    },
  };
}

/** Kills every background process still running (by PID) and waits for them to exit. */
export async function stopAll(): Promise<void> {
  const procs = [...started];
  for (const p of procs) p.kill("SIGKILL");
  await Promise.all(procs.map((p) => p.exited));
}
