import { StoreError } from "../store/config-versions.ts";
import { checkCommand, checkUsage } from "./check-command.ts";
import { configCommand, configUsage } from "./config-command.ts";
import { ExitCode } from "./exit-codes.ts";
import { standbyCommand, standbyUsage, takeoverCommand, takeoverUsage } from "./ha-command.ts";
import { UsageError } from "./parse-args.ts";
import type { Platform } from "./platform.ts";
import { netUpCommand, netUpUsage } from "./net-up-command.ts";
import { runCommand, runUsage } from "./run-command.ts";
import { versionCommand, versionUsage } from "./version-command.ts";

/** Help text of `tandem` itself. */
export const mainUsage = `Usage: tandem COMMAND [ARGS]

tandem: a high-availability L4 load-balancer appliance.

Commands:
  run --config FILE    run this host's node until SIGTERM/SIGINT
  check FILE...        validate config files (every problem as FILE:LINE:COL: key.path: message)
  config SUBCOMMAND    versioned config store: import, export, history, diff, rollback
  net-up --config FILE configure this host's interfaces, default route and host name
  standby              planned switchover: this active node hands its VIPs to the peer
  takeover             planned switchover: this standby node takes the VIPs from the peer
  version              print the version and git revision

Run "tandem COMMAND --help" for a command's options. Exit status: 0 ok, 1 invalid config,
2 usage, 3 store or system error, 4 no node matches this host, 5 switchover not done in time
(see docs/cli.md).`;

type Command = { usage: string; run: (argv: readonly string[], platform: Platform) => Promise<ExitCode> | ExitCode };

const COMMANDS: Readonly<Record<string, Command>> = {
  run: { usage: runUsage, run: runCommand },
  check: { usage: checkUsage, run: checkCommand },
  config: { usage: configUsage, run: configCommand },
  "net-up": { usage: netUpUsage, run: netUpCommand },
  standby: { usage: standbyUsage, run: standbyCommand },
  takeover: { usage: takeoverUsage, run: takeoverCommand },
  version: { usage: versionUsage, run: (_argv, platform) => versionCommand(platform) },
};

/**
 * Runs the `tandem` command line. Contract: never throws; prints errors to stderr and returns the
 * exit code (docs/cli.md), so `main.ts` only has to exit with it.
 */
export async function runCli(argv: readonly string[], platform: Platform): Promise<ExitCode> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    (name === undefined ? platform.stderr : platform.stdout)(`${mainUsage}\n`);
    return name === undefined ? ExitCode.Usage : ExitCode.Ok;
  }
  if (name === "--version") return versionCommand(platform);
  const command = COMMANDS[name];
  if (!command) {
    platform.stderr(`tandem: Unknown command "${name}"\n\n${mainUsage}\n`);
    return ExitCode.Usage;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    platform.stdout(`${command.usage}\n`);
    return ExitCode.Ok;
  }
  try {
    return await command.run(rest, platform);
  } catch (error) {
    if (error instanceof UsageError) {
      platform.stderr(`tandem ${name}: ${error.message}\n\n${command.usage}\n`);
      return ExitCode.Usage;
    }
    const message = error instanceof StoreError || error instanceof Error ? error.message : String(error);
    platform.stderr(`tandem ${name}: ${message}\n`);
    return ExitCode.Failure;
  }
}
