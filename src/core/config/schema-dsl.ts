import ipaddr from "ipaddr.js";
import { parseDurationMs, formatDurationMs } from "./duration.ts";
import type { IssueList, KeyPath } from "./issues.ts";
import { suggestion } from "./suggest.ts";

/**
 * A config field: how to decode and check one raw TOML value, and how to describe it in the
 * reference documentation. Contract: `decode` never throws; it records every problem in `issues`
 * and returns undefined for a value it rejects. Tables decode the keys they can even when some
 * fail, so cross-field checks must tolerate undefined leaves whenever `issues` is not empty.
 */
export interface Field<T> {
  /** Human-readable type used in docs and in "expected ..." messages. */
  readonly type: string;
  /** One sentence for the reference documentation. */
  readonly doc: string;
  /** Whether an absent key is an error. */
  readonly required: boolean;
  /** Value used when the key is absent, shown in the docs. */
  readonly defaultValue?: T;
  /** Docs text for a default that is computed from other keys. */
  readonly defaultText?: string;
  /** Tables only: when absent, decode as an empty table so every key takes its default. */
  readonly absentAsEmpty?: boolean;
  /** Present on tables: their keys, for docs and unknown-key suggestions. */
  readonly shape?: Readonly<Record<string, Field<unknown>>>;
  /** Present on arrays and maps: the element field. */
  readonly item?: Field<unknown>;
  /** Present on tagged tables: the tag key and the keys each variant adds. */
  readonly tagged?: { readonly tag: string; readonly variants: Readonly<Record<string, Readonly<Record<string, Field<unknown>>>>> };
  /** Formats a default for the docs. */
  formatDefault?(value: T): string;
  decode(raw: unknown, path: KeyPath, issues: IssueList): T | undefined;
}

/** The decoded type of a field. */
export type Decoded<F> = F extends Field<infer T> ? T : never;

type OptionalKeys<S> = { [K in keyof S]: undefined extends Decoded<S[K]> ? K : never }[keyof S];
type Flatten<T> = { [K in keyof T]: T[K] };

/** The decoded type of a table shape: keys whose field may be undefined become optional. */
export type DecodedShape<S extends Record<string, Field<unknown>>> = Flatten<
  { -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: Decoded<S[K]> } & { -readonly [K in OptionalKeys<S>]?: Decoded<S[K]> }
>;

/** Describes a raw TOML value for "got ..." in messages. */
export function describeRaw(raw: unknown): string {
  if (typeof raw === "string") return `string ${JSON.stringify(raw)}`;
  if (typeof raw === "number") return Number.isInteger(raw) ? `integer ${raw}` : `float ${raw}`;
  if (typeof raw === "bigint") return `integer ${raw}`;
  if (typeof raw === "boolean") return `boolean ${raw}`;
  if (Array.isArray(raw)) return "an array";
  if (raw instanceof Date) return "a date-time";
  if (raw !== null && typeof raw === "object") return "a table";
  return String(raw);
}

/** True for a TOML table (a plain object, not an array or date). */
export function isTable(raw: unknown): raw is Record<string, unknown> {
  return raw !== null && typeof raw === "object" && !Array.isArray(raw) && !(raw instanceof Date);
}

interface LeafOptions<T> {
  readonly doc: string;
  readonly type: string;
  readonly check: (raw: unknown) => { value: T } | { error: string };
  formatDefault?(value: T): string;
}

function leaf<T>(options: LeafOptions<T>): Field<T> {
  return {
    type: options.type,
    doc: options.doc,
    required: true,
    ...(options.formatDefault ? { formatDefault: options.formatDefault } : {}),
    decode(raw, path, issues) {
      const result = options.check(raw);
      if ("error" in result) {
        issues.value(path, result.error);
        return undefined;
      }
      return result.value;
    },
  };
}

