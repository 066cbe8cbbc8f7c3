import type { TandemConfig } from "../core/config/resolve-config.ts";
import { dispatchSpecFromConfig, type DispatchSpec } from "../core/nat/dispatcher-spec.ts";
import { diffDispatchSpec } from "../core/nat/diff-dispatch-spec.ts";
import { planHostPlumbing, type HostPlumbing } from "../core/nat/plan-host-plumbing.ts";
import type { Log } from "../core/ports.ts";
import { DispatcherEngine, type WorkerLike } from "./dispatcher-engine.ts";
import { applyHostPlumbing, claimHostPlumbing, releaseHostPlumbing, removeHostPlumbing, type PlumbingHost, type PlumbingReport } from "./host-plumbing.ts";

/** What the data plane needs from the platform besides the plumbing ports. */
export interface DataPlaneHost extends PlumbingHost {
  spawnWorker(): WorkerLike;
  /** A random 32-bit seed from the platform's CSPRNG. */
  randomSeed(): number;
}

/** A running data plane: the packet engine plus the kernel plumbing that feeds it. */
export interface DataPlane {
  readonly engine: DispatcherEngine;
  readonly plan: HostPlumbing;
  /** Whether this node holds the VIPs (their routes and proxy neighbours point at its TUN). */
  readonly claimed: boolean;
  /** Takeover: routes the VIPs and fullnat local addresses into the TUN and answers ARP for them. */
  claim(): Promise<PlumbingReport>;
  /** Release: stops answering ARP for the VIPs and removes their routes; the engine keeps its table. */
  release(): Promise<PlumbingReport>;
  /** Applies weight and admin-state changes of a new config; returns what would need a restart. */
  reload(config: TandemConfig): readonly string[];
  /** Removes the plumbing, then stops the packet engine (its TUN device goes with it). */
  stop(): Promise<void>;
}

/**
 * Starts the data plane of node `nodeName`: removes leftovers of a killed predecessor (journal,
 * tandem's routing table), starts the packet Worker and its TUN device, then routes VIPs and
 * replies into it. Contract: on any failure everything started so far is undone before it throws.
 */
export async function startDataPlane(config: TandemConfig, nodeName: string, host: DataPlaneHost, log: Log, journalPath: string, options: { claim?: boolean } = {}): Promise<DataPlane> {
  let claimed = options.claim ?? true;
  const plan = planHostPlumbing(config, nodeName);
  for (const warning of plan.warnings) log.warn(warning);
  const cleanup = async (why: string) => {
    const report = await removeHostPlumbing(journalPath, host, { plan, routeTable: plan.routeTable });
    for (const f of report.failures) log.warn(`Cannot remove plumbing (${why})`, { command: f.command, error: f.error });
  };
  await cleanup("leftovers");
  let spec: DispatchSpec = dispatchSpecFromConfig(config);
  const offload = config.dispatcher.offload;
  const engine = await DispatcherEngine.start({ spec, tun: { name: plan.tun.name, mtu: plan.tun.mtu, vnetHdr: offload, offload }, spawnWorker: () => host.spawnWorker(), log, seed: host.randomSeed() });
  const report = await applyHostPlumbing(plan, host, journalPath, { claim: claimed });
  if (report.failures.length > 0) {
    for (const f of report.failures) log.error("Cannot set up plumbing", { command: f.command, error: f.error });
    await cleanup("failed start");
    await engine.stop();
    throw new Error(`Cannot route traffic into "${engine.tunName}": ${report.failures[0]!.command}: ${report.failures[0]!.error}`);
  }
  log.info("Dispatcher ready", { tun: engine.tunName, services: spec.services.length, routes: plan.routes.length, rules: plan.rules.length, offload, vips: claimed ? "claimed" : "released" });
  const logReport = (what: string, report: PlumbingReport) => {
    for (const f of report.failures) log.error(`Cannot ${what}`, { command: f.command, error: f.error });
    return report;
  };
  return {
    engine,
    plan,
    get claimed() {
      return claimed;
    },
    async claim() {
      claimed = true;
      return logReport("claim the VIPs", await claimHostPlumbing(plan, host, journalPath));
    },
    async release() {
      claimed = false;
      return logReport("release the VIPs", await releaseHostPlumbing(plan, host, journalPath));
    },
    reload(next) {
      const nextSpec = dispatchSpecFromConfig(next);
      const diff = diffDispatchSpec(spec, nextSpec);
      if (diff.restart.length > 0) return diff.restart;
      for (const change of diff.live) {
        if (change.kind === "weight") engine.setWeight(change.service, change.server, change.weight);
        else engine.setAdmin(change.service, change.server, change.admin);
        log.info("Server changed", { server: change.what, ...(change.kind === "weight" ? { weight: change.weight } : { state: change.admin }) });
      }
      spec = nextSpec;
      return [];
    },
    async stop() {
      await cleanup("stop");
      await engine.stop();
      log.info("Dispatcher stopped", { tun: engine.tunName });
    },
  };
}
