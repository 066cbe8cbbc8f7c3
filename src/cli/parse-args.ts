/** How a subcommand's flags are declared: value flags take the next argument, switches take none. */
export interface FlagSpec {
  readonly values?: readonly string[];
  readonly switches?: readonly string[];
}

/** Parsed arguments: flags by name (without dashes) and positional arguments in order. */
export interface ParsedArgs {
  readonly flags: ReadonlyMap<string, string>;
  readonly switches: ReadonlySet<string>;
  readonly positional: readonly string[];
}

/** A command-line mistake; the message is printed with the subcommand's usage. */
export class UsageError extends Error {}

/**
 * Parses `--flag value`, `--flag=value`, `--switch` and positionals; `--` ends flags. Contract:
 * throws UsageError for an unknown flag or a value flag without a value; `--help`/`-h` is always a switch.
 */
export function parseArgs(argv: readonly string[], spec: FlagSpec): ParsedArgs {
  const flags = new Map<string, string>();
  const switches = new Set<string>();
  const positional: string[] = [];
  const values = new Set(spec.values ?? []);
  const known = new Set([...(spec.switches ?? []), "help"]);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-h") {
      switches.add("help");
      continue;
    }
    if (!arg.startsWith("--") || arg === "-") {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if (values.has(name)) {
      const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`Flag "--${name}" needs a value`);
      flags.set(name, value);
    } else if (known.has(name) && eq < 0) {
      switches.add(name);
    } else {
      const all = [...values, ...known].map((f) => `--${f}`).join(", ");
      throw new UsageError(`Unknown flag "--${name}": this command takes ${all}`);
    }
  }
  return { flags, switches, positional };
}
