# tandem recipes: thin wrappers, the logic lives in the scripts they call.
# Tools come from node_modules/.bin (npm install puts them there); Debian tools via test/deps.sh.

set shell := ["bash", "-euo", "pipefail", "-c"]
export PATH := justfile_directory() + "/node_modules/.bin:" + env_var("PATH")

# List the recipes.
default:
    @just --list

# Build the single binary dist/tandem (offline; no --target, see docs/platform-facts).
build:
    mkdir -p dist
    rev=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
    if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then rev="$rev+dirty"; fi; \
    bun build --compile --minify-syntax --minify-whitespace src/main.ts src/platform/bun/dispatcher-worker.ts --outfile dist/tandem --define "TANDEM_REVISION=\"$rev\"" >/dev/null
    @dist/tandem version

# The main job (npm start): build, then check the paper's example and show what the node would run.
start: build
    dist/tandem check examples/paper-pair.toml --node seven --summary

# Every check and test suite (npm test); STEPS picks some: typecheck core-check unit deno integration ...
test *STEPS:
    test/run-all.sh {{STEPS}}

# Type-check everything, and src/core without runtime types.
typecheck:
    tsc -p tsconfig.json
    tsc -p tsconfig.core.json

# Regenerate migrations after changing src/store/schema.ts.
migrations:
    drizzle-kit generate --config drizzle.config.ts
    bun test/tools/gen-migrations.ts

# Regenerate docs/config.md's reference from the schema.
docs:
    bun test/tools/gen-config-docs.ts

# Benchmarks (not part of npm test): just bench NAME, NAME in bench/.
bench NAME:
    bun bench/{{NAME}}.ts
