/**
 * Runs the real `dist/tandem run` inside a test bed dispatcher namespace, with a real TOML file,
 * and waits on what it logs. The bed stops the process on destroy; tests also stop it themselves
 * to check a clean exit.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DispatcherSnapshot } from "../../src/engine/dispatcher-engine.ts";
import type { BedProcess, Testbed } from "./testbed/topology.ts";
import { TANDEM } from "./tandem-binary.ts";

/** A running tandem node in the bed. */
export interface TandemNode {
  readonly proc: BedProcess;
  readonly node: string;
  readonly configPath: string;
  readonly storePath: string;
  /** Resolves with the first stderr line matching `pattern` after `fromLine`, or rejects at the deadline or on exit. */
  waitForLog(pattern: RegExp, timeoutMs?: number, fromLine?: number): Promise<string>;
  /** Number of stderr lines so far (to wait for lines after this point). */
  lineCount(): number;
  /** GET /api/v1/status through the node's own loopback. */
  status(): Promise<{ dispatcher: DispatcherSnapshot }>;
  /** Rewrites the config file and sends SIGHUP; resolves when the node logged "Reloaded". */
  reload(toml: string): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number>;
}

const POLL_MS = 20;

/** Starts `tandem run --config` for `toml` as node `node` in the bed namespace of the same name. */
export async function startTandem(bed: Testbed, node: string, toml: string, webPort = 8080): Promise<TandemNode> {
  const configPath = join(bed.runDir, `tandem-${node}.toml`);
  const storePath = join(bed.runDir, `store-${node}`, "tandem.db");
  writeFileSync(configPath, toml);
  const proc = bed.spawn(node, [TANDEM, "run", "--config", configPath, "--node", node, "--store", storePath], `tandem-${node}`);
  const lines = () => proc.stderr().split("\n");
  const waitForLog = async (pattern: RegExp, timeoutMs = 15_000, fromLine = 0) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines().slice(fromLine).find((l) => pattern.test(l));
      if (found) return found;
      if (!proc.running) throw new Error(`tandem ${node} exited before logging ${pattern}:\n${proc.stderr()}`);
      if (Date.now() > deadline) throw new Error(`tandem ${node} did not log ${pattern} within ${timeoutMs} ms:\n${proc.stderr()}`);
      await Bun.sleep(POLL_MS);
    }
  };
  const handle: TandemNode = {
    proc,
    node,
    configPath,
    storePath,
    waitForLog,
    lineCount: () => lines().length - 1,
    async status() {
      const r = await bed.execOk(node, ["curl", "-sf", `http://127.0.0.1:${webPort}/api/v1/status`]);
      return JSON.parse(r.stdout);
    },
    async reload(next) {
      const from = handle.lineCount();
      writeFileSync(configPath, next);
      proc.signal("SIGHUP");
      await waitForLog(/ Reloaded /, 10_000, from);
    },
    async stop() {
      proc.signal("SIGTERM");
      return proc.exited;
    },
  };
  await waitForLog(/ Running /);
  return handle;
}
