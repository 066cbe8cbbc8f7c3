import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { OpenStore, Platform } from "../../cli/platform.ts";
import type { HostFacts } from "../../core/config/identify-node.ts";
import { integrityCheck, openStore } from "./open-store.ts";
import { systemClock } from "./system-clock.ts";

function describeError(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === "ENOENT") return "no such file or directory";
  if (e?.code === "EACCES") return "permission denied";
  if (e?.code === "EISDIR") return "is a directory";
  return e?.message ?? String(error);
}

/** MAC addresses of this host's NICs from sysfs, skipping loopback and all-zero addresses. */
function readMacs(): string[] {
  const macs: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync("/sys/class/net");
  } catch {
    return macs;
  }
  for (const name of names) {
    try {
      const mac = readFileSync(`/sys/class/net/${name}/address`, "utf8").trim().toLowerCase();
      if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/.test(mac) && mac !== "00:00:00:00:00:00") macs.push(mac);
    } catch {
      // Devices can vanish between readdir and read; that is not an error.
    }
  }
  return macs.sort();
}

/** The Bun implementation of the CLI's platform. */
export function bunPlatform(): Platform {
  return {
    clock: systemClock(),
    defaultLogLevel: "info",
    argv0: process.argv[1] ?? "tandem",
    pid: process.pid,
    env: (name) => process.env[name],
    cwd: () => process.cwd(),
    async readFile(path) {
      try {
        return new Uint8Array(await Bun.file(path).arrayBuffer());
      } catch (error) {
        throw new Error(`Cannot read "${path}": ${describeError(error)}`);
      }
    },
    ensureDirectory(path) {
      try {
        mkdirSync(path, { recursive: true });
      } catch (error) {
        throw new Error(`Cannot create directory "${path}": ${describeError(error)}`);
      }
    },
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    hostFacts: async (): Promise<HostFacts> => ({ macs: readMacs(), hostname: hostname() }),
    openStore(path): OpenStore {
      const store = openStore(path);
      return { db: store.db, integrityCheck: () => integrityCheck(store), close: () => store.close() };
    },
    onStopSignal(handler) {
      const onSignal = (signal: NodeJS.Signals) => handler(signal);
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
      return () => {
        process.off("SIGTERM", onSignal);
        process.off("SIGINT", onSignal);
      };
    },
    rssBytes: () => process.memoryUsage.rss(),
  };
}
