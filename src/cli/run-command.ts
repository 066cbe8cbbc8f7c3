import { describeConfig } from "../core/config/describe-config.ts";
import { describeConsole } from "../core/config/describe-console.ts";
import { identifyNode } from "../core/config/identify-node.ts";
import { createLog } from "../core/log/create-log.ts";
import type { LogLevel } from "../core/ports.ts";
import { importConfigVersion, verifyConfigVersions } from "../store/config-versions.ts";
import { listEvents, recordConfigChanged, recordEvent } from "../store/events.ts";
import { HaEngine } from "../engine/ha-engine.ts";
import type { HaEvent, HaRole } from "../core/ha/ha-node-types.ts";
import { SyncEngine } from "../engine/sync-engine.ts";
import { AlertEngine } from "../engine/alert-engine.ts";
import { MonitorEngine } from "../engine/monitor-engine.ts";
import { ContentEngine } from "../engine/content-engine.ts";
import { AdaptiveEngine } from "../engine/adaptive-engine.ts";
import { createNodeEvents } from "./node-events.ts";
import { runProbe } from "../engine/probes/run-probe.ts";
import type { TandemConfig } from "../core/config/resolve-config.ts";
import { ExitCode } from "./exit-codes.ts";
import { parseArgs, UsageError } from "./parse-args.ts";
import { dirname, resolvePath } from "./paths.ts";
import type { Platform } from "./platform.ts";
import { openCliStore } from "./open-cli-store.ts";
import { loadValidConfig } from "./read-config.ts";
import { versionString } from "./version-command.ts";
import { startDataPlane, type DataPlane } from "../engine/data-plane.ts";
import { createApp } from "../web/create-app.ts";
import type { Log } from "../core/ports.ts";
import type { OpenStore } from "./platform.ts";

