import type { HttpRequest, Platform } from "../../cli/platform.ts";
import type { HostFacts } from "../../core/config/identify-node.ts";
import { FakeClock } from "./fake-clock.ts";
import { FakeHttpNetwork } from "./fake-http.ts";

/** What a fake platform starts with. */
export interface FakePlatformOptions {
  /** Files by path; text is stored as UTF-8. */
  readonly files?: Readonly<Record<string, string | Uint8Array>>;
  readonly env?: Readonly<Record<string, string>>;
  readonly hostFacts?: HostFacts;
  readonly clock?: FakeClock;
}

/** A Platform in memory, plus what tests need to drive and inspect it. */
export interface FakePlatform extends Platform {
  readonly clock: FakeClock;
  /** Where `serve` listens and `httpRequest` connects. */
  readonly http: FakeHttpNetwork;
  /** Files by path, including those written by `appendText`. */
  readonly files: Map<string, Uint8Array>;
  /** Everything written to stdout so far. */
  stdoutText(): string;
  /** Everything written to stderr so far. */
  stderrText(): string;
  /** Delivers a signal to the handlers registered with `onStopSignal` (SIGTERM, SIGINT) or `onReloadSignal` (SIGHUP). */
  signal(name: "SIGTERM" | "SIGINT" | "SIGHUP"): void;
}

/**
 * A platform for CLI tests: files, stdout, stderr, the clock and HTTP are in memory. Contract: the
 * store, the data plane and the heartbeat's network are not faked; asking for them throws.
 */
export function fakePlatform(options: FakePlatformOptions = {}): FakePlatform {
  const clock = options.clock ?? new FakeClock();
  const http = new FakeHttpNetwork(clock);
  const encoder = new TextEncoder();
  const files = new Map(Object.entries(options.files ?? {}).map(([path, data]) => [path, typeof data === "string" ? encoder.encode(data) : data]));
  let out = "";
  let err = "";
  const stopHandlers = new Set<(signal: string) => void>();
  const reloadHandlers = new Set<() => void>();
  const missing = (what: string) => () => {
    throw new Error(`The fake platform has no ${what}`);
  };
  return {
    clock,
    http,
    files,
    defaultLogLevel: "debug",
    argv0: "tandem",
    pid: 4242,
    env: (name) => options.env?.[name],
    cwd: () => "/",
    async readFile(path) {
      const data = files.get(path);
      if (!data) throw new Error(`Cannot read "${path}": no such file or directory`);
      return data;
    },
    ensureDirectory: () => {},
    appendText(path, text) {
      const old = files.get(path) ?? new Uint8Array();
      const add = encoder.encode(text);
      const next = new Uint8Array(old.length + add.length);
      next.set(old);
      next.set(add, old.length);
      files.set(path, next);
    },
    stdout: (text) => void (out += text),
    stderr: (text) => void (err += text),
    stdoutText: () => out,
    stderrText: () => err,
    hostFacts: async () => options.hostFacts ?? { macs: [], hostname: "fake-host" },
    openStore: missing("store"),
    dataPlaneHost: missing("data plane"),
    haNet: missing("heartbeat network"),
    probeIo: missing("health probes"),
    alertExec: missing("alert commands"),
    onStopSignal(handler) {
      stopHandlers.add(handler);
      return () => void stopHandlers.delete(handler);
    },
    onReloadSignal(handler) {
      reloadHandlers.add(handler);
      return () => void reloadHandlers.delete(handler);
    },
    signal(name) {
      if (name === "SIGHUP") for (const handler of [...reloadHandlers]) handler();
      else for (const handler of [...stopHandlers]) handler(name);
    },
    serve: (address, port, fetch) => http.listen(address, port, fetch),
    httpRequest: (request: HttpRequest) => http.request(request),
    rssBytes: () => 0,
  };
}
