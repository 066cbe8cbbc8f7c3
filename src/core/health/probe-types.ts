/**
 * What a health probe checks and what it found, and `ProbeIo`: the few runtime operations the
 * probes need. The probe logic (`src/engine/probes`) is written against `ProbeIo`, so status
 * ranges, regular expressions and DNS matching are tested with a fake; `src/platform/bun` has
 * the real one.
 */

import type { Monitor } from "../config/resolve-config.ts";
import type { Clock } from "../ports.ts";

/** One real server of one service, with its effective monitor (service monitor plus overrides). */
export interface ProbeTarget {
  /** The service's name: for TANDEM_SERVICE and logs. */
  readonly service: string;
  /** The server's address (dotted quad). */
  readonly address: string;
  /** The server's port; the monitor's own `port`, when set, takes precedence. */
  readonly port: number;
  readonly monitor: Monitor;
}

/** The outcome of one probe. */
export interface ProbeResult {
  /** True when the server passed. */
  readonly ok: boolean;
  /** Response time in milliseconds from the start of the probe to its verdict (the adaptive scheduler's sample). */
  readonly ms: number;
  /** Why it failed ("status 503 not in 200-399", "timeout after 2000 ms"), or what passed ("200 in 3 ms"). */
  readonly detail: string;
}

/** Why an exchange got no usable answer. `detail` is short and names the cause ("connect ECONNREFUSED"). */
export interface ProbeIoFailure {
  readonly kind: "timeout" | "refused" | "unreachable" | "tls" | "failed";
  readonly detail: string;
}

/** One HTTP(S) request on a fresh connection, no proxy, no redirects followed. */
export interface ProbeHttpRequest {
  readonly tls: boolean;
  /** With `tls`: whether the certificate must verify (chain, and the name when `host` is one). */
  readonly verifyTls: boolean;
  readonly method: "GET" | "HEAD" | "POST" | "OPTIONS";
  readonly address: string;
  readonly port: number;
  /** Request target, starting with "/". */
  readonly path: string;
  /** Value of the Host header. */
  readonly host: string;
  /** At most this many bytes of the body are read; the rest is discarded unread. */
  readonly maxBodyBytes: number;
  /** The whole exchange (connect, TLS, request, status, body prefix) must end within this time. */
  readonly timeoutMs: number;
}

/** A response of any status with the first `maxBodyBytes` of its body as UTF-8 text, or a failure. */
export type ProbeHttpOutcome = { readonly kind: "response"; readonly status: number; readonly body: string } | ProbeIoFailure;

/** One TCP connection: connect, send, then optionally read. */
export interface ProbeTcpRequest {
  readonly address: string;
  readonly port: number;
  /** Bytes written once connected, if any. */
  readonly send: Uint8Array | undefined;
  /**
   * When defined, bytes are read after sending and this is called with everything received so
   * far after each chunk; reading stops once it returns true. When undefined nothing is read:
   * the exchange ends once connected and `send` is written.
   */
  readonly readUntil: ((received: Uint8Array) => boolean) | undefined;
  /** Reading stops after this many bytes (the excess of the last chunk is dropped). */
  readonly maxBytes: number;
  readonly timeoutMs: number;
}

/**
 * A connection that was made, with what it received and why reading stopped ("done": `readUntil`
 * said so; "closed": the peer closed; "full": `maxBytes`; "timeout"; "none": nothing was to be
 * read), or a failure to connect (or to send).
 */
export type ProbeTcpOutcome =
  | { readonly kind: "connected"; readonly received: Uint8Array; readonly ended: "done" | "closed" | "full" | "timeout" | "none" }
  | ProbeIoFailure;

/** One UDP request and the first datagram that comes back from `address:port`. */
export interface ProbeUdpRequest {
  readonly address: string;
  readonly port: number;
  readonly bytes: Uint8Array;
  readonly timeoutMs: number;
}

/** The first datagram received from the peer, or a failure. */
export type ProbeUdpOutcome = { readonly kind: "reply"; readonly bytes: Uint8Array } | ProbeIoFailure;

/** One program run without a shell. */
export interface ProbeRunRequest {
  /** `argv[0]` is an absolute path or a name on PATH. */
  readonly argv: readonly string[];
  /** The program's whole environment, except PATH, which the runtime adds from its own. */
  readonly env: Readonly<Record<string, string>>;
  /** The program (with everything it started in its process group) is killed at this time. */
  readonly timeoutMs: number;
  /** At most this many bytes of stdout and of stderr are kept. */
  readonly maxOutputBytes: number;
}

/** How the program ended: its exit code (128 + N after signal N) and output (stdout, then stderr), or a failure. */
export type ProbeRunOutcome = { readonly kind: "exited"; readonly code: number; readonly output: string } | ProbeIoFailure;

/**
 * The runtime operations of health probes. Contract: no method rejects (failures are outcomes);
 * each one ends by its `timeoutMs` (plus scheduling delay) and releases what it opened before
 * it resolves (sockets closed, a timed-out program killed); every call opens its own fresh
 * connection, socket or process, never a pooled one, and ignores proxy settings.
 */
export interface ProbeIo {
  /** Time for response times and the probe's own last-resort timeout. */
  readonly clock: Pick<Clock, "monotonicMs" | "after">;
  httpRequest(request: ProbeHttpRequest): Promise<ProbeHttpOutcome>;
  tcpExchange(request: ProbeTcpRequest): Promise<ProbeTcpOutcome>;
  udpExchange(request: ProbeUdpRequest): Promise<ProbeUdpOutcome>;
  /** One ICMP echo request; true when a reply came within `timeoutMs`. */
  ping(address: string, timeoutMs: number): Promise<boolean>;
  run(request: ProbeRunRequest): Promise<ProbeRunOutcome>;
}
