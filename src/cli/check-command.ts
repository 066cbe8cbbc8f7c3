import { describeConfig } from "../core/config/describe-config.ts";
import { identifyNode } from "../core/config/identify-node.ts";
import { ExitCode } from "./exit-codes.ts";
import { parseArgs, UsageError } from "./parse-args.ts";
import type { Platform } from "./platform.ts";
import { loadValidConfig } from "./read-config.ts";

/** Help text of `tandem check`. */
export const checkUsage = `Usage: tandem check FILE... [--node NAME | --identify] [--summary]

Validates config files: syntax, types, every key, cross references, and the auth key file.
Each problem is printed as FILE:LINE:COL: key.path: message, all of them at once.

  --node NAME   also check that NAME is a node of the file, and describe it as this host
  --identify    also check that exactly one node matches this host (by MAC, then hostname)
  --summary     print what the config makes tandem do

Exit status: 0 all valid, 1 a file is invalid, 2 usage, 3 a file cannot be read, 4 no node matches.`;

/** `tandem check`: validates each file, optionally identifies the node and prints a summary. */
export async function checkCommand(argv: readonly string[], platform: Platform): Promise<ExitCode> {
  const args = parseArgs(argv, { values: ["node"], switches: ["summary", "identify"] });
  if (args.positional.length === 0) throw new UsageError("Missing FILE: name at least one config file");
  let code: ExitCode = ExitCode.Ok;
  for (const path of args.positional) {
    const loaded = await loadValidConfig(platform, path);
    if (!loaded) {
      code = code === ExitCode.Ok ? ExitCode.InvalidConfig : code;
      continue;
    }
    const { config } = loaded;
    let nodeName: string | undefined;
    if (args.flags.has("node") || args.switches.has("identify")) {
      const identity = identifyNode(config, await platform.hostFacts(), args.flags.get("node"));
      if (!identity.ok) {
        platform.stderr(`${path}: ${identity.message}\n`);
        code = ExitCode.NoIdentity;
        continue;
      }
      nodeName = identity.node.name;
    }
    const services = config.service.length;
    const servers = config.service.reduce((n, s) => n + s.servers.length, 0);
    const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;
    const who = nodeName ? `, this host is node "${nodeName}"` : "";
    platform.stdout(`${path}: valid (${plural(config.node.length, "node")}, ${plural(config.vip.length, "VIP")}, ${plural(services, "service")}, ${plural(servers, "server")}${who})\n`);
    if (args.switches.has("summary")) platform.stdout(describeConfig(config, nodeName).map((l) => `  ${l}\n`).join(""));
  }
  return code;
}
