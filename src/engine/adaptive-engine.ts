/**
 * Self-controlled distribution on the main thread: every `adaptive.interval`, for each service with
 * `scheduler = "adaptive"`, reads the response times the packet Worker measured per server since the
 * last interval (from the shared counters, no message), adds the probes' response times it was
 * told about, runs the pure controller (core/sched/adaptive-controller.ts) and sends the weights
 * that changed to the Worker. A ring buffer per service keeps (time, weights, response times) for
 * the UI's charts. Decision apart from effect: the controller decides, this file only keeps time.
 */
import type { TandemConfig } from "../core/config/resolve-config.ts";
import type { Cancel, Clock, Log } from "../core/ports.ts";
import { adaptiveStep, initialAdaptiveState, resolveAdaptiveParams, type AdaptiveParams, type AdaptiveSample, type AdaptiveState } from "../core/sched/adaptive-controller.ts";

/** What the engine needs of the data plane; `DispatcherEngine` offers it. */
export interface AdaptiveDataPlane {
  /** Cumulative per-server response-time counters, services and servers in config order (see `DispatcherSnapshot`). */
  snapshot(): { readonly services: readonly { readonly servers: readonly { readonly responseTimeSumMs: number; readonly responseTimes: number }[] }[] };
  setAdaptiveWeight(service: number, server: number, weight: number): void;
}

/** One adaptive service as the engine runs it; `adaptiveServicesFromConfig` derives them. */
export interface AdaptiveServiceSpec {
  /** Index of the service in the config (= in the dispatch spec). */
  readonly index: number;
  readonly name: string;
  readonly intervalMs: number;
  readonly smoothing: number;
  readonly minShare: number;
  readonly servers: readonly {
    /** "address:port", as the dispatch spec names it. */
    readonly name: string;
    /** The administrator's weight: the controller starts from it. */
    readonly weight: number;
    /** Not drained, disabled or weighted 0 by the administrator. */
    readonly active: boolean;
  }[];
}

/** One interval of one service, as kept for the charts. Arrays are indexed by server. */
export interface AdaptiveHistoryEntry {
  /** Wall-clock time of the interval's end (ms since the epoch). */
  readonly atMs: number;
  readonly weights: readonly number[];
  /** Mean response time in ms over the interval; null when the server had no sample. */
  readonly responseMs: readonly (number | null)[];
  /** The controller's smoothed response time in ms; null before the first sample. */
  readonly smoothedMs: readonly (number | null)[];
  /** Samples taken in the interval (live traffic plus probes). */
  readonly samples: readonly number[];
}

/** A service's recent history, oldest entry first. */
export interface AdaptiveServiceHistory {
  readonly service: string;
  readonly serviceIndex: number;
  readonly servers: readonly string[];
  readonly intervalMs: number;
  readonly entries: readonly AdaptiveHistoryEntry[];
}

/** Options of `AdaptiveEngine.start`. */
export interface AdaptiveEngineOptions {
  readonly config: TandemConfig;
  readonly dataPlane: AdaptiveDataPlane;
  readonly clock: Clock;
  readonly log: Log;
  /** Entries kept per service; default 720 (an hour at the default 5 s interval). */
  readonly historyLength?: number;
  /** Controller parameters the config does not set (mode, deadband, trims); the config's win. */
  readonly params?: Partial<AdaptiveParams>;
}

/** Default number of history entries per service. */
export const DEFAULT_ADAPTIVE_HISTORY = 720;

/** The adaptive services of `config`, in config order; servers that take no new traffic are marked inactive. Pure. */
export function adaptiveServicesFromConfig(config: TandemConfig): AdaptiveServiceSpec[] {
  return config.service.flatMap((s, index) =>
    s.scheduler !== "adaptive"
      ? []
      : [{
          index,
          name: s.name,
          intervalMs: s.adaptive.interval,
          smoothing: s.adaptive.smoothing,
          minShare: s.adaptive.min_share,
          servers: s.servers.map((r) => ({ name: `${r.address}:${r.port}`, weight: r.weight, active: r.state === "active" && r.weight > 0 })),
        }],
  );
}

/** Per-service running state. */
class ServiceRun {
  state: AdaptiveState;
  readonly up: boolean[];
  /** Counter values at the last interval, to take deltas. */
  lastSumMs: number[];
  lastCount: number[];
  readonly probeSumMs: number[];
  readonly probeCount: number[];
  readonly history: (AdaptiveHistoryEntry | undefined)[];
  historyNext = 0;
  historySize = 0;
  lastTickMs: number;
  /** Whether the Worker holds this controller's weights (all of them were sent once). */
  pushed = false;
  cancel: Cancel = () => {};

