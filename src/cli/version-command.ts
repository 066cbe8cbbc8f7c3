import pkg from "../../package.json" with { type: "json" };
import { ExitCode } from "./exit-codes.ts";
import type { Platform } from "./platform.ts";

// Set by `bun build --define` in the justfile's build recipe; absent when run from source.
declare const TANDEM_REVISION: string | undefined;

/** The version and git revision this binary was built from. */
export function versionString(): string {
  const revision = typeof TANDEM_REVISION === "string" ? TANDEM_REVISION : "source";
  return `tandem ${pkg.version} (revision ${revision})`;
}

/** Help text of `tandem version`. */
export const versionUsage = `Usage: tandem version

Prints the version and the git revision the binary was built from.`;

/** `tandem version`: prints the version line. */
export function versionCommand(platform: Platform): ExitCode {
  platform.stdout(`${versionString()}\n`);
  return ExitCode.Ok;
}
