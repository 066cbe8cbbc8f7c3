/**
 * Which servers the health engine watches: one target per server of each service, in config
 * order, with the settings its `ServerHealth` and its probes need.
 */

import type { ResolvedServer, TandemConfig } from "../config/resolve-config.ts";
import type { ServerHealthOptions } from "./server-health.ts";

/** One monitored server: a `ServerHealthOptions` plus where it sits in the config and where to probe it. */
export interface HealthTarget extends ServerHealthOptions {
  /** Index of the service in `config.service`. */
  readonly serviceIndex: number;
  /** Index of the server in its service's `servers`. */
  readonly serverIndex: number;
  /** Server address (IPv4). */
  readonly address: string;
  /** Port probed: the monitor's `port` override, else the server's port. */
  readonly port: number;
  /** Administrative state, for display; it does not stop monitoring. */
  readonly admin: ResolvedServer["state"];
}

/**
 * Lists every server of every service as a health target, in config order. Nothing is skipped:
 * servers whose admin state is "drain" or "disabled" are monitored too, so that the UI shows
 * whether they are fit to be enabled again; the pool, not the monitor, keeps them out of traffic.
 * A server whose service has no `monitor` gets `monitor: undefined` (passive health only). Pure.
 */
export function healthPlan(config: TandemConfig): HealthTarget[] {
  return config.service.flatMap((service, serviceIndex) =>
    service.servers.map((server, serverIndex) => ({
      service: service.name,
      serviceIndex,
      serverIndex,
      // The same name the dispatch spec gives the server (see dispatchSpecFromConfig).
      server: `${server.address}:${server.port}`,
      address: server.address,
      port: server.monitor?.port ?? server.port,
      monitor: server.monitor,
      passive: service.passive,
      flap: service.flap,
      admin: server.state,
    })),
  );
}
