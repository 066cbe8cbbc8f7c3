/**
 * Fails when src/core touches a runtime: imports of bun, bun:*, node:*, Deno or npm packages
 * outside the pure allowlist, relative imports that leave src/core, or uses of Bun., Deno.,
 * process. or require(. The type-check of tsconfig.core.json (no runtime types) backs it up.
 * Usage: bun test/tools/check-core-imports.ts [DIR]
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";

const PURE_PACKAGES = new Set(["ipaddr.js", "@iarna/toml", "toml-eslint-parser"]);
const root = resolve(process.argv[2] ?? "src/core");

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : path.endsWith(".ts") ? [path] : [];
  });
}

const problems: string[] = [];
let checked = 0;
for (const file of files(root)) {
  checked++;
  const lines = readFileSync(file, "utf8").split("\n");
  lines.forEach((line, i) => {
    const where = `${relative(process.cwd(), file)}:${i + 1}`;
    for (const m of line.matchAll(/(?:from\s+|import\s*\(\s*|^\s*import\s+)["']([^"']+)["']/g)) {
      const spec = m[1]!;
      if (spec.startsWith(".")) {
        if (!spec.endsWith(".ts")) problems.push(`${where}: relative import "${spec}" lacks the .ts extension Deno needs`);
        if (!resolve(dirname(file), spec).startsWith(root + "/")) problems.push(`${where}: import "${spec}" leaves src/core`);
      } else if (!PURE_PACKAGES.has(spec)) {
        problems.push(`${where}: import "${spec}" is not allowed in src/core (runtime-specific or not on the pure allowlist)`);
      }
    }
    const code = line.replace(/\/\/.*$/, "");
    for (const m of code.matchAll(/\b(Bun|Deno|process)\.|\brequire\(/g)) problems.push(`${where}: "${m[0]}" is runtime-specific`);
  });
}
for (const p of problems) console.error(p);
console.log(`check-core-imports: ${checked} files, ${problems.length} problem${problems.length === 1 ? "" : "s"}`);
process.exit(problems.length === 0 ? 0 : 1);
