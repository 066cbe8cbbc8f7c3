import { findVip } from "./check-config.ts";
import type { Decoded } from "./schema-dsl.ts";
import { monitorField, type DecodedConfig } from "./schema.ts";

type Heartbeat = DecodedConfig["heartbeat"];
type Service = DecodedConfig["service"][number];
type Server = Service["servers"][number];

/** A monitor with every computed default filled in. */
export type Monitor = Decoded<typeof monitorField> & { jitter: number };

/** A real server with its port and effective monitor (service monitor plus overrides) resolved. */
export type ResolvedServer = Omit<Server, "port" | "monitor"> & { port: number; monitor: Monitor | undefined };

/** A service with its VIP resolved to an address and its servers resolved. */
export type ResolvedService = Omit<Service, "servers" | "monitor"> & {
  vipAddress: string;
  monitor: Monitor | undefined;
  servers: ResolvedServer[];
};

/** The config as the engine uses it: valid, with every computed default filled in. */
export type TandemConfig = Omit<DecodedConfig, "heartbeat" | "sync" | "service"> & {
  heartbeat: Heartbeat & { warntime: number; initdead: number };
  sync: DecodedConfig["sync"] & { interface: string | undefined };
  service: ResolvedService[];
};

function resolveMonitor(base: Decoded<typeof monitorField> | undefined, overrides: Record<string, unknown> | undefined): Monitor | undefined {
  if (!base) return undefined;
  const merged = { ...base, ...overrides } as Decoded<typeof monitorField>;
  return { ...merged, jitter: merged.jitter ?? Math.round(merged.interval / 10) };
}

/**
 * Fills the defaults that depend on other keys. Contract: only called on a config that decoded
 * and checked without issues; it does not validate.
 */
export function resolveConfig(config: DecodedConfig): TandemConfig {
  const hb = config.heartbeat;
  const firstUdp = hb.links.find((l) => l.kind === "udp");
  return {
    ...config,
    heartbeat: {
      ...hb,
      warntime: hb.warntime ?? Math.round((hb.keepalive + hb.deadtime) / 2),
      initdead: hb.initdead ?? 2 * hb.deadtime,
    },
    sync: { ...config.sync, interface: config.sync.interface ?? (firstUdp?.kind === "udp" ? firstUdp.interface : undefined) },
    service: config.service.map((service) => ({
      ...service,
      vipAddress: findVip(config, service.vip)!.address,
      monitor: resolveMonitor(service.monitor, undefined),
      servers: service.servers.map((server) => ({
        ...server,
        port: server.port ?? service.port,
        monitor: resolveMonitor(service.monitor, server.monitor),
      })),
    })),
  };
}
