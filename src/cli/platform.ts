import type { ProbeIo } from "../core/health/probe-types.ts";
import type { AlertExec } from "../engine/alert-engine.ts";
import type { HostFacts } from "../core/config/identify-node.ts";
import type { Clock, HaNet, LogLevel } from "../core/ports.ts";
import type { DataPlaneHost } from "../engine/data-plane.ts";
import type { StoreDatabase } from "../store/schema.ts";

/** An open store: the drizzle database plus a way to close it cleanly. */
export interface OpenStore {
  readonly db: StoreDatabase;
  /** Full `PRAGMA integrity_check`; `["ok"]` when sound. */
  integrityCheck(): string[];
  close(): void;
}

/** One HTTP request for `Platform.httpRequest`; the body, if any, is sent as UTF-8 text. */
export interface HttpRequest {
  readonly method: "GET" | "POST";
  readonly url: string;
  readonly body?: string;
  /** Request headers (e.g. content-type of a JSON body). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The whole exchange (connect, send, read the body) must finish within this time. */
  readonly timeoutMs: number;
}

/** What `Platform.httpRequest` got: a response of any status with its body as text, or why there was none. */
export type HttpResult =
  | { readonly kind: "response"; readonly status: number; readonly body: string }
  | { readonly kind: "refused" | "timeout" | "failed"; readonly detail: string };

/**
 * Everything the CLI needs from the runtime. Contract: methods that touch files or the system
 * throw an Error whose message is ready to print (it names the path and the reason).
 */
export interface Platform {
  readonly clock: Clock;
  readonly defaultLogLevel: LogLevel;
  readonly argv0: string;
  env(name: string): string | undefined;
  cwd(): string;
  readFile(path: string): Promise<Uint8Array>;
  ensureDirectory(path: string): void;
  /** Appends `text` to the file or device at `path` (created if missing), synchronously. */
  appendText(path: string, text: string): void;
  stdout(text: string): void;
  stderr(text: string): void;
  hostFacts(): Promise<HostFacts>;
  openStore(path: string): OpenStore;
  /** Calls `handler` once on SIGTERM or SIGINT; returns a function that removes the handlers. */
  onStopSignal(handler: (signal: string) => void): () => void;
  /** Calls `handler` on every SIGHUP (reload); returns a function that removes it. */
  onReloadSignal(handler: () => void): () => void;
  /** The ports the data plane needs (TUN worker, host commands, sysctls, journal files). */
  dataPlaneHost(): DataPlaneHost;
  /** The heartbeat's I/O: UDP, serial lines, gratuitous ARP, witness pings. */
  haNet(): HaNet;
  /** Serves HTTP on `address:port`; returns a function that stops serving. Throws when it cannot bind. */
  serve(address: string, port: number, fetch: (request: Request) => Response | Promise<Response>): () => void;
  /** Sends one HTTP request (no redirects followed). Contract: never rejects; failures are results. */
  httpRequest(request: HttpRequest): Promise<HttpResult>;
  /** The runtime operations of health probes (HTTP, TCP, DNS over UDP, ICMP echo, commands). */
  probeIo(): ProbeIo;
  /** Runs an exec alert's command (env, stdin, timeout). */
  alertExec(): AlertExec;
  /** Resident set size of this process in bytes. */
  rssBytes(): number;
  /** The process id, for logs and events. */
  readonly pid: number;
}
