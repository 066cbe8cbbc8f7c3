#!/usr/bin/env bun
/**
 * The tandem binary's entry point: the only file that picks a runtime. It builds the Bun
 * platform and hands argv to the runtime-neutral CLI.
 */
import { runCli } from "./cli/run-cli.ts";
import { bunPlatform } from "./platform/bun/bun-platform.ts";

const code = await runCli(process.argv.slice(2), bunPlatform());
// Flush stdout before exiting: a piped `config export` must not lose its tail.
await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
process.exit(code);
