import type { DispatchSpec } from "../../../../src/core/nat/dispatcher-spec.ts";
import { DEFAULT_TIMEOUTS } from "../../../../src/core/nat/conn-table.ts";
import { ip } from "../packet/packet-builder.ts";

/** Addresses of the golden scenario. */
export const VIP = "10.0.0.10";
export const LIP = "10.1.0.100";
export const S1 = "10.1.0.11";
export const S2 = "10.1.0.12";
export const C1 = "192.0.2.1";
export const C2 = "192.0.2.2";

/** A spec with a nat TCP service (rr over two servers) and a fullnat UDP service. */
export function goldenSpec(): DispatchSpec {
  return {
    maxConnections: 1024,
    localPortMin: 20000,
    localPortMax: 20999,
    timeouts: { ...DEFAULT_TIMEOUTS },
    services: [
      {
        name: "http", proto: 6, vip: ip(VIP), port: 80, fullnat: false, localAddrs: [], scheduler: "rr", persistenceMs: 0, persistencePrefix: 32,
        servers: [
          { name: "s1", addr: ip(S1), port: 80, weight: 1, admin: "active", up: true },
          { name: "s2", addr: ip(S2), port: 8080, weight: 1, admin: "active", up: true },
        ],
      },
      {
        name: "dns", proto: 17, vip: ip(VIP), port: 53, fullnat: true, localAddrs: [ip(LIP)], scheduler: "rr", persistenceMs: 0, persistencePrefix: 32,
        servers: [{ name: "s1", addr: ip(S1), port: 53, weight: 1, admin: "active", up: true }],
      },
    ],
  };
}

