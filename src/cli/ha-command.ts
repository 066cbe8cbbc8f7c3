import { formatIssue } from "../core/config/issues.ts";
import { formatDurationMs, parseDurationMs } from "../core/config/duration.ts";
import { configSchema } from "../core/config/schema.ts";
import { ExitCode } from "./exit-codes.ts";
import { parseArgs, UsageError } from "./parse-args.ts";
import type { HttpResult, Platform } from "./platform.ts";
import { readConfigFile } from "./read-config.ts";

/** A planned switchover an operator asks a node for; the name of its subcommand and API endpoint. */
export type Switchover = "standby" | "takeover";

/** How often the status is polled while waiting for the new role. */
export const POLL_INTERVAL_MS = 100;
/** Default of `--timeout`. */
export const DEFAULT_SWITCHOVER_TIMEOUT_MS = 30_000;
/** Longest a single API request may take, so that one stalled answer cannot eat the whole timeout. */
const REQUEST_TIMEOUT_MS = 5000;

const WANTED_ROLE: Readonly<Record<Switchover, string>> = { standby: "standby", takeover: "active" };

function switchoverUsage(command: Switchover): string {
  const what =
    command === "standby"
      ? `Asks the active node of a pair to hand its VIPs over to the peer (a planned switchover),
then waits until the node is standby.`
      : `Asks the standby node of a pair to take the VIPs over from the active peer (a planned
switchover), then waits until the node is active.`;
  return `Usage: tandem ${command} [--config FILE] [--node NAME] [--url URL] [--timeout DURATION] [--no-wait]

${what} Talks to the node's JSON API; exits 0 at once if the
node is ${WANTED_ROLE[command]} already.

  --config FILE       find the API at web.listen of this config (0.0.0.0 means 127.0.0.1)
  --node NAME         refuse to act unless the API answering is node NAME
  --url URL           the API's base URL (default: from --config, else http://127.0.0.1:${defaultWebListen().port})
  --timeout DURATION  how long to wait for the new role, such as "30s" or "500ms" (default: 30s)
  --no-wait           return once the node accepted the request

Exit status: 0 done, 1 invalid config, 2 usage, 3 tandem unreachable, no peer or an API error,
5 the node did not reach the new role in time.`;
}

/** Help text of `tandem standby`. */
export const standbyUsage = switchoverUsage("standby");

/** Help text of `tandem takeover`. */
export const takeoverUsage = switchoverUsage("takeover");

/** `tandem standby`: the active node hands the VIPs to its peer; waits until it is standby. */
export function standbyCommand(argv: readonly string[], platform: Platform): Promise<ExitCode> {
  return switchoverCommand("standby", argv, platform);
}

/** `tandem takeover`: the standby node takes the VIPs from its peer; waits until it is active. */
export function takeoverCommand(argv: readonly string[], platform: Platform): Promise<ExitCode> {
  return switchoverCommand("takeover", argv, platform);
}

function defaultWebListen(): { address: string; port: number } {
  return configSchema.shape!["web"]!.shape!["listen"]!.defaultValue as { address: string; port: number };
}

/**
 * The base URL of the API served on `listen`: a wildcard address becomes the loopback address of
 * its family, so that the command reaches the node on this host; IPv6 addresses get brackets.
 */
export function apiUrlOf(listen: { readonly address: string; readonly port: number }): string {
  const host = listen.address === "0.0.0.0" ? "127.0.0.1" : listen.address === "::" ? "::1" : listen.address;
  return `http://${host.includes(":") ? `[${host}]` : host}:${listen.port}`;
}

/** The fields of `GET /api/v1/status` this command reads (see HaSnapshot in engine/ha-engine.ts). */
interface HaView {
  readonly role: string;
  readonly transition?: string;
  readonly flags?: HaFlagsView;
  readonly peer?: { readonly name?: string | null; readonly liveness?: string; readonly flags?: HaFlagsView | null };
}
interface HaFlagsView {
  readonly witnessOk?: boolean;
  readonly handover?: boolean;
  readonly wantActive?: boolean;
  readonly synced?: boolean;
}
interface StatusView {
  readonly node: string;
  readonly ha: HaView | null;
}

/** One API exchange: the parsed answer, or a sentence saying why there is none. */
type Answer<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

function unreachable(url: string, result: Exclude<HttpResult, { kind: "response" }>): string {
  const hint = result.kind === "refused" ? " (is tandem running?)" : "";
  return `Cannot reach tandem at "${url}": ${result.detail}${hint}`;
}

