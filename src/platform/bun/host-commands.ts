/**
 * Bun implementations of the host ports the plumbing uses: commands (Bun.spawn, no shell),
 * sysctls (/proc/sys) and small durable text files (node:fs).
 */

import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import type { CommandResult, HostCommands, Sysctls, TextFiles } from "../../core/ports.ts";

/** Where host changes take effect. */
export interface HostScope {
  /**
   * A network namespace (as named by `ip netns`) to work in instead of tandem's own; for tests.
   * Commands then run under `ip netns exec NAME`, and sysctls go through `cat` and `tee` there,
   * since /proc/sys/net shows the namespace of the process reading it.
   */
  readonly netns?: string;
}

/** Runs host commands with Bun.spawn, in `scope.netns` when given. */
export function bunHostCommands(scope: HostScope = {}): HostCommands {
  const prefix = scope.netns === undefined ? [] : ["ip", "netns", "exec", scope.netns];
  return {
    async run(argv, stdin) {
      const full = [...prefix, ...argv];
      let proc;
      try {
        proc = Bun.spawn(full, {
          stdin: stdin === undefined ? "ignore" : new TextEncoder().encode(stdin),
          stdout: "pipe",
          stderr: "pipe",
        });
      } catch (error) {
        throw new Error(`Cannot run "${argv[0]}": ${(error as Error).message}`);
      }
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      const signal = proc.signalCode ? 128 + (signalNumbers[proc.signalCode] ?? 0) : undefined;
      return { code: signal ?? code, stdout, stderr } satisfies CommandResult;
    },
  };
}

const signalNumbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGTERM: 15 };

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** Reads and writes /proc/sys of this process's namespace, or of `scope.netns` through commands. */
export function bunSysctls(scope: HostScope = {}): Sysctls {
  if (scope.netns !== undefined) return commandSysctls(bunHostCommands(scope));
  return {
    async read(name) {
      try {
        return readFileSync(`/proc/sys/${name}`, "utf8").trim();
      } catch (error) {
        if (errnoCode(error) === "ENOENT") return undefined;
        throw new Error(`Cannot read sysctl "${name}": ${(error as Error).message}`);
      }
    },
    async write(name, value) {
      try {
        writeFileSync(`/proc/sys/${name}`, value);
      } catch (error) {
        throw new Error(`Cannot set sysctl "${name}" to "${value}": ${(error as Error).message}`);
      }
    },
  };
}

function commandSysctls(commands: HostCommands): Sysctls {
  return {
    async read(name) {
      const r = await commands.run(["cat", `/proc/sys/${name}`]);
      if (r.code === 0) return r.stdout.trim();
      if (r.stderr.includes("No such file")) return undefined;
      throw new Error(`Cannot read sysctl "${name}": ${r.stderr.trim()}`);
    },
    async write(name, value) {
      const r = await commands.run(["tee", `/proc/sys/${name}`], value);
      if (r.code !== 0) throw new Error(`Cannot set sysctl "${name}" to "${value}": ${r.stderr.trim()}`);
    },
  };
}

/** Small text files on the local file system, replaced atomically and durably. */
export function bunTextFiles(): TextFiles {
  return {
    async read(path) {
      try {
        return readFileSync(path, "utf8");
      } catch (error) {
        if (errnoCode(error) === "ENOENT") return undefined;
        throw new Error(`Cannot read "${path}": ${(error as Error).message}`);
      }
    },
    async replace(path, text) {
      const temporary = `${path}.${process.pid}.tmp`;
      try {
        const fd = openSync(temporary, "w", 0o600);
        try {
          writeSync(fd, text);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
        renameSync(temporary, path);
        // The rename itself is durable only once the directory is synced.
        const dir = openSync(dirname(path), "r");
        try {
          fsyncSync(dir);
        } finally {
          closeSync(dir);
        }
      } catch (error) {
        rmSync(temporary, { force: true });
        throw new Error(`Cannot write "${path}": ${(error as Error).message}`);
      }
    },
    async remove(path) {
      try {
        rmSync(path, { force: true });
      } catch (error) {
        throw new Error(`Cannot remove "${path}": ${(error as Error).message}`);
      }
    },
  };
}