/** Help text of `tandem run`. */
export const runUsage = `Usage: tandem run --config FILE [--node NAME] [--store PATH] [--log-level LEVEL] [--console PATH]

Runs this host's node of the config until SIGTERM or SIGINT, then stops cleanly (exit 0).
The config is validated first and stored as a new version if it changed.

  --config FILE      the tandem.toml to run
  --node NAME        run as node NAME instead of finding this host by MAC address or hostname
  --store PATH       the sqlite store (default: store.path of the config, relative to the file)
  --log-level LEVEL  debug, info, warn or error (default: log.level of the config)
  --console PATH     also write a one-screen status to PATH (the appliance: /dev/console) once serving

Exit status: 0 stopped by a signal, 1 invalid config, 2 usage, 3 store or system error, 4 no node matches this host.`;

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** `tandem run`: loads and stores the config, identifies the node, runs until a stop signal. */
export async function runCommand(argv: readonly string[], platform: Platform): Promise<ExitCode> {
  const args = parseArgs(argv, { values: ["config", "node", "store", "log-level", "console"] });
  const configPath = args.flags.get("config");
  if (configPath === undefined) throw new UsageError('Missing "--config FILE"');
  if (args.positional.length > 0) throw new UsageError(`Unexpected argument "${args.positional[0]}"`);
  const levelFlag = args.flags.get("log-level");
  if (levelFlag !== undefined && !LEVELS.includes(levelFlag as LogLevel)) {
    throw new UsageError(`Invalid log level "${levelFlag}": expected debug, info, warn or error`);
  }
  const loaded = await loadValidConfig(platform, configPath);
  if (!loaded) return ExitCode.InvalidConfig;
  const { config, file, authKey } = loaded;
  const log = createLog((line) => platform.stderr(`${line}\n`), (levelFlag as LogLevel | undefined) ?? config.log.level, platform.clock);
  const identity = identifyNode(config, await platform.hostFacts(), args.flags.get("node"));
  if (!identity.ok) {
    log.error(identity.message);
    return ExitCode.NoIdentity;
  }
  const node = identity.node;
  const nodeLog = log.with({ node: node.name });
  const path = args.flags.get("store") ?? resolvePath(dirname(configPath), config.store.path);
  const store = openCliStore(platform, path);
  try {
    for (const problem of verifyConfigVersions(store.db)) nodeLog.error("Store check failed", { problem });
    const now = platform.clock.wallMs();
    const stored = importConfigVersion(store.db, { toml: file.text, source: `run:${configPath}`, author: `node:${node.name}`, createdAtMs: now });
    if (stored.created) {
      recordConfigChanged(store.db, stored.version);
    }
    const generation = nextGeneration(store, node.name, now);
    recordEvent(store.db, { timeMs: now, kind: "node_started", subject: node.name, detail: { version: versionString(), config: stored.version.id, pid: platform.pid, identifiedBy: identity.how, generation } });
    nodeLog.info("Starting", { version: versionString(), config_version: stored.version.id, identified_by: identity.how, store: path });
    for (const line of describeConfig(config, node.name)) nodeLog.info(line);
    let configVersion = stored.version.id;
    let dataPlane: DataPlane | undefined;
    // A pair decides roles with the heartbeat: every node runs its dispatcher (a standby keeps the
    // synced connection table in it) but only the active one claims the VIPs. A lone node is active.
    const pair = config.node.length > 1 && config.heartbeat.links.length > 0 && authKey !== undefined;
    if (config.vip.length > 0 || config.service.length > 0) {
      try {
        dataPlane = await startDataPlane(config, node.name, platform.dataPlaneHost(), nodeLog.with({ component: "dispatcher" }), `${dirname(path)}/plumbing-${node.name}.json`, { claim: !pair });
      } catch (error) {
        nodeLog.error("Cannot start the dispatcher", { reason: (error as Error).message });
        recordEvent(store.db, { timeMs: platform.clock.wallMs(), kind: "node_failed", subject: node.name, detail: { reason: (error as Error).message } });
        return ExitCode.Failure;
      }
    }
    let role: HaRole = pair ? "starting" : "active";
    let ha: HaEngine | undefined;
    const consolePath = args.flags.get("console");
    let screenShown = false;
    const showConsole = () => {
      if (consolePath === undefined) return;
      const line = screenShown
        ? [`tandem: ${node.name} is now ${role}`]
        : describeConsole(config, { nodeName: node.name, role: role === "active" ? "active" : "standby", version: versionString(), configVersion, identifiedBy: identity.how });
      screenShown = true;
      try {
        platform.appendText(consolePath, `\n${line.join("\n")}\n`);
      } catch (error) {
        nodeLog.warn("Cannot write the status screen", { path: consolePath, reason: (error as Error).message });
      }
    };
    let sync: SyncEngine | undefined;
    const alerts = new AlertEngine({
      alerts: config.alert,
      cluster: config.cluster.name,
      clock: platform.clock,
      log: nodeLog.with({ component: "alert" }),
      http: (request) => platform.httpRequest(request),
      exec: platform.alertExec(),
      userAgent: `tandem/${versionString()}`,
    });
    const events = createNodeEvents(store, platform.clock, node.name, alerts);
    const haEvent = (e: HaEvent) => events.ha(e);
    // Weights of `scheduler = "adaptive"` services follow measured response times and capacity.
    const adaptive = dataPlane ? AdaptiveEngine.start({ config, dataPlane: dataPlane.engine, clock: platform.clock, log: nodeLog.with({ component: "adaptive" }) }) : undefined;
    // Monitors run on every node, the standby included, so its view of the servers is warm at takeover.
    const engine = dataPlane?.engine;
    const monitors = MonitorEngine.start({
      config,
      clock: platform.clock,
      log: nodeLog.with({ component: "monitor" }),
      probe: (target) => runProbe(target, platform.probeIo()),
      random: Math.random,
      dataPlane: engine && {
        snapshot: () => engine.snapshot(),
        setUp: (service, server, up) => {
          engine.setUp(service, server, up);
          adaptive?.setServerUp(service, server, up);
        },
      },
      onProbe: (service, server, result) => adaptive?.noteProbe(service, server, result.ms),
      onEvent: (e) => events.health(e),
    });
    const content = ContentEngine.start({
      config,
      clock: platform.clock,
      log: nodeLog.with({ component: "content" }),
      io: platform.probeIo(),
      onEvent: (e) => events.content(e),
    });
    if (pair) {
      try {
        // Sync first, so that the heartbeat's first role decision finds it ready.
        if (dataPlane !== undefined) {
          sync = await SyncEngine.start({
            config,
            nodeName: node.name,
            authKey: authKey!,
            generation,
            net: platform.haNet(),
            clock: platform.clock,
            log: nodeLog.with({ component: "sync" }),
            dataPlane: dataPlane.engine,
            onSynced: (synced) => ha?.syncStatus(synced),
            onEvent: haEvent,
          });
        }
        ha = await HaEngine.start({
          config,
          nodeName: node.name,
          authKey: authKey!,
          generation,
          net: platform.haNet(),
          clock: platform.clock,
          log: nodeLog.with({ component: "heartbeat" }),
          commands: platform.dataPlaneHost().commands,
          dataPlane,
          onEvent: haEvent,
          syncPosition: () => sync?.syncPosition() ?? 0,
          onRole: (next) => {
            role = next;
            sync?.setRole(next);
            if (next !== "starting") showConsole();
          },
        });
      } catch (error) {
        nodeLog.error("Cannot start the heartbeat", { reason: (error as Error).message });
        sync?.stop();
        monitors.stop();
        content.stop();
        adaptive?.stop();
        alerts.stop();
        recordEvent(store.db, { timeMs: platform.clock.wallMs(), kind: "node_failed", subject: node.name, detail: { reason: (error as Error).message } });
        await dataPlane?.stop();
        return ExitCode.Failure;
      }
    }
    const startedAtMs = platform.clock.wallMs();
    const app = createApp({
      node: node.name,
      version: versionString(),
      configVersion: () => configVersion,
      startedAtMs,
      nowMs: () => platform.clock.wallMs(),
      dispatcher: () => dataPlane?.engine.snapshot(),
      ha: () => ha?.snapshot(),
      sync: () => sync?.snapshot(),
      health: () => ({ ...monitors.snapshot(), content: content.snapshot() }),
      alerts: () => alerts.snapshot(),
      adaptive: () => adaptive?.history() ?? [],
      command: ha ? (command) => ha!.command(command) : undefined,
    });
    let stopWeb: () => void = () => {};
    try {
      stopWeb = platform.serve(config.web.listen.address, config.web.listen.port, app.fetch);
    } catch (error) {
      nodeLog.error("Cannot start the web API", { reason: (error as Error).message });
    }
    const removeReload = platform.onReloadSignal(() => {
      void reload(platform, configPath, node.name, store, dataPlane, nodeLog).then((reloaded) => {
        if (reloaded === undefined) return;
        configVersion = reloaded.version;
        // With the same services and servers (no restart needed), monitors and adaptive follow the new settings.
        if (reloaded.restart.length === 0) {
          adaptive?.reload(reloaded.config);
          monitors.reload(reloaded.config);
          content.reload(reloaded.config);
        }
        alerts.reconfigure(reloaded.config.alert, reloaded.config.cluster.name);
        if (reloaded.created) {
          alerts.emit({ kind: "config_changed", subject: node.name, severity: "info", message: `Config version ${reloaded.version} loaded`, timeMs: platform.clock.wallMs(), node: node.name, fields: { version: reloaded.version } });
        }
      });
    });
    const signal = await new Promise<string>((resolve) => {
      const remove = platform.onStopSignal((sig) => {
        remove();
        resolve(sig);
      });
      nodeLog.info("Running", { pid: platform.pid, rss_mb: Math.round(platform.rssBytes() / 1048576), role });
      if (!pair) showConsole();
    });
    nodeLog.info("Stopping", { signal });
    ha?.stop();
    sync?.stop();
    monitors.stop();
    content.stop();
    adaptive?.stop();
    alerts.stop();
    removeReload();
    stopWeb();
    await dataPlane?.stop();
    recordEvent(store.db, { timeMs: platform.clock.wallMs(), kind: "node_stopped", subject: node.name, detail: { signal } });
    nodeLog.info("Stopped", { signal });
    return ExitCode.Ok;
  } finally {
    store.close();
  }
}

