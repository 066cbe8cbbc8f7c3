/**
 * The content consistency check: every `content.interval`, fetches `content.path` from every
 * server of each service that has a `content` table, compares the SHA-256 digests of the bodies
 * and reports the server whose content differs from the majority, once when it starts to differ
 * and once (resolved) when it agrees again. Fetches run concurrently and end by their timeout.
 */

import type { TandemConfig } from "../core/config/resolve-config.ts";
import { utf8Encode } from "../core/crypto/utf8.ts";
import { sha256Hex } from "../core/crypto/sha256.ts";
import { contentVerdict, type ContentSample, type ContentVerdict } from "../core/health/content-verdict.ts";
import type { ProbeIo } from "../core/health/probe-types.ts";
import type { Clock, Log } from "../core/ports.ts";
import { TimerSet } from "./timer-set.ts";

/** A content event: `resolved` false when the server starts to differ, true when it agrees again. */
export interface ContentEvent {
  readonly service: string;
  readonly server: string;
  readonly resolved: boolean;
  readonly severity: "info" | "warn";
  readonly message: string;
  readonly fields: Readonly<Record<string, string | number | boolean>>;
}

/** Options of `ContentEngine.start`. */
export interface ContentEngineOptions {
  readonly config: TandemConfig;
  readonly clock: Clock;
  readonly log: Log;
  readonly io: ProbeIo;
  readonly onEvent: (event: ContentEvent) => void;
  /** Delay of the first round (default 1 s: let the servers come up). */
  readonly firstDelayMs?: number;
}

/** The last round of one service, for the API. */
export interface ContentStatus {
  readonly service: string;
  readonly path: string;
  readonly lastRoundMs: number | null;
  readonly verdict: ContentVerdict | null;
}

/** Bodies larger than this are compared by their first 16 MiB. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Grace after a fetch's own timeout before the round gives up on it. */
const GUARD_GRACE_MS = 250;
/** A fetch may take at most this long (and never longer than the interval). */
const MAX_FETCH_MS = 10_000;

/** Running content checks; see the file comment. */
export class ContentEngine {
  private timers: TimerSet;
  private readonly status = new Map<string, ContentStatus>();
  /** Per service: servers reported as divergent and not yet resolved. */
  private readonly divergent = new Map<string, Set<string>>();

  private constructor(private readonly options: ContentEngineOptions) {
    this.timers = new TimerSet(options.clock);
  }

  /** Starts one schedule per service with a `content` table. */
  static start(options: ContentEngineOptions): ContentEngine {
    const engine = new ContentEngine(options);
    engine.schedule(options.config);
    return engine;
  }

  /** Follows a reloaded config's `content` tables; servers known to differ stay reported. */
  reload(config: TandemConfig): void {
    this.timers.stop();
    this.timers = new TimerSet(this.options.clock);
    this.status.clear();
    this.schedule(config);
  }

  private schedule(config: TandemConfig): void {
    const timers = this.timers;
    for (const service of config.service) {
      const content = service.content;
      if (content === undefined) continue;
      this.status.set(service.name, { service: service.name, path: content.path, lastRoundMs: null, verdict: null });
      // A round in flight when a reload stopped `timers` schedules nothing more.
      const round = () => {
        void this.round(service, timers).finally(() => timers.later(content.interval, round));
      };
      timers.later(this.options.firstDelayMs ?? 1000, round);
    }
  }

  /** The last round of every checked service. */
  snapshot(): readonly ContentStatus[] {
    return [...this.status.values()];
  }

  /** Stops the schedules; fetches in flight finish unobserved. */
  stop(): void {
    this.timers.stop();
  }

  private async round(service: TandemConfig["service"][number], timers: TimerSet): Promise<void> {
    const content = service.content!;
    const timeoutMs = Math.min(MAX_FETCH_MS, content.interval);
    const samples = await Promise.all(
      service.servers.map(async (server): Promise<ContentSample> => {
        const name = `${server.address}:${server.port}`;
        const outcome = await this.guarded(this.options.io.httpRequest({
          tls: false, verifyTls: false, method: "GET", address: server.address, port: server.port, path: content.path,
          host: server.address, maxBodyBytes: MAX_BODY_BYTES, timeoutMs,
        }), timeoutMs);
        if (outcome.kind !== "response") return { server: name, digest: undefined, detail: outcome.detail };
        if (outcome.status < 200 || outcome.status > 299) return { server: name, digest: undefined, detail: `status ${outcome.status}` };
        return { server: name, digest: sha256Hex(utf8Encode(outcome.body)), detail: "" };
      }),
    );
    if (timers.isStopped) return;
    const verdict = contentVerdict(samples);
    this.status.set(service.name, { service: service.name, path: content.path, lastRoundMs: this.options.clock.wallMs(), verdict });
    const known = this.divergent.get(service.name) ?? new Set<string>();
    this.divergent.set(service.name, known);
    const digestOf = (server: string) => samples.find((s) => s.server === server)?.digest ?? "";
    for (const server of verdict.divergent) {
      if (known.has(server)) continue;
      known.add(server);
      this.emit({
        service: service.name, server, resolved: false, severity: "warn",
        message: verdict.majority === undefined
          ? `Content of "${content.path}" disagrees across the servers of "${service.name}": no majority, "${server}" has ${digestOf(server).slice(0, 12)}`
          : `Content of "${content.path}" on "${server}" differs from the majority of "${service.name}": ${digestOf(server).slice(0, 12)} instead of ${verdict.majority.slice(0, 12)}`,
        fields: { service: service.name, server, path: content.path, digest: digestOf(server), majority: verdict.majority ?? "", resolved: false },
      });
    }
    // A server that agrees again (not merely unreachable this round) is resolved.
    for (const server of [...known]) {
      if (verdict.divergent.includes(server) || digestOf(server) === "") continue;
      known.delete(server);
      this.emit({
        service: service.name, server, resolved: true, severity: "info",
        message: `Content of "${content.path}" on "${server}" agrees with the other servers of "${service.name}" again`,
        fields: { service: service.name, server, path: content.path, digest: digestOf(server), majority: verdict.majority ?? "", resolved: true },
      });
    }
  }

  /** The fetch's outcome, or a timeout shortly after `timeoutMs` whatever the I/O does: a round must end. */
  private guarded<T>(fetch: Promise<T>, timeoutMs: number): Promise<T | { kind: "timeout"; detail: string }> {
    return new Promise((resolve) => {
      const cancel = this.options.clock.after(timeoutMs + GUARD_GRACE_MS, () => resolve({ kind: "timeout", detail: `no answer within ${timeoutMs} ms` }));
      void fetch.then((outcome) => {
        cancel();
        resolve(outcome);
      });
    });
  }

  private emit(event: ContentEvent): void {
    this.options.log[event.severity](event.message, { event: "content_mismatch", ...event.fields });
    this.options.onEvent(event);
  }
}
