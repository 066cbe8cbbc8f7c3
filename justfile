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
# The main job (npm start): build what is stale, boot the demo pair in QEMU with three nginx
# servers and a client, print the active node, the VIP and the UI URL; Ctrl-C tears it down.
start *ARGS:
    test/deps.sh test netns image vm
    bun test/vm/demo.ts {{ARGS}}

# Send one request through the running demo's VIP from its client namespace.
demo-curl:
    ns=$(sed -n 's/.*"clientNs":"\([^"]*\)".*/\1/p' /tmp/tandem-demo.json) && vip=$(sed -n 's/.*"vip":"\([^"]*\)".*/\1/p' /tmp/tandem-demo.json) && ip netns exec "$ns" curl -sS -D - -o /dev/null "http://$vip/"

# Build the appliance disk image dist/tandem.img (IMAGE_OUT overrides the path); see image/build.sh.
image: build
    image/build.sh

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
