import { formatIssue, type KeyPath, type LocatedIssue } from "../core/config/issues.ts";
import { loadConfigText, type LoadResult } from "../core/config/load-config.ts";
import type { TandemConfig } from "../core/config/resolve-config.ts";
import { dirname, resolvePath } from "./paths.ts";
import type { Platform } from "./platform.ts";

/** Shortest accepted heartbeat key: HMAC-SHA256 wants at least its output size in secret bytes. */
export const MIN_AUTH_KEY_BYTES = 32;

/** A config file as read from disk: its exact text and what loading it found. */
export interface ConfigFile {
  readonly path: string;
  readonly text: string;
  readonly result: LoadResult;
}

/**
 * Reads and validates a config file. Contract: the text is the file's exact content (a BOM and
 * CRLF line ends are kept, so an export is byte-for-byte the import); throws a printable Error
 * only when the file cannot be read at all.
 */
export async function readConfigFile(platform: Platform, path: string): Promise<ConfigFile> {
  const bytes = await platform.readFile(path);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    const issue: LocatedIssue = { file: path, line: 1, column: 1, path: [], message: "File is not valid UTF-8 text", target: "value", syntax: true };
    return { path, text: "", result: { config: undefined, issues: [issue], positions: loadConfigText("", path).positions } };
  }
  return { path, text, result: loadConfigText(text, path) };
}

function issueAt(file: ConfigFile, path: KeyPath, message: string): LocatedIssue {
  return { file: file.path, ...file.result.positions.locate(path, "value"), path, message, target: "value" };
}

/**
 * Loads the heartbeat authentication key named by `cluster.auth_key_file` (relative to the config
 * file). Returns the key, undefined when none is configured, or an issue pointing at the key.
 */
export async function loadAuthKey(platform: Platform, file: ConfigFile, config: TandemConfig): Promise<Uint8Array | undefined | LocatedIssue> {
  const name = config.cluster.auth_key_file;
  if (name === undefined) return undefined;
  const keyPath = resolvePath(dirname(file.path), name);
  let key: Uint8Array;
  try {
    key = await platform.readFile(keyPath);
  } catch (error) {
    return issueAt(file, ["cluster", "auth_key_file"], `Cannot read key file "${keyPath}": ${(error as Error).message}`);
  }
  if (key.length < MIN_AUTH_KEY_BYTES) {
    return issueAt(file, ["cluster", "auth_key_file"], `Key file "${keyPath}" holds ${key.length} bytes: at least ${MIN_AUTH_KEY_BYTES} are needed (head -c 48 /dev/urandom | base64 > ${name})`);
  }
  return key;
}

/** Reads, validates and checks the key file of a config; prints every issue; returns the config or undefined. */
export async function loadValidConfig(platform: Platform, path: string): Promise<{ file: ConfigFile; config: TandemConfig; authKey: Uint8Array | undefined } | undefined> {
  const file = await readConfigFile(platform, path);
  const issues = [...file.result.issues];
  let authKey: Uint8Array | undefined;
  if (file.result.config) {
    const key = await loadAuthKey(platform, file, file.result.config);
    if (key !== undefined && !(key instanceof Uint8Array)) issues.push(key);
    else authKey = key;
  }
  for (const issue of issues) platform.stderr(`${formatIssue(issue)}\n`);
  if (issues.length > 0 || !file.result.config) return undefined;
  return { file, config: file.result.config, authKey };
}
