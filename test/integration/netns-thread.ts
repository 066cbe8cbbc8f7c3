/**
 * Test helpers for work inside a network namespace from this very thread (setns), so a TUN
 * device can be created directly inside a test namespace, and small synchronous command runners.
 */
import { dlopen } from "bun:ffi";

/** setns(2) namespace type for network namespaces. */
export const CLONE_NEWNET = 0x40000000;
/** open(2) flags O_RDONLY | O_CLOEXEC. */
export const O_RDONLY_CLOEXEC = 0x80000;

const libc = dlopen("libc.so.6", {
  open: { args: ["cstring", "i32"], returns: "i32" },
  setns: { args: ["i32", "i32"], returns: "i32" },
  close: { args: ["i32"], returns: "i32" },
}).symbols;

/** Runs a command to completion; never throws on a non-zero exit. */
export function run(argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** Runs a command and returns its stdout; throws with its stderr when it fails. */
export function must(argv: string[]): string {
  const r = run(argv);
  if (r.code !== 0) throw new Error(`"${argv.join(" ")}" exited with ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** Runs `fn` with this thread inside namespace `ns` (as named by `ip netns`), then switches back, even on failure. */
export function inNamespace<T>(ns: string, fn: () => T): T {
  const home = libc.open(Buffer.from("/proc/thread-self/ns/net\0"), O_RDONLY_CLOEXEC);
  const target = libc.open(Buffer.from(`/run/netns/${ns}\0`), O_RDONLY_CLOEXEC);
  try {
    if (home < 0 || target < 0) throw new Error(`Cannot open the namespaces "${ns}" and home`);
    if (libc.setns(target, CLONE_NEWNET) !== 0) throw new Error(`Cannot enter namespace "${ns}"`);
    try {
      return fn();
    } finally {
      if (libc.setns(home, CLONE_NEWNET) !== 0) throw new Error("Cannot return to the home namespace");
    }
  } finally {
    if (home >= 0) libc.close(home);
    if (target >= 0) libc.close(target);
  }
}
