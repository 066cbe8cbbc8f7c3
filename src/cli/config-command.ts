import { formatIssue } from "../core/config/issues.ts";
import { unifiedDiff } from "../core/text/unified-diff.ts";
import {
  currentConfigVersion,
  getConfigVersion,
  importConfigVersion,
  listConfigVersions,
  rollbackConfig,
  StoreError,
  type ConfigVersion,
} from "../store/config-versions.ts";
import { recordConfigChanged } from "../store/events.ts";
import { ExitCode } from "./exit-codes.ts";
import { parseArgs, UsageError } from "./parse-args.ts";
import type { OpenStore, Platform } from "./platform.ts";
import { openCliStore, storePath } from "./open-cli-store.ts";
import { readConfigFile } from "./read-config.ts";

/** Help text of `tandem config`. */
export const configUsage = `Usage: tandem config SUBCOMMAND [--store PATH] ...

Keeps every accepted config as a numbered version in the store.

  import FILE [--author NAME]   validate FILE and store it as the new current version
                                (nothing is stored if it is invalid or equals the current one)
  export [N]                    print version N (default: current) byte for byte as imported
  history                       list the versions, newest first; * marks the current one
  diff A B                      unified diff from version A to version B
  rollback N [--author NAME]    store a new version whose text equals version N

  --store PATH   the sqlite store (default: $TANDEM_STORE, else /data/tandem.db)

Exit status: 0 ok, 1 the file is invalid, 2 usage, 3 store or file error (such as an unknown version).`;

function versionNumber(text: string | undefined, what: string): number {
  if (text === undefined) throw new UsageError(`Missing ${what}: give a version number`);
  if (!/^[1-9]\d*$/.test(text)) throw new UsageError(`Invalid version "${text}": expected a positive whole number`);
  return Number(text);
}

function mustGet(store: OpenStore, id: number): ConfigVersion {
  const version = getConfigVersion(store.db, id);
  if (!version) {
    const current = currentConfigVersion(store.db);
    throw new StoreError(`Config version "${id}" does not exist: ${current ? `versions are 1..${current.id}` : "the store has no versions yet"}`);
  }
  return version;
}

function author(platform: Platform, flag: string | undefined): string {
  return flag ?? platform.env("SUDO_USER") ?? platform.env("USER") ?? "unknown";
}

async function importFile(platform: Platform, store: OpenStore, path: string | undefined, by: string): Promise<ExitCode> {
  if (path === undefined) throw new UsageError("Missing FILE: name the config file to import");
  const file = await readConfigFile(platform, path);
  for (const issue of file.result.issues) platform.stderr(`${formatIssue(issue)}\n`);
  if (file.result.issues.length > 0) {
    platform.stderr(`Not imported: ${path} has ${file.result.issues.length} problem${file.result.issues.length === 1 ? "" : "s"}\n`);
    return ExitCode.InvalidConfig;
  }
  const source = `import:${path.startsWith("/") ? path : `${platform.cwd()}/${path}`}`;
  const { version, created } = importConfigVersion(store.db, { toml: file.text, source, author: by, createdAtMs: platform.clock.wallMs() });
  if (created) {
    recordConfigChanged(store.db, version);
    platform.stdout(`Stored version ${version.id} (sha256 ${version.sha256.slice(0, 12)})\n`);
  } else {
    platform.stdout(`Unchanged: version ${version.id} already has this text\n`);
  }
  return ExitCode.Ok;
}

function history(platform: Platform, store: OpenStore): ExitCode {
  const versions = listConfigVersions(store.db);
  if (versions.length === 0) {
    platform.stdout("No config versions yet: store one with tandem config import FILE\n");
    return ExitCode.Ok;
  }
  const rows = versions.map((v, i) => [
    `${i === 0 ? "*" : " "}${v.id}`,
    v.parent === null ? "-" : String(v.parent),
    new Date(v.createdAtMs).toISOString().replace("T", " ").slice(0, 19),
    v.author,
    v.sha256.slice(0, 12),
    v.source,
  ]);
  const header = ["VERSION", "PARENT", "CREATED (UTC)", "AUTHOR", "SHA256", "SOURCE"];
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!))).join("  ");
  platform.stdout([line(header), ...rows.map(line)].join("\n") + "\n");
  return ExitCode.Ok;
}

/** `tandem config import|export|history|diff|rollback`. */
export async function configCommand(argv: readonly string[], platform: Platform): Promise<ExitCode> {
  const [sub, ...rest] = argv;
  const args = parseArgs(rest, { values: ["store", "author"] });
  if (sub === undefined) throw new UsageError("Missing subcommand: import, export, history, diff or rollback");
  if (!["import", "export", "history", "diff", "rollback"].includes(sub)) {
    throw new UsageError(`Unknown subcommand "config ${sub}": expected import, export, history, diff or rollback`);
  }
  const store = openCliStore(platform, storePath(platform, args.flags.get("store")));
  try {
    const [a, b] = args.positional;
    const by = author(platform, args.flags.get("author"));
    switch (sub) {
      case "import":
        return await importFile(platform, store, a, by);
      case "history":
        return history(platform, store);
      case "export": {
        const version = a === undefined ? currentConfigVersion(store.db) : mustGet(store, versionNumber(a, "N"));
        if (!version) throw new StoreError("The store has no config versions yet: import one with tandem config import FILE");
        platform.stdout(version.toml);
        return ExitCode.Ok;
      }
      case "diff": {
        const from = mustGet(store, versionNumber(a, "version A"));
        const to = mustGet(store, versionNumber(b, "version B"));
        platform.stdout(unifiedDiff(from.toml, to.toml, `version ${from.id}`, `version ${to.id}`));
        return ExitCode.Ok;
      }
      default: {
        const id = versionNumber(a, "N");
        mustGet(store, id);
        const { version } = rollbackConfig(store.db, id, { author: by, createdAtMs: platform.clock.wallMs() });
        recordConfigChanged(store.db, version);
        platform.stdout(`Stored version ${version.id}, equal to version ${id}\n`);
        return ExitCode.Ok;
      }
    }
  } finally {
    store.close();
  }
}