/** Makes a field optional: an absent key decodes as undefined. */
export function optional<T>(field: Field<T>): Field<T | undefined> {
  return { ...field, required: false } as Field<T | undefined>;
}

/** Makes a field optional with a default used when the key is absent. */
export function withDefault<T>(field: Field<T>, value: T): Field<T> {
  return { ...field, required: false, defaultValue: value };
}

/** Makes a table optional: when absent, every key in it takes its default. */
export function defaultsTable<T>(field: Field<T>): Field<T> {
  return { ...field, required: false, absentAsEmpty: true };
}

/** Makes a field optional whose default is computed from other keys, described by `text`. */
export function computedDefault<T>(field: Field<T>, text: string): Field<T | undefined> {
  return { ...field, required: false, defaultText: text } as Field<T | undefined>;
}

/** Replaces the doc sentence of a field (to reuse one field type under several keys). */
export function documented<T>(field: Field<T>, doc: string): Field<T> {
  return { ...field, doc };
}

/** A string, optionally matching `pattern` (with `hint` explaining the pattern in errors). */
export function str(doc: string, options: { pattern?: RegExp; hint?: string; maxLength?: number } = {}): Field<string> {
  return leaf({
    doc,
    type: "string",
    formatDefault: (v) => JSON.stringify(v),
    check(raw) {
      if (typeof raw !== "string") return { error: `Expected a string, got ${describeRaw(raw)}` };
      if (options.maxLength !== undefined && raw.length > options.maxLength) {
        return { error: `Too long: at most ${options.maxLength} characters, got ${raw.length}` };
      }
      if (options.pattern && !options.pattern.test(raw)) {
        return { error: `Invalid value ${JSON.stringify(raw)}: ${options.hint ?? `must match ${options.pattern}`}` };
      }
      return { value: raw };
    },
  });
}

/** An integer in `[min, max]`. */
export function int(doc: string, min: number, max: number): Field<number> {
  return leaf<number>({
    doc,
    type: `integer ${min}..${max}`,
    formatDefault: String,
    check(raw) {
      if (typeof raw === "bigint") return { error: `Out of range: expected ${min}..${max}, got ${raw}` };
      if (typeof raw !== "number" || !Number.isInteger(raw)) return { error: `Expected an integer, got ${describeRaw(raw)}` };
      if (raw < min || raw > max) return { error: `Out of range: expected ${min}..${max}, got ${raw}` };
      return { value: raw };
    },
  });
}

/** A number (integer or float) in `[min, max]`. */
export function num(doc: string, min: number, max: number): Field<number> {
  return leaf<number>({
    doc,
    type: `number ${min}..${max}`,
    formatDefault: String,
    check(raw) {
      if (typeof raw !== "number" || !Number.isFinite(raw)) return { error: `Expected a number, got ${describeRaw(raw)}` };
      if (raw < min || raw > max) return { error: `Out of range: expected ${min}..${max}, got ${raw}` };
      return { value: raw };
    },
  });
}

/** A boolean. */
export function bool(doc: string): Field<boolean> {
  return leaf<boolean>({
    doc,
    type: "boolean",
    formatDefault: String,
    check: (raw) => (typeof raw === "boolean" ? { value: raw } : { error: `Expected true or false, got ${describeRaw(raw)}` }),
  });
}

/** One of a fixed set of strings; a near miss gets a "did you mean". */
export function oneOf<const V extends string>(doc: string, values: readonly V[]): Field<V> {
  return leaf({
    doc,
    type: values.map((v) => `"${v}"`).join(" | "),
    formatDefault: (v) => JSON.stringify(v),
    check(raw) {
      if (typeof raw !== "string") return { error: `Expected a string, got ${describeRaw(raw)}` };
      if ((values as readonly string[]).includes(raw)) return { value: raw as V };
      return { error: `Invalid value ${JSON.stringify(raw)}: ${suggestion(raw, values)}` };
    },
  });
}