  constructor(public spec: AdaptiveServiceSpec, readonly params: AdaptiveParams, historyLength: number, nowMs: number) {
    const n = spec.servers.length;
    this.state = initialAdaptiveState(spec.servers.map((r) => r.weight), params);
    this.up = spec.servers.map(() => true);
    this.lastSumMs = new Array<number>(n).fill(0);
    this.lastCount = new Array<number>(n).fill(0);
    this.probeSumMs = new Array<number>(n).fill(0);
    this.probeCount = new Array<number>(n).fill(0);
    this.history = new Array<AdaptiveHistoryEntry | undefined>(historyLength);
    this.lastTickMs = nowMs;
  }

  record(entry: AdaptiveHistoryEntry): void {
    this.history[this.historyNext] = entry;
    this.historyNext = (this.historyNext + 1) % this.history.length;
    this.historySize = Math.min(this.historySize + 1, this.history.length);
  }

  entries(): AdaptiveHistoryEntry[] {
    const out: AdaptiveHistoryEntry[] = [];
    const cap = this.history.length;
    for (let k = 0; k < this.historySize; k++) out.push(this.history[(this.historyNext - this.historySize + k + cap) % cap]!);
    return out;
  }
}

/**
 * Runs the adaptive controller of every `adaptive` service. Contract: `start` never touches the
 * data plane until the first interval ends (the pool's effective weights start as the
 * administrator's, which is also where the controller starts); `stop` cancels every timer and may
 * be called twice. Service and server arguments are indices in the config; unknown ones are ignored.
 */
export class AdaptiveEngine {
  private readonly runs = new Map<number, ServiceRun>();
  private stopped = false;

  private constructor(
    private readonly options: AdaptiveEngineOptions,
    private readonly historyLength: number,
  ) {}

  /** Starts one timer per adaptive service of `options.config`; throws RangeError on invalid parameters. */
  static start(options: AdaptiveEngineOptions): AdaptiveEngine {
    const historyLength = options.historyLength ?? DEFAULT_ADAPTIVE_HISTORY;
    if (!Number.isInteger(historyLength) || historyLength < 1) throw new RangeError(`History length "${historyLength}" is invalid: expected an integer ≥ 1`);
    const engine = new AdaptiveEngine(options, historyLength);
    for (const spec of adaptiveServicesFromConfig(options.config)) engine.add(spec);
    return engine;
  }

  /** Adds a probe's response time of server `server` of service `service` (indices) to the current interval. */
  noteProbe(service: number, server: number, ms: number): void {
    const run = this.runs.get(service);
    if (!run || !(server >= 0 && server < run.spec.servers.length) || !(ms >= 0) || !Number.isFinite(ms)) return;
    run.probeSumMs[server]! += ms;
    run.probeCount[server]!++;
  }

  /** Records the monitors' verdict: a down server keeps its share but is left out of the balancing. */
  setServerUp(service: number, server: number, up: boolean): void {
    const run = this.runs.get(service);
    if (run && server >= 0 && server < run.up.length) run.up[server] = up;
  }

  /** The recent history of every adaptive service (or of the one with config index `service`), oldest entry first. */
  history(service?: number): AdaptiveServiceHistory[] {
    return [...this.runs.values()]
      .filter((run) => service === undefined || run.spec.index === service)
      .map((run) => ({
        service: run.spec.name,
        serviceIndex: run.spec.index,
        servers: run.spec.servers.map((r) => r.name),
        intervalMs: run.spec.intervalMs,
        entries: run.entries(),
      }));
  }

  /**
   * Applies a reloaded config whose services kept their indices (the data plane's reload needed no
   * restart). A change of admin states only changes which servers are balanced. Any other change
   * (servers, weights, interval, smoothing, floor) starts the service over from the administrator's
   * weights, which are sent to the Worker at once (`DataPlane.reload` resets only the changed
   * servers' effective weights); its history is kept when the server list is the same. New adaptive
   * services start, removed ones stop (their servers keep the weights last set).
   */
  reload(config: TandemConfig): void {
    if (this.stopped) return;
    const next = new Map(adaptiveServicesFromConfig(config).map((spec) => [spec.index, spec]));
    for (const [index, run] of this.runs) {
      const spec = next.get(index);
      if (spec && sameSettings(spec, run.spec)) {
        run.spec = spec;
        continue;
      }
      run.cancel();
      this.runs.delete(index);
      if (spec) {
        const fresh = this.add(spec, true);
        if (sameServers(spec, run.spec)) for (const entry of run.entries()) fresh.record(entry);
      }
    }
    for (const [index, spec] of next) if (!this.runs.has(index)) this.add(spec, true);
  }

