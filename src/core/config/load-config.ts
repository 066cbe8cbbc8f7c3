import TOML from "@iarna/toml";
import { checkConfig } from "./check-config.ts";
import { IssueList, type LocatedIssue } from "./issues.ts";
import { PositionIndex } from "./position-index.ts";
import { resolveConfig, type TandemConfig } from "./resolve-config.ts";
import { configSchema } from "./schema.ts";

/** The outcome of loading a config: the config when valid, and every issue found, in file order. */
export interface LoadResult {
  readonly config: TandemConfig | undefined;
  readonly issues: readonly LocatedIssue[];
  /** Where keys and values are written, for issues found later (such as an unreadable key file). */
  readonly positions: PositionIndex;
}

interface TomlSyntaxError {
  line?: number;
  col?: number;
  message?: string;
}

function syntaxIssue(error: unknown, file: string): LocatedIssue {
  const e = (error ?? {}) as TomlSyntaxError;
  // @iarna/toml counts rows and columns from 0 and appends them, plus a code excerpt, to the message.
  const text = String(e.message ?? error).split("\n")[0]!.replace(/ at row \d+, col \d+, pos \d+:?$/, "");
  const message = text.charAt(0).toUpperCase() + text.slice(1);
  return { file, line: (e.line ?? 0) + 1, column: (e.col ?? 0) + 1, path: [], message, target: "value", syntax: true };
}

/**
 * Parses, decodes and checks a config text (a BOM and CRLF line ends are accepted). Contract: never throws; reports every problem at
 * once, each with the file, line and column of the offending value (or of its table when a key
 * is missing); `config` is set only when there are no issues.
 */
export function loadConfigText(original: string, file: string): LoadResult {
  // Editors on other systems write a byte order mark and CRLF line ends (the config partition is
  // FAT so that any OS can edit it). TOML allows CRLF, but @iarna/toml rejects a CR after a
  // comment, so both are normalised for parsing only; lines and columns stay the same.
  const text = (original.startsWith("\uFEFF") ? original.slice(1) : original).replaceAll("\r\n", "\n");
  let raw: unknown;
  try {
    raw = TOML.parse(text);
  } catch (error) {
    return { config: undefined, issues: [syntaxIssue(error, file)], positions: PositionIndex.build("") };
  }
  const issues = new IssueList();
  const decoded = configSchema.decode(raw, [], issues);
  checkConfig(decoded, issues);
  const index = PositionIndex.build(text);
  const located = issues.items
    .map((issue) => ({ ...issue, file, ...index.locate(issue.path, issue.target) }))
    .sort((a, b) => a.line - b.line || a.column - b.column);
  const config = located.length === 0 && decoded ? resolveConfig(decoded) : undefined;
  return { config, issues: located, positions: index };
}
