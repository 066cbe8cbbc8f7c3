import { parseTOML, type AST } from "toml-eslint-parser";
import type { IssueTarget, KeyPath } from "./issues.ts";

/** A 1-based line and column in the config text. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

interface Entry {
  key?: Position;
  value?: Position;
}

const START: Position = { line: 1, column: 1 };

function pos(node: AST.TOMLNode): Position {
  // toml-eslint-parser columns are 0-based; editors and compilers count from 1.
  return { line: node.loc.start.line, column: node.loc.start.column + 1 };
}

function keyNames(key: AST.TOMLKey): string[] {
  return key.keys.map((k) => (k.type === "TOMLBare" ? k.name : String(k.value)));
}

/**
 * Maps key paths of a TOML document to where their keys and values are written, so a problem
 * found on the decoded data can be reported at its line and column. @iarna/toml parses the
 * values but keeps no positions; toml-eslint-parser's AST is used for positions only.
 */
export class PositionIndex {
  private readonly entries = new Map<string, Entry>();

  /** Builds the index; a text the AST parser rejects yields an index that answers 1:1. */
  static build(text: string): PositionIndex {
    const index = new PositionIndex();
    try {
      const program = parseTOML(text);
      const top = program.body[0];
      if (top) index.addTable([], top.body);
    } catch {
      // Both parsers reject the same texts in practice; if they ever disagree, positions degrade
      // to the start of the file rather than hiding the problem.
    }
    return index;
  }

  /** Position for an issue: the value, the key, or the enclosing table, falling back to ancestors. */
  locate(path: KeyPath, target: IssueTarget): Position {
    if (target === "table") return this.nearest(path.slice(0, -1), "value");
    return this.nearest(path, target);
  }

  private nearest(path: KeyPath, target: "value" | "key"): Position {
    for (let n = path.length; n > 0; n--) {
      const entry = this.entries.get(JSON.stringify(path.slice(0, n)));
      if (!entry) continue;
      const found = target === "key" && n === path.length ? entry.key ?? entry.value : entry.value ?? entry.key;
      if (found) return found;
    }
    return START;
  }

  private note(path: KeyPath, field: keyof Entry, at: Position): void {
    const id = JSON.stringify(path);
    const entry = this.entries.get(id) ?? {};
    if (entry[field] === undefined) entry[field] = at;
    this.entries.set(id, entry);
  }

  private addTable(prefix: KeyPath, body: readonly (AST.TOMLKeyValue | AST.TOMLTable)[]): void {
    for (const item of body) {
      if (item.type === "TOMLTable") {
        const at = pos(item);
        const resolved = item.resolvedKey;
        // An array table [[x]] is both the array (first header) and element i (its own header).
        if (item.kind === "array") this.note(resolved.slice(0, -1), "value", at);
        for (let n = 1; n <= resolved.length; n++) this.note(resolved.slice(0, n), "key", at);
        this.note(resolved, "value", at);
        this.addTable(resolved, item.body);
      } else {
        this.addKeyValue(prefix, item);
      }
    }
  }

  private addKeyValue(prefix: KeyPath, item: AST.TOMLKeyValue): void {
    const names = keyNames(item.key);
    const keyAt = pos(item.key);
    for (let n = 1; n <= names.length; n++) this.note([...prefix, ...names.slice(0, n)], "key", keyAt);
    this.addValue([...prefix, ...names], item.value);
  }

  private addValue(path: KeyPath, value: AST.TOMLContentNode): void {
    this.note(path, "value", pos(value));
    if (value.type === "TOMLArray") {
      value.elements.forEach((element, i) => this.addValue([...path, i], element));
    } else if (value.type === "TOMLInlineTable") {
      for (const kv of value.body) this.addKeyValue(path, kv);
    }
  }
}
