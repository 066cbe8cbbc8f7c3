import { identifyNode } from "../core/config/identify-node.ts";
import { planInterfaces } from "../core/net/plan-interfaces.ts";
import { ExitCode } from "./exit-codes.ts";
import { parseArgs, UsageError } from "./parse-args.ts";
import type { Platform } from "./platform.ts";
import { loadValidConfig } from "./read-config.ts";

/** Help text of `tandem net-up`. */
export const netUpUsage = `Usage: tandem net-up --config FILE [--node NAME] [--dry-run]

Configures this host's network as its node in the config says: every interface up with its MTU
and address, the default route via the interface with a gateway, and the host name set to the
node's name. Idempotent; the appliance runs it at boot before "tandem run". Prints the node name.

  --config FILE  the tandem.toml to apply
  --node NAME    act as node NAME instead of finding this host by MAC address or hostname
  --dry-run      print the "ip -batch" lines instead of running them

Exit status: 0 done, 1 invalid config, 2 usage, 3 a change failed, 4 no node matches this host.`;

/** `tandem net-up`: applies the identified node's interfaces, default route and host name. */
export async function netUpCommand(argv: readonly string[], platform: Platform): Promise<ExitCode> {
  const args = parseArgs(argv, { values: ["config", "node"], switches: ["dry-run"] });
  const configPath = args.flags.get("config");
  if (configPath === undefined) throw new UsageError('Missing "--config FILE"');
  if (args.positional.length > 0) throw new UsageError(`Unexpected argument "${args.positional[0]}"`);
  const loaded = await loadValidConfig(platform, configPath);
  if (!loaded) return ExitCode.InvalidConfig;
  const identity = identifyNode(loaded.config, await platform.hostFacts(), args.flags.get("node"));
  if (!identity.ok) {
    platform.stderr(`tandem net-up: ${identity.message}\n`);
    return ExitCode.NoIdentity;
  }
  const lines = planInterfaces(loaded.config, identity.node.name);
  if (args.switches.has("dry-run")) {
    platform.stdout(`${lines.join("\n")}\n`);
    return ExitCode.Ok;
  }
  const host = platform.dataPlaneHost();
  // Line by line, so that one missing device names itself and does not stop the others.
  let failed = false;
  for (const line of lines) {
    const result = await host.commands.run(["ip", ...line.split(" ")]);
    if (result.code !== 0) {
      failed = true;
      platform.stderr(`tandem net-up: "ip ${line}" failed: ${result.stderr.trim() || `exit status ${result.code}`}\n`);
    }
  }
  try {
    await host.sysctls.write("kernel/hostname", identity.node.name);
  } catch (error) {
    failed = true;
    platform.stderr(`tandem net-up: cannot set the host name: ${(error as Error).message}\n`);
  }
  platform.stdout(`${identity.node.name}\n`);
  return failed ? ExitCode.Failure : ExitCode.Ok;
}
