import type { TandemConfig } from "./resolve-config.ts";

/** The role a node takes before any heartbeat is heard. */
export type StaticRole = "active" | "standby";

/**
 * The role of `nodeName` from the config alone: the higher `priority` is active, a tie goes to
 * the name that sorts first, and a single node is always active. Both hosts compute the same
 * answer from the same file, so a pair never has two active nodes by configuration. The
 * heartbeat's failover decides roles at run time; this is its starting point and what a node
 * does when no peer was ever heard.
 */
export function staticRole(config: TandemConfig, nodeName: string): StaticRole {
  const ranked = [...config.node].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return ranked[0]?.name === nodeName ? "active" : "standby";
}