/**
 * Re-reads the config on SIGHUP: an invalid file is refused (errors logged, nothing changes); a
 * valid one is stored as a new version, and weight and server-state changes apply at once.
 * Returns the stored version, or undefined when nothing was applied.
 */
async function reload(
  platform: Platform,
  configPath: string,
  nodeName: string,
  store: OpenStore,
  dataPlane: DataPlane | undefined,
  log: Log,
): Promise<{ version: number; created: boolean; config: TandemConfig; restart: readonly string[] } | undefined> {
  const loaded = await loadValidConfig(platform, configPath);
  if (!loaded) {
    log.error("Reload refused: the config is invalid (errors above); still running the previous one");
    return undefined;
  }
  if (!loaded.config.node.some((n) => n.name === nodeName)) {
    log.error("Reload refused: this node is no longer in the config", { node: nodeName });
    return undefined;
  }
  const now = platform.clock.wallMs();
  const stored = importConfigVersion(store.db, { toml: loaded.file.text, source: `reload:${configPath}`, author: `node:${nodeName}`, createdAtMs: now });
  if (stored.created) {
    recordConfigChanged(store.db, stored.version);
  }
  const restart = dataPlane?.reload(loaded.config) ?? [];
  for (const reason of restart) log.warn("Reload needs a restart to take full effect", { reason });
  log.info("Reloaded", { config_version: stored.version.id, restart_needed: restart.length > 0 });
  return { version: stored.version.id, created: stored.created, config: loaded.config, restart };
}

/**
 * This run's heartbeat generation: the wall clock, but always above the last run's (kept in its
 * `node_started` event), so that a clock stepped back between runs cannot make the peer take
 * this run's heartbeats for replays of the last one.
 */
function nextGeneration(store: OpenStore, nodeName: string, nowMs: number): number {
  const last = listEvents(store.db, { limit: 20, kind: "node_started" }).find((e) => e.subject === nodeName)?.detail.generation;
  return typeof last === "number" && last >= nowMs ? last + 1 : nowMs;
}
