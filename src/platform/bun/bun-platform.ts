import type { ProbeIo } from "../../core/health/probe-types.ts";
import { bunAlertExec } from "./alert-exec.ts";
import { createBunProbeIo } from "./probe-io.ts";
import { createBunHaNet } from "./ha-net.ts";
import type { HaNet } from "../../core/ports.ts";
import { appendFileSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { OpenStore, Platform } from "../../cli/platform.ts";
import type { HostFacts } from "../../core/config/identify-node.ts";
import type { WorkerLike } from "../../engine/dispatcher-engine.ts";
import { bunHostCommands, bunSysctls, bunTextFiles } from "./host-commands.ts";
import { bunHttpRequest } from "./http-request.ts";
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

/**
 * Where the packet Worker's entry point is. In the compiled binary it is a second entry point
 * (justfile: build), stored relative to the entry points' common root, src/; from source it is
 * the file beside this one.
 */
const DISPATCHER_WORKER_URL = import.meta.url.includes("/$bunfs/") ? "./platform/bun/dispatcher-worker.ts" : new URL("./dispatcher-worker.ts", import.meta.url).href;

/** The Bun implementation of the CLI's platform. */
export function bunPlatform(): Platform {
  let net: HaNet | undefined;
  const haNet = () => (net ??= createBunHaNet());
  let probeIo: ProbeIo | undefined;
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
    appendText: (path, text) => appendFileSync(path, text),
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
    onReloadSignal(handler) {
      const onHup = () => handler();
      process.on("SIGHUP", onHup);
      return () => process.off("SIGHUP", onHup);
    },
    haNet,
    dataPlaneHost: () => ({
      commands: bunHostCommands(),
      sysctls: bunSysctls(),
      files: bunTextFiles(),
      spawnWorker: () => new Worker(DISPATCHER_WORKER_URL) as unknown as WorkerLike,
      randomSeed: () => crypto.getRandomValues(new Uint32Array(1))[0]!,
    }),
    serve(address, port, fetch) {
      try {
        const server = Bun.serve({ hostname: address, port, fetch, idleTimeout: 30 });
        return () => void server.stop(true);
      } catch (error) {
        throw new Error(`Cannot listen on ${address}:${port}: ${(error as Error).message}`);
      }
    },
    httpRequest: bunHttpRequest,
    probeIo: () => (probeIo ??= createBunProbeIo()),
    alertExec: bunAlertExec,
    rssBytes: () => process.memoryUsage.rss(),
  };
}