  /** Stops every timer; the weights stay as last set. */
  stop(): void {
    this.stopped = true;
    for (const run of this.runs.values()) run.cancel();
  }

  /** Starts a service's controller; `push` sends its starting weights to the Worker at once. */
  private add(spec: AdaptiveServiceSpec, push = false): ServiceRun {
    const params = resolveAdaptiveParams({ ...this.options.params, smoothing: spec.smoothing, minShare: spec.minShare });
    const run = new ServiceRun(spec, params, this.historyLength, this.options.clock.monotonicMs());
    if (push) this.push(run, null);
    this.baseline(run);
    this.runs.set(spec.index, run);
    this.schedule(run);
    this.options.log.info("Adaptive distribution on", { service: spec.name, interval_ms: spec.intervalMs, smoothing: spec.smoothing, min_share: spec.minShare, mode: params.mode });
    return run;
  }

  /**
   * Sends the weights that differ from `before`, or all of them the first time: the pool starts on
   * the administrator's scale (1, 1, 1), the controller's is 1000 (334, 333, 333), and one server
   * left on the old scale would get next to nothing.
   */
  private push(run: ServiceRun, before: readonly number[] | null): void {
    run.state.weights.forEach((w, i) => {
      if (!run.pushed || before === null || w !== before[i]) this.options.dataPlane.setAdaptiveWeight(run.spec.index, i, w);
    });
    run.pushed = true;
  }

  private schedule(run: ServiceRun): void {
    run.cancel = this.options.clock.after(run.spec.intervalMs, () => {
      if (this.stopped || this.runs.get(run.spec.index) !== run) return;
      this.tick(run);
      this.schedule(run);
    });
  }

  /** Takes the counters' current values as the start of the first interval. */
  private baseline(run: ServiceRun): void {
    const servers = this.options.dataPlane.snapshot().services[run.spec.index]?.servers;
    run.spec.servers.forEach((_, i) => {
      run.lastSumMs[i] = servers?.[i]?.responseTimeSumMs ?? 0;
      run.lastCount[i] = servers?.[i]?.responseTimes ?? 0;
    });
  }

  private tick(run: ServiceRun): void {
    const nowMs = this.options.clock.monotonicMs();
    const elapsedMs = nowMs - run.lastTickMs;
    run.lastTickMs = nowMs;
    const servers = this.options.dataPlane.snapshot().services[run.spec.index]?.servers ?? [];
    const samples: AdaptiveSample[] = run.spec.servers.map((spec, i) => {
      const sumMs = servers[i]?.responseTimeSumMs ?? 0;
      const count = servers[i]?.responseTimes ?? 0;
      let liveSum = sumMs - run.lastSumMs[i]!;
      let liveCount = count - run.lastCount[i]!;
      // Counters that went back belong to a restarted packet engine: count this interval as empty.
      if (liveCount < 0 || liveSum < 0) liveSum = liveCount = 0;
      run.lastSumMs[i] = sumMs;
      run.lastCount[i] = count;
      const sample = { count: liveCount + run.probeCount[i]!, sumMs: liveSum + run.probeSumMs[i]!, eligible: spec.active && run.up[i]! };
      run.probeCount[i] = 0;
      run.probeSumMs[i] = 0;
      return sample;
    });
    const before = run.state.weights;
    run.state = adaptiveStep(run.state, samples, elapsedMs, run.params);
    this.push(run, before);
    run.record({
      atMs: this.options.clock.wallMs(),
      weights: run.state.weights,
      responseMs: samples.map((s) => (s.count > 0 ? s.sumMs / s.count : null)),
      smoothedMs: run.state.smoothedMs,
      samples: samples.map((s) => s.count),
    });
    this.options.log.debug("Adaptive weights", { service: run.spec.name, weights: run.state.weights.join("/") });
  }
}

function sameServers(a: AdaptiveServiceSpec, b: AdaptiveServiceSpec): boolean {
  return a.servers.length === b.servers.length && a.servers.every((r, i) => r.name === b.servers[i]!.name);
}

/** Same servers with the same weights and the same controller settings (admin states may differ). */
function sameSettings(a: AdaptiveServiceSpec, b: AdaptiveServiceSpec): boolean {
  return a.name === b.name && a.intervalMs === b.intervalMs && a.smoothing === b.smoothing && a.minShare === b.minShare &&
    sameServers(a, b) && a.servers.every((r, i) => r.weight === b.servers[i]!.weight);
}
