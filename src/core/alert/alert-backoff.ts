/** Retry delays of alert deliveries. */

/** Delay before the first retry. */
export const ALERT_BACKOFF_BASE_MS = 1000;

/** Longest delay between two attempts. */
export const ALERT_BACKOFF_MAX_MS = 60_000;

/** Spread of the jitter: a delay is its nominal value times 1 ± this. */
export const ALERT_BACKOFF_JITTER = 0.2;

/**
 * The delay before retry number `retry` (0 for the first retry): 1 s, 2 s, 4 s, ... doubling up to
 * 60 s, times a jitter factor in [0.8, 1.2) drawn from `random` (in [0, 1); 0.5 gives the nominal
 * delay), never above 60 s. The jitter keeps a pair of nodes, or many alerts failing together
 * against one receiver, from retrying in lock step.
 */
export function alertBackoffMs(retry: number, random: number): number {
  const nominalMs = Math.min(ALERT_BACKOFF_MAX_MS, ALERT_BACKOFF_BASE_MS * 2 ** Math.max(0, Math.min(retry, 30)));
  const factor = 1 - ALERT_BACKOFF_JITTER + 2 * ALERT_BACKOFF_JITTER * Math.min(Math.max(random, 0), 1);
  return Math.round(Math.min(ALERT_BACKOFF_MAX_MS, nominalMs * factor));
}
