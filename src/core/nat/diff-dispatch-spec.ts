import type { AdminState } from "../sched/server-pool.ts";
import type { DispatchSpec } from "./dispatcher-spec.ts";

/** A change a running data plane can apply without a restart. */
export type LiveChange =
  | { readonly kind: "weight"; readonly service: number; readonly server: number; readonly weight: number; readonly what: string }
  | { readonly kind: "admin"; readonly service: number; readonly server: number; readonly admin: AdminState; readonly what: string };

/** The outcome of comparing the running spec with a new one. */
export interface SpecDiff {
  /** Weight and admin-state changes, applied live. */
  readonly live: readonly LiveChange[];
  /** Why the rest needs the data plane restarted (services or servers added, removed, moved). */
  readonly restart: readonly string[];
}

/** The spec with every live-changeable value blanked, as text: equal texts mean the same structure. */
function structureOf(spec: DispatchSpec): string {
  return JSON.stringify({ ...spec, services: spec.services.map((s) => ({ ...s, servers: s.servers.map((r) => ({ ...r, weight: 0, admin: "active" })) })) });
}

/**
 * Compares two dispatch specs. Weight and admin-state changes of the same server (same service
 * name, same address:port, same position) are live changes; anything structural is listed under
 * `restart`. Pure.
 */
export function diffDispatchSpec(current: DispatchSpec, next: DispatchSpec): SpecDiff {
  const live: LiveChange[] = [];
  const restart: string[] = [];
  if (structureOf(current) !== structureOf(next)) {
    const names = (s: DispatchSpec) => s.services.map((x) => x.name).join(", ");
    restart.push(names(current) === names(next) ? "a service's address, port, scheduler, servers or timeouts changed" : `services changed from [${names(current)}] to [${names(next)}]`);
    return { live, restart };
  }
  next.services.forEach((service, s) => {
    service.servers.forEach((server, i) => {
      const before = current.services[s]!.servers[i]!;
      const what = `${service.name}/${server.name}`;
      if (before.weight !== server.weight) live.push({ kind: "weight", service: s, server: i, weight: server.weight, what });
      if (before.admin !== server.admin) live.push({ kind: "admin", service: s, server: i, admin: server.admin, what });
    });
  });
  return { live, restart };
}