/** A duration string (`"500ms"`, `"2s"`, `"1m30s"`) in `[minMs, maxMs]`, decoded to milliseconds. */
export function duration(doc: string, minMs: number, maxMs: number): Field<number> {
  return leaf<number>({
    doc,
    type: `duration ${formatDurationMs(minMs)}..${formatDurationMs(maxMs)}`,
    formatDefault: (v) => JSON.stringify(formatDurationMs(v)),
    check(raw) {
      if (typeof raw !== "string") {
        return { error: `Expected a duration such as "2s" or "500ms", got ${describeRaw(raw)}` };
      }
      const ms = parseDurationMs(raw);
      if (ms === undefined) {
        return { error: `Invalid duration ${JSON.stringify(raw)}: use a number with a unit (ms, s, m, h, d), such as "2s" or "500ms"` };
      }
      if (ms < minMs || ms > maxMs) {
        return { error: `Out of range: expected ${formatDurationMs(minMs)}..${formatDurationMs(maxMs)}, got ${JSON.stringify(raw)}` };
      }
      return { value: ms };
    },
  });
}

function ipv4Error(raw: string): string | undefined {
  if (!ipaddr.IPv4.isValidFourPartDecimal(raw)) {
    return ipaddr.IPv6.isValid(raw)
      ? `Unsupported address ${JSON.stringify(raw)}: tandem forwards IPv4 only`
      : `Invalid IPv4 address ${JSON.stringify(raw)}: expected four decimal parts such as "192.0.2.10"`;
  }
  return undefined;
}

/** A dotted-quad IPv4 address, normalised (`"192.0.2.10"`). */
export function ipv4(doc: string): Field<string> {
  return leaf({
    doc,
    type: "IPv4 address",
    formatDefault: (v) => JSON.stringify(v),
    check(raw) {
      if (typeof raw !== "string") return { error: `Expected an IPv4 address string, got ${describeRaw(raw)}` };
      const error = ipv4Error(raw);
      return error ? { error } : { value: ipaddr.IPv4.parse(raw).toString() };
    },
  });
}

/** An interface address with prefix length (`"192.0.2.1/24"`). */
export interface Cidr {
  readonly address: string;
  readonly prefix: number;
}

/** An IPv4 address with a prefix length, such as `"192.0.2.1/24"`. */
export function cidr(doc: string): Field<Cidr> {
  return leaf({
    doc,
    type: "IPv4 address/prefix",
    formatDefault: (v) => JSON.stringify(`${v.address}/${v.prefix}`),
    check(raw) {
      if (typeof raw !== "string") return { error: `Expected an address with prefix such as "192.0.2.1/24", got ${describeRaw(raw)}` };
      const slash = raw.indexOf("/");
      if (slash < 0) return { error: `Missing prefix length in ${JSON.stringify(raw)}: write it as "${raw}/24" or similar` };
      const address = raw.slice(0, slash);
      const prefixText = raw.slice(slash + 1);
      const error = ipv4Error(address);
      if (error) return { error };
      if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) {
        return { error: `Invalid prefix length ${JSON.stringify(prefixText)} in ${JSON.stringify(raw)}: expected 0..32` };
      }
      return { value: { address: ipaddr.IPv4.parse(address).toString(), prefix: Number(prefixText) } };
    },
  });
}

/** An Ethernet MAC address, normalised to lower case with colons. */
export function mac(doc: string): Field<string> {
  return leaf({
    doc,
    type: "MAC address",
    formatDefault: (v) => JSON.stringify(v),
    check(raw) {
      if (typeof raw !== "string") return { error: `Expected a MAC address string, got ${describeRaw(raw)}` };
      if (!/^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$/.test(raw)) {
        return { error: `Invalid MAC address ${JSON.stringify(raw)}: expected six hex pairs such as "52:54:00:12:34:56"` };
      }
      return { value: raw.toLowerCase().replaceAll("-", ":") };
    },
  });
}

