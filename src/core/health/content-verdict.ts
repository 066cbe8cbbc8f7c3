/**
 * Content consistency (the Coda paper's replicated content, seen from the dispatcher): the same
 * URL fetched from every server of a service should give the same bytes. Given each server's
 * digest (or why it could not be fetched), names the servers that differ from the majority.
 * Pure. Servers that could not be fetched are reported apart: an outage is the monitors' business,
 * not a content difference.
 */

/** One server's fetch: its digest (hex), or undefined with the failure's detail. */
export interface ContentSample {
  readonly server: string;
  readonly digest: string | undefined;
  readonly detail: string;
}

/** The comparison of one round. */
export interface ContentVerdict {
  /** The digest most servers returned, or undefined when no digest has a strict majority of those fetched. */
  readonly majority: string | undefined;
  /** Servers whose digest differs from the majority (all fetched servers when there is none). */
  readonly divergent: readonly string[];
  /** Servers that could not be fetched, with why. */
  readonly unfetched: readonly { readonly server: string; readonly detail: string }[];
  /** Servers fetched. */
  readonly compared: number;
}

/**
 * Compares one round of samples. With fewer than two fetched servers there is nothing to compare
 * (no divergence). Without a strict majority (e.g. 1-1, or 1-1-1) every fetched server is listed
 * as divergent: the content disagrees, and no server can be trusted as the reference.
 */
export function contentVerdict(samples: readonly ContentSample[]): ContentVerdict {
  const fetched = samples.filter((s) => s.digest !== undefined);
  const unfetched = samples.filter((s) => s.digest === undefined).map((s) => ({ server: s.server, detail: s.detail }));
  if (fetched.length < 2) return { majority: fetched[0]?.digest, divergent: [], unfetched, compared: fetched.length };
  const counts = new Map<string, number>();
  for (const s of fetched) counts.set(s.digest!, (counts.get(s.digest!) ?? 0) + 1);
  const [top, n] = [...counts].sort((a, b) => b[1] - a[1])[0]!;
  if (n * 2 <= fetched.length) return { majority: undefined, divergent: fetched.map((s) => s.server), unfetched, compared: fetched.length };
  return { majority: top, divergent: fetched.filter((s) => s.digest !== top).map((s) => s.server), unfetched, compared: fetched.length };
}