async function getStatus(platform: Platform, baseUrl: string, timeoutMs: number): Promise<Answer<StatusView>> {
  const url = `${baseUrl}/api/v1/status`;
  const result = await platform.httpRequest({ method: "GET", url, timeoutMs });
  if (result.kind !== "response") return { ok: false, problem: unreachable(url, result) };
  if (result.status !== 200) return { ok: false, problem: `Request "GET ${url}" failed: HTTP ${result.status}${errorDetail(result.body)}` };
  let json: unknown;
  try {
    json = JSON.parse(result.body);
  } catch {
    json = undefined;
  }
  const status = json as Partial<StatusView> | undefined;
  const ha = status?.ha;
  if (typeof status?.node !== "string" || (ha !== null && typeof ha?.role !== "string")) {
    return { ok: false, problem: `Unexpected answer from "${url}": not the status of a tandem node` };
  }
  return { ok: true, value: status as StatusView };
}

function errorDetail(body: string): string {
  try {
    const error = (JSON.parse(body) as { error?: unknown }).error;
    if (typeof error === "string") return `: ${error}`;
  } catch {
    // Not JSON: show the start of the text below.
  }
  const text = body.trim().slice(0, 200);
  return text ? `: ${text}` : "";
}

// Why a node has not reached the role a switchover wants, from what its status shows. The peer
// conditions mirror `activeBlocker` and `standbyBlocker` in core/ha/ha-decide.ts.
function pendingReason(ha: HaView, command: Switchover): string {
  const peer = `peer "${ha.peer?.name ?? "unknown"}"`;
  if (ha.role === "starting") return "the node is still starting";
  if (ha.transition === "fencing") return `${peer} is being fenced`;
  if (ha.transition === "claiming") return "the VIPs are being claimed";
  if (ha.transition === "releasing") return "the VIPs are being released";
  if (ha.peer?.liveness !== "alive") return `${peer} is ${ha.peer?.liveness === "dead" ? "dead" : "not heard from"}`;
  const peerFlags = ha.peer.flags ?? {};
  const own = ha.flags ?? {};
  if (command === "standby") {
    if (peerFlags.witnessOk === false) return `${peer} reaches no witness`;
    if (peerFlags.synced === false && own.witnessOk !== false) return `${peer} is not synced`;
    if (own.handover !== true) return "no handover in progress: the request was ignored or abandoned (see the ha_* events)";
    return `waiting for ${peer} to take the VIPs`;
  }
  if (own.witnessOk === false) return "no witness reachable";
  if (own.synced === false && peerFlags.witnessOk !== false) return "connection table not synced";
  if (own.wantActive !== true) return "no takeover request pending: the request was ignored or abandoned (see the ha_* events)";
  return `waiting for ${peer} to hand the VIPs over`;
}

interface SwitchoverArgs {
  readonly configPath: string | undefined;
  readonly node: string | undefined;
  readonly url: string | undefined;
  readonly timeoutMs: number;
  readonly wait: boolean;
}