/** A host:port listen address such as `"0.0.0.0:8443"`. */
export interface ListenAddress {
  readonly address: string;
  readonly port: number;
}

/** An IPv4 `address:port` to listen on. */
export function listen(doc: string): Field<ListenAddress> {
  return leaf({
    doc,
    type: "IPv4 address:port",
    formatDefault: (v) => JSON.stringify(`${v.address}:${v.port}`),
    check(raw) {
      if (typeof raw !== "string") return { error: `Expected "address:port" such as "0.0.0.0:8443", got ${describeRaw(raw)}` };
      const match = /^(.*):(\d{1,5})$/.exec(raw);
      if (!match) return { error: `Invalid listen address ${JSON.stringify(raw)}: expected "address:port" such as "0.0.0.0:8443"` };
      const error = ipv4Error(match[1]!);
      if (error) return { error };
      const port = Number(match[2]);
      if (port < 1 || port > 65535) return { error: `Invalid port ${port} in ${JSON.stringify(raw)}: expected 1..65535` };
      return { value: { address: ipaddr.IPv4.parse(match[1]!).toString(), port } };
    },
  });
}

/** An array of `item`, with between `min` and `max` elements. */
export function list<T>(doc: string, item: Field<T>, min = 0, max = 10_000): Field<T[]> {
  return {
    type: `array of ${item.type}`,
    doc,
    required: true,
    item: item as Field<unknown>,
    formatDefault: (v) => JSON.stringify(v),
    decode(raw, path, issues) {
      if (!Array.isArray(raw)) {
        issues.value(path, `Expected an array, got ${describeRaw(raw)}`);
        return undefined;
      }
      if (raw.length < min || raw.length > max) {
        const bounds = max === 10_000 ? `at least ${min}` : min === max ? `exactly ${min}` : `${min}..${max}`;
        issues.value(path, `Expected ${bounds} element${max === 1 ? "" : "s"}, got ${raw.length}`);
      }
      return raw.map((element, i) => item.decode(element, [...path, i], issues)) as T[];
    },
  };
}

function decodeKeys(
  raw: Record<string, unknown>,
  shape: Readonly<Record<string, Field<unknown>>>,
  path: KeyPath,
  issues: IssueList,
  unknownMessage: (key: string) => string,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    if (!Object.hasOwn(shape, key)) issues.key([...path, key], unknownMessage(key));
  }
  for (const [key, field] of Object.entries(shape)) {
    const value = raw[key];
    if (value === undefined) {
      if (field.required) issues.table([...path, key], `Missing required key "${key}" (${field.type})`);
      else if (field.defaultValue !== undefined) out[key] = structuredCopy(field.defaultValue);
      else if (field.absentAsEmpty) out[key] = field.decode({}, [...path, key], issues);
      continue;
    }
    out[key] = field.decode(value, [...path, key], issues);
  }
  return out;
}

function structuredCopy<T>(value: T): T {
  if (Array.isArray(value)) return value.map(structuredCopy) as T;
  if (isTable(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, structuredCopy(v)])) as T;
  return value;
}

/** A table with exactly the keys of `shape`; unknown keys are errors with a suggestion. */
export function table<S extends Record<string, Field<unknown>>>(doc: string, shape: S): Field<DecodedShape<S>> {
  const keys = Object.keys(shape);
  return {
    type: "table",
    doc,
    required: true,
    shape,
    decode(raw, path, issues) {
      if (!isTable(raw)) {
        issues.value(path, `Expected a table, got ${describeRaw(raw)}`);
        return undefined;
      }
      return decodeKeys(raw, shape, path, issues, (key) => `Unknown key: ${suggestion(key, keys)}`) as DecodedShape<S>;
    },
  };
}

/**
 * A table of overrides: only the keys present are decoded (absent keys take no default), each
 * with the field of the same name in `shape`; unknown keys are errors with a suggestion.
 */
