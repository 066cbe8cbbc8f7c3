/** A key path into the config document: table keys as strings, array indices as numbers. */
export type KeyPath = readonly (string | number)[];

/**
 * What a problem points at, so the position can be chosen: the offending value, the key itself
 * (unknown keys), or the enclosing table (missing keys).
 */
export type IssueTarget = "value" | "key" | "table";

/** One validation problem, before it is given a file position. */
export interface ConfigIssue {
  readonly path: KeyPath;
  readonly message: string;
  readonly target: IssueTarget;
}

/** A validation problem with its place in the file; `line` and `column` are 1-based. */
export interface LocatedIssue extends ConfigIssue {
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** Set on TOML syntax errors, which have no key path. */
  readonly syntax?: boolean;
}

/** Renders a key path as operators write it: `service[0].servers[1].weight`. */
export function formatKeyPath(path: KeyPath): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else {
      const bare = /^[A-Za-z0-9_-]+$/.test(part) ? part : JSON.stringify(part);
      out += out === "" ? bare : `.${bare}`;
    }
  }
  return out === "" ? "(top level)" : out;
}

/** Formats one issue as `FILE:LINE:COL: key.path: message`, the form every tool reports. */
export function formatIssue(issue: LocatedIssue): string {
  const where = issue.syntax ? "syntax" : formatKeyPath(issue.path);
  return `${issue.file}:${issue.line}:${issue.column}: ${where}: ${issue.message}`;
}

/** Collects issues during decoding and validation; never throws. */
export class IssueList {
  readonly items: ConfigIssue[] = [];

  /** Records a problem with the value at `path`. */
  value(path: KeyPath, message: string): void {
    this.items.push({ path, message, target: "value" });
  }

  /** Records a problem with the key at `path` itself (for example an unknown key). */
  key(path: KeyPath, message: string): void {
    this.items.push({ path, message, target: "key" });
  }

  /** Records a problem located at the table that should contain `path` (for example a missing key). */
  table(path: KeyPath, message: string): void {
    this.items.push({ path, message, target: "table" });
  }

  /** Number of issues so far. */
  get count(): number {
    return this.items.length;
  }
}
