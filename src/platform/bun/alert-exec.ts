import { constants } from "node:os";
import type { AlertExec, AlertExecResult } from "../../engine/alert-engine.ts";
import { killGroup } from "./kill-group.ts";

const STDERR_KEEP_CHARS = 2048;
/** How long to wait for stderr's end after the command exited: a grandchild may hold it open. */
const STDERR_GRACE_MS = 100;

/**
 * Runs exec alert commands with Bun.spawn (no shell), in a session of their own so that a
 * timeout kills the whole process group by its PID, the command's children included. Contract:
 * see `AlertExec`.
 */
export function bunAlertExec(): AlertExec {
  return async (request) => {
    let proc;
    try {
      proc = Bun.spawn([...request.argv], {
        env: { ...process.env, ...request.env },
        stdin: new TextEncoder().encode(request.stdin),
        stdout: "ignore",
        stderr: "pipe",
        detached: true,
      });
    } catch (error) {
      return { kind: "failed", detail: `Cannot run "${request.argv[0]}": ${(error as Error).message}` };
    }
    const pid = proc.pid;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(pid);
    }, request.timeoutMs);
    let stderr = "";
    const collected = collectTail(proc.stderr, (text) => (stderr = text));
    const code = await proc.exited;
    clearTimeout(timer);
    let grace: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([collected, new Promise<void>((resolve) => (grace = setTimeout(resolve, STDERR_GRACE_MS)))]);
    clearTimeout(grace);
    if (timedOut) return { kind: "timeout", detail: `"${request.argv[0]}" still running after ${request.timeoutMs} ms: killed` };
    // Killed by a signal: the shell's convention, 128 + N.
    const signal = proc.signalCode === null ? undefined : constants.signals[proc.signalCode as keyof typeof constants.signals];
    return { kind: "exited", code: signal === undefined ? code : 128 + signal, stderr } satisfies AlertExecResult;
  };
}

async function collectTail(stream: ReadableStream<Uint8Array>, update: (text: string) => void): Promise<void> {
  const decoder = new TextDecoder();
  let text = "";
  try {
    for await (const chunk of stream) {
      text = (text + decoder.decode(chunk, { stream: true })).slice(-STDERR_KEEP_CHARS);
      update(text);
    }
  } catch {
    // A broken pipe ends the collection; what was read is kept.
  }
}