export function partialTable(doc: string, shape: Readonly<Record<string, Field<unknown>>>): Field<Record<string, unknown>> {
  const keys = Object.keys(shape);
  return {
    type: "table",
    doc,
    required: true,
    decode(raw, path, issues) {
      if (!isTable(raw)) {
        issues.value(path, `Expected a table, got ${describeRaw(raw)}`);
        return undefined;
      }
      const out: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(raw)) {
        const field = shape[key];
        if (field === undefined) issues.key([...path, key], `Unknown key: ${suggestion(key, keys)}`);
        else out[key] = field.decode(value, [...path, key], issues);
      }
      return out;
    },
  };
}

/** A table whose keys are names chosen by the operator (for example interface roles). */
export function map<T>(doc: string, item: Field<T>, keyPattern: RegExp, keyHint: string): Field<Record<string, T>> {
  return {
    type: `table of ${item.type}`,
    doc,
    required: true,
    item: item as Field<unknown>,
    decode(raw, path, issues) {
      if (!isTable(raw)) {
        issues.value(path, `Expected a table, got ${describeRaw(raw)}`);
        return undefined;
      }
      const out: Record<string, T> = {};
      for (const [key, value] of Object.entries(raw)) {
        if (!keyPattern.test(key)) issues.key([...path, key], `Invalid name ${JSON.stringify(key)}: ${keyHint}`);
        const decoded = item.decode(value, [...path, key], issues);
        if (decoded !== undefined) out[key] = decoded;
      }
      return out;
    },
  };
}

type VariantShapes = Record<string, Record<string, Field<unknown>>>;

/** The decoded type of a tagged table: the common keys, the tag, and the chosen variant's keys. */
export type DecodedTagged<Tag extends string, C extends Record<string, Field<unknown>>, V extends VariantShapes> = {
  [K in keyof V]: { -readonly [P in Tag]: K } & DecodedShape<C> & DecodedShape<V[K]>;
}[keyof V];

/**
 * A table whose `tag` key (for example `kind`) selects which further keys are allowed. A key that
 * belongs to another variant gets a message saying so, not just "unknown".
 */
export function tagged<Tag extends string, C extends Record<string, Field<unknown>>, V extends VariantShapes>(
  doc: string,
  tag: Tag,
  common: C,
  variants: V,
): Field<DecodedTagged<Tag, C, V>> {
  const names = Object.keys(variants);
  return {
    type: "table",
    doc,
    required: true,
    shape: common,
    tagged: { tag, variants },
    decode(raw, path, issues) {
      if (!isTable(raw)) {
        issues.value(path, `Expected a table, got ${describeRaw(raw)}`);
        return undefined;
      }
      const kind = raw[tag];
      if (kind === undefined) {
        issues.table([...path, tag], `Missing required key "${tag}": one of ${names.map((n) => `"${n}"`).join(", ")}`);
        return undefined;
      }
      if (typeof kind !== "string" || !names.includes(kind)) {
        const got = typeof kind === "string" ? `Invalid value ${JSON.stringify(kind)}: ${suggestion(kind, names)}` : `Expected a string, got ${describeRaw(kind)}`;
        issues.value([...path, tag], got);
        return undefined;
      }
      const shape = { ...common, ...variants[kind] };
      const rest = { ...raw };
      delete rest[tag];
      const keys = Object.keys(shape);
      const out = decodeKeys(rest, shape, path, issues, (key) => {
        const owner = names.find((n) => Object.hasOwn(variants[n]!, key));
        return owner !== undefined
          ? `Key "${key}" does not apply to ${tag} "${kind}" (it belongs to ${tag} "${owner}")`
          : `Unknown key for ${tag} "${kind}": ${suggestion(key, keys)}`;
      });
      return { [tag]: kind, ...out } as DecodedTagged<Tag, C, V>;
    },
  };
}
