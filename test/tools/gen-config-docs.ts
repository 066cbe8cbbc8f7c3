/**
 * Regenerates the reference section of docs/config.md from the config schema.
 * Usage: bun test/tools/gen-config-docs.ts [--check]   (--check: exit 1 if the file is stale)
 */
import { readFileSync, writeFileSync } from "node:fs";
import { describeSchema } from "../../src/core/config/describe-schema.ts";
import { configSchema } from "../../src/core/config/schema.ts";
import type { Field } from "../../src/core/config/schema-dsl.ts";

const FILE = "docs/config.md";
const BEGIN = "<!-- BEGIN GENERATED REFERENCE: bun test/tools/gen-config-docs.ts -->";
const END = "<!-- END GENERATED REFERENCE -->";
const text = readFileSync(FILE, "utf8");
const start = text.indexOf(BEGIN);
const stop = text.indexOf(END);
if (start < 0 || stop < start) {
  console.error(`${FILE}: markers not found: the file must contain ${BEGIN} and ${END}`);
  process.exit(1);
}
const next = `${text.slice(0, start + BEGIN.length)}\n\n${describeSchema(configSchema as Field<unknown>)}\n${text.slice(stop)}`;
if (process.argv.includes("--check")) {
  if (next !== text) {
    console.error(`${FILE} is stale: run "just docs" (bun test/tools/gen-config-docs.ts) and commit it`);
    process.exit(1);
  }
  console.log(`${FILE}: reference up to date`);
} else {
  writeFileSync(FILE, next);
  console.log(`${FILE}: reference regenerated`);
}
