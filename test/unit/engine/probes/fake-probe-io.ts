/**
 * A scripted ProbeIo for probe tests: each operation records its request, moves the fake clock
 * by `latencyMs` (the server's response time) and answers with what the test set. It keeps the
 * real contract where the probe logic relies on it: `readUntil` is called after every chunk.
 */

import type { Monitor } from "../../../../src/core/config/resolve-config.ts";
import type {
  ProbeHttpOutcome,
  ProbeHttpRequest,
  ProbeIo,
  ProbeRunOutcome,
  ProbeRunRequest,
  ProbeTarget,
  ProbeTcpOutcome,
  ProbeTcpRequest,
  ProbeUdpOutcome,
  ProbeUdpRequest,
} from "../../../../src/core/health/probe-types.ts";
import { FakeClock } from "../../../../src/platform/fake/fake-clock.ts";

type Answer<Req, Out> = (request: Req) => Out | Promise<Out>;

/** Resolves never: an I/O layer that breaks its timeout contract. */
export const NEVER = <T>(): Promise<T> => new Promise<T>(() => undefined);

/** The fake; set the handlers a test needs, read `requests` afterwards. */
export class FakeProbeIo implements ProbeIo {
  readonly clock = new FakeClock();
  /** Every request, in order, tagged with its operation. */
  readonly requests: ({ op: "http"; request: ProbeHttpRequest } | { op: "tcp"; request: ProbeTcpRequest } | { op: "udp"; request: ProbeUdpRequest } | { op: "ping"; address: string; timeoutMs: number } | { op: "run"; request: ProbeRunRequest })[] = [];
  latencyMs = 3;
  http: Answer<ProbeHttpRequest, ProbeHttpOutcome> = () => ({ kind: "response", status: 200, body: "" });
  tcp: Answer<ProbeTcpRequest, ProbeTcpOutcome> = () => ({ kind: "connected", received: new Uint8Array(0), ended: "none" });
  udp: Answer<ProbeUdpRequest, ProbeUdpOutcome> = () => ({ kind: "timeout", detail: "no reply" });
  pingReply: Answer<string, boolean> = () => true;
  runner: Answer<ProbeRunRequest, ProbeRunOutcome> = () => ({ kind: "exited", code: 0, output: "" });

  httpRequest(request: ProbeHttpRequest): Promise<ProbeHttpOutcome> {
    this.requests.push({ op: "http", request });
    return this.answer(() => this.http(request));
  }

  tcpExchange(request: ProbeTcpRequest): Promise<ProbeTcpOutcome> {
    this.requests.push({ op: "tcp", request });
    return this.answer(() => this.tcp(request));
  }

  udpExchange(request: ProbeUdpRequest): Promise<ProbeUdpOutcome> {
    this.requests.push({ op: "udp", request });
    return this.answer(() => this.udp(request));
  }

  ping(address: string, timeoutMs: number): Promise<boolean> {
    this.requests.push({ op: "ping", address, timeoutMs });
    return this.answer(() => this.pingReply(address));
  }

  run(request: ProbeRunRequest): Promise<ProbeRunOutcome> {
    this.requests.push({ op: "run", request });
    return this.answer(() => this.runner(request));
  }

  private async answer<T>(fn: () => T | Promise<T>): Promise<T> {
    this.clock.advance(this.latencyMs);
    return fn();
  }
}

/**
 * A tcp handler that behaves like the real one: nothing is read without `readUntil`; otherwise
 * `chunks` arrive one by one (capped at `maxBytes`) until `readUntil` says done, then the
 * exchange ends as `end` says.
 */
export function tcpChunks(chunks: string[], end: "closed" | "timeout"): Answer<ProbeTcpRequest, ProbeTcpOutcome> {
  return (request) => {
    if (request.readUntil === undefined) return { kind: "connected", received: new Uint8Array(0), ended: "none" };
    let received = new Uint8Array(0);
    for (const chunk of chunks) {
      const bytes = Uint8Array.from(chunk, (c) => c.charCodeAt(0));
      const next = new Uint8Array(Math.min(request.maxBytes, received.length + bytes.length));
      next.set(received);
      next.set(bytes.subarray(0, next.length - received.length), received.length);
      received = next;
      if (request.readUntil(received)) return { kind: "connected", received, ended: "done" };
      if (received.length >= request.maxBytes) return { kind: "connected", received, ended: "full" };
    }
    return { kind: "connected", received, ended: end };
  };
}

const COMMON = { interval: 5000, timeout: 2000, rise: 2, fall: 3, initial: "up", jitter: 500 } as const;

type Kind = Monitor["kind"];
type Variant<K extends Kind> = Extract<Monitor, { kind: K }>;

const DEFAULTS: { [K in Kind]: Omit<Variant<K>, keyof typeof COMMON | "port"> } = {
  http: { kind: "http", method: "GET", path: "/", expect_status: "200-399" },
  https: { kind: "https", method: "GET", path: "/", expect_status: "200-399", verify_tls: false },
  tcp: { kind: "tcp" },
  dns: { kind: "dns", query: "www.example.test", type: "A", expect_rcode: "NOERROR" },
  ping: { kind: "ping" },
  exec: { kind: "exec", command: ["/usr/local/bin/check"] },
};

/** A monitor of `kind` with the schema's defaults (timeout 2000 ms) and `extra` on top. */
export function monitorOf<K extends Kind>(kind: K, extra: Partial<Variant<K>> = {}): Monitor {
  return { ...COMMON, ...DEFAULTS[kind], ...extra } as Monitor;
}

/** Server s1 of service "web" (10.201.0.11:80) probed by `monitor`. */
export function targetOf(monitor: Monitor, port = 80): ProbeTarget {
  return { service: "web", address: "10.201.0.11", port, monitor };
}
