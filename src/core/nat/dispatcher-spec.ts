import { parseIpv4 } from "../packet/ipv4-address.ts";
import type { TandemConfig } from "../config/resolve-config.ts";
import type { AdminState } from "../sched/server-pool.ts";
import type { SchedulerKind } from "../sched/scheduler.ts";
import { DEFAULT_TIMEOUTS, type Timeouts } from "./conn-table.ts";

/** A real server as the packet engine needs it: numbers, no strings on the hot path. */
export interface DispatchServer {
  readonly name: string;
  readonly addr: number;
  readonly port: number;
  readonly weight: number;
  readonly admin: AdminState;
  readonly up: boolean;
}

/** A virtual service as the packet engine needs it. */
export interface DispatchService {
  readonly name: string;
  readonly proto: 6 | 17;
  readonly vip: number;
  readonly port: number;
  readonly fullnat: boolean;
  readonly localAddrs: readonly number[];
  readonly scheduler: SchedulerKind;
  readonly persistenceMs: number;
  readonly persistencePrefix: number;
  readonly servers: readonly DispatchServer[];
}

/** Everything the packet engine is configured with; plain data, so it can cross to a Worker. */
export interface DispatchSpec {
  readonly services: readonly DispatchService[];
  readonly timeouts: Timeouts;
  readonly maxConnections: number;
  readonly localPortMin: number;
  readonly localPortMax: number;
}

function addr(text: string): number {
  const n = parseIpv4(text);
  // The config validator guarantees dotted quads; a miss here is a programming error.
  if (n === undefined) throw new Error(`Invalid IPv4 address "${text}" in a validated config`);
  return n;
}

/** Derives the packet engine's spec from a validated config. Pure. */
export function dispatchSpecFromConfig(config: TandemConfig): DispatchSpec {
  const t = config.dispatcher.timeouts;
  return {
    maxConnections: config.dispatcher.max_connections,
    localPortMin: config.dispatcher.local_port_min,
    localPortMax: config.dispatcher.local_port_max,
    timeouts: {
      ...DEFAULT_TIMEOUTS,
      tcpNoneMs: Math.min(DEFAULT_TIMEOUTS.tcpNoneMs, t.tcp_syn),
      tcpSynRecvMs: t.tcp_syn,
      tcpSynAckMs: t.tcp_syn,
      tcpEstablishedMs: t.tcp_established,
      tcpFinWaitMs: t.tcp_fin,
      tcpCloseWaitMs: t.tcp_fin,
      tcpLastAckMs: Math.min(t.tcp_fin, DEFAULT_TIMEOUTS.tcpLastAckMs),
      tcpTimeWaitMs: t.tcp_time_wait,
      tcpCloseMs: t.tcp_close,
      udpMs: t.udp,
      icmpMs: t.icmp,
    },
    services: config.service.map((s) => ({
      name: s.name,
      proto: s.protocol === "tcp" ? 6 : 17,
      vip: addr(s.vipAddress),
      port: s.port,
      fullnat: s.forwarding === "fullnat",
      localAddrs: (s.local_addresses ?? []).map(addr),
      scheduler: s.scheduler,
      persistenceMs: s.persistence,
      persistencePrefix: s.persistence_netmask,
      servers: s.servers.map((r) => ({
        name: `${r.address}:${r.port}`,
        addr: addr(r.address),
        port: r.port,
        weight: r.weight,
        admin: r.state,
        up: (r.monitor?.initial ?? "up") === "up",
      })),
    })),
  };
}
