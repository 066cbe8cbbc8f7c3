import type { TandemConfig } from "./resolve-config.ts";
import { suggestion } from "./suggest.ts";

/** What a host knows about itself: the MAC addresses of its NICs and its host name. */
export interface HostFacts {
  readonly macs: readonly string[];
  readonly hostname: string;
}

/** The outcome of finding this host's entry: the node, or a message saying why none was chosen. */
export type Identity =
  | { readonly ok: true; readonly node: TandemConfig["node"][number]; readonly peer: TandemConfig["node"][number] | undefined; readonly how: string }
  | { readonly ok: false; readonly message: string };

/**
 * Finds which [[node]] this host is: by `--node NAME` when given, else by MAC address, else by host
 * name; a single-node file with no identity keys matches any host. Contract: exactly one node
 * must match, otherwise the result says whether none or several did.
 */
export function identifyNode(config: TandemConfig, host: HostFacts, override?: string): Identity {
  const nodes = config.node;
  const peerOf = (node: (typeof nodes)[number]) => nodes.find((n) => n !== node);
  if (override !== undefined) {
    const node = nodes.find((n) => n.name === override);
    if (!node) return { ok: false, message: `Node "${override}" is not in the config: ${suggestion(override, nodes.map((n) => n.name))}` };
    return { ok: true, node, peer: peerOf(node), how: "--node" };
  }
  const macs = new Set(host.macs.map((m) => m.toLowerCase()));
  const byMac = nodes.filter((n) => n.mac !== undefined && macs.has(n.mac));
  if (byMac.length === 1) return { ok: true, node: byMac[0]!, peer: peerOf(byMac[0]!), how: `MAC ${byMac[0]!.mac}` };
  if (byMac.length > 1) return ambiguous(byMac.map((n) => n.name), "MAC addresses");
  const byName = nodes.filter((n) => n.hostname !== undefined && n.hostname === host.hostname);
  if (byName.length === 1) return { ok: true, node: byName[0]!, peer: peerOf(byName[0]!), how: `hostname ${host.hostname}` };
  if (byName.length > 1) return ambiguous(byName.map((n) => n.name), "host name");
  if (nodes.length === 1 && nodes[0]!.mac === undefined && nodes[0]!.hostname === undefined) {
    return { ok: true, node: nodes[0]!, peer: undefined, how: "the only node" };
  }
  const seen = host.macs.length > 0 ? `MACs ${host.macs.join(", ")}` : "no MAC addresses";
  return {
    ok: false,
    message: `No node matches this host (${seen}; hostname "${host.hostname}"): give one [[node]] this host's "mac" or "hostname", or pass --node NAME`,
  };
}

function ambiguous(names: readonly string[], what: string): Identity {
  return {
    ok: false,
    message: `This host matches several nodes by ${what} (${names.map((n) => `"${n}"`).join(", ")}): each [[node]] needs a MAC or hostname of its own; pass --node NAME to choose`,
  };
}