function parseSwitchoverArgs(argv: readonly string[]): SwitchoverArgs {
  const args = parseArgs(argv, { values: ["config", "node", "url", "timeout"], switches: ["no-wait"] });
  if (args.positional.length > 0) throw new UsageError(`Unexpected argument "${args.positional[0]}"`);
  const timeoutText = args.flags.get("timeout");
  const timeoutMs = timeoutText === undefined ? DEFAULT_SWITCHOVER_TIMEOUT_MS : parseDurationMs(timeoutText);
  if (timeoutMs === undefined || timeoutMs <= 0) throw new UsageError(`Invalid timeout "${timeoutText}": expected a duration above zero such as "30s" or "500ms"`);
  const url = args.flags.get("url");
  if (url !== undefined && !/^https?:\/\/[^/?#]+(\/[^?#]*)?$/.test(url)) throw new UsageError(`Invalid URL "${url}": expected http://HOST:PORT`);
  return { configPath: args.flags.get("config"), node: args.flags.get("node"), url: url?.replace(/\/+$/, ""), timeoutMs, wait: !args.switches.has("no-wait") };
}

/** The API's base URL from the flags, or undefined after printing why the config cannot give one. */
async function resolveBaseUrl(platform: Platform, args: SwitchoverArgs): Promise<string | undefined> {
  if (args.url !== undefined) return args.url;
  if (args.configPath === undefined) return apiUrlOf(defaultWebListen());
  // Only web.listen is needed: the auth key file (often root-only) is not read.
  const file = await readConfigFile(platform, args.configPath);
  for (const issue of file.result.issues) platform.stderr(`${formatIssue(issue)}\n`);
  if (file.result.issues.length > 0 || !file.result.config) return undefined;
  return apiUrlOf(file.result.config.web.listen);
}

// The role changes only once the VIPs are claimed or released; a transition means that a later
// switchover is under way.
function hasRole(ha: HaView | null, role: string): boolean {
  return ha?.role === role && (ha.transition ?? "none") === "none";
}

function sleep(platform: Platform, delayMs: number): Promise<void> {
  return new Promise((resolve) => platform.clock.after(delayMs, resolve));
}

async function switchoverCommand(command: Switchover, argv: readonly string[], platform: Platform): Promise<ExitCode> {
  const args = parseSwitchoverArgs(argv);
  const baseUrl = await resolveBaseUrl(platform, args);
  if (baseUrl === undefined) return ExitCode.InvalidConfig;
  const wanted = WANTED_ROLE[command];
  const requestTimeoutMs = Math.min(REQUEST_TIMEOUT_MS, args.timeoutMs);
  const first = await getStatus(platform, baseUrl, requestTimeoutMs);
  if (!first.ok) throw new Error(first.problem);
  const node = first.value.node;
  if (args.node !== undefined && node !== args.node) {
    throw new Error(`The API at "${baseUrl}" is node "${node}", not "${args.node}": pass --url to reach "${args.node}"`);
  }
  if (hasRole(first.value.ha, wanted)) {
    platform.stdout(`tandem: ${node} is ${wanted} already\n`);
    return ExitCode.Ok;
  }
  const startMs = platform.clock.monotonicMs();
  const url = `${baseUrl}/api/v1/ha/${command}`;
  const posted = await platform.httpRequest({ method: "POST", url, timeoutMs: requestTimeoutMs });
  if (posted.kind !== "response") throw new Error(unreachable(url, posted));
  if (posted.status === 409) throw new Error(`This node has no peer: "${node}" runs alone, there is nothing to switch over to`);
  if (posted.status !== 202) throw new Error(`Request "POST ${url}" failed: HTTP ${posted.status}${errorDetail(posted.body)}`);
  if (!args.wait) {
    platform.stdout(`tandem: ${command} requested from ${node} (not waiting)\n`);
    return ExitCode.Ok;
  }
  return await waitForRole(platform, { command, node, baseUrl, startMs, timeoutMs: args.timeoutMs });
}

/** Polls the status until the node has the wanted role (exit 0) or the timeout passed (exit 5). */
async function waitForRole(platform: Platform, w: { command: Switchover; node: string; baseUrl: string; startMs: number; timeoutMs: number }): Promise<ExitCode> {
  const wanted = WANTED_ROLE[w.command];
  let last: Answer<StatusView> | undefined;
  for (;;) {
    await sleep(platform, POLL_INTERVAL_MS);
    const elapsedMs = platform.clock.monotonicMs() - w.startMs;
    const leftMs = w.timeoutMs - elapsedMs;
    // A stalled request must not run past the timeout; a failed poll (a restart, a full accept
    // queue) is retried until then.
    last = await getStatus(platform, w.baseUrl, Math.max(1, Math.min(REQUEST_TIMEOUT_MS, leftMs)));
    const ha = last.ok ? last.value.ha : null;
    if (ha && hasRole(ha, wanted)) {
      const doneMs = Math.round(platform.clock.monotonicMs() - w.startMs);
      const peer = ha.peer?.name ?? "the peer";
      const how = w.command === "standby" ? `handed over to ${peer}` : `took over from ${peer}`;
      platform.stdout(`tandem: ${w.node} is now ${wanted} (${how} in ${doneMs} ms)\n`);
      return ExitCode.Ok;
    }
    if (platform.clock.monotonicMs() - w.startMs >= w.timeoutMs) break;
  }
  const after = formatDurationMs(w.timeoutMs);
  let why: string;
  if (!last.ok) why = `Node "${w.node}" did not become ${wanted} within ${after}: ${last.problem.charAt(0).toLowerCase()}${last.problem.slice(1)}`;
  else if (last.value.ha === null) why = `Node "${w.node}" did not become ${wanted} within ${after}: its status shows no heartbeat pair`;
  else why = `Node "${w.node}" is still ${last.value.ha.role} after ${after}: ${pendingReason(last.value.ha, w.command)}`;
  platform.stderr(`tandem ${w.command}: ${why}\n`);
  return ExitCode.TimedOut;
}
