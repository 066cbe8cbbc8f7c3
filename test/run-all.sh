#!/usr/bin/env bash
# Runs every check and test suite of `npm test` in order, keeps going after a failure so one run
# shows everything, and ends with one line "N passed, N failed" (tests plus checks).
# Usage: test/run-all.sh [STEP...]   (default: every step; steps are the names below)
set -uo pipefail
cd "$(dirname "$0")/.."
bin=node_modules/.bin
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
passed=0
failed=0
failures=()

# step NAME COMMAND...: runs one step, adds its test counts (bun/deno summaries) or 1 for a check.
step() {
  local name=$1; shift
  echo "== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$log/$name.out"
  local rc=${PIPESTATUS[0]}
  local p f
  p=$(grep -aoE '^ *[0-9]+ pass$' "$log/$name.out" | grep -oE '[0-9]+' | awk '{s+=$1} END {if (NR) print s}')
  f=$(grep -aoE '^ *[0-9]+ fail$' "$log/$name.out" | grep -oE '[0-9]+' | awk '{s+=$1} END {if (NR) print s}')
  if [[ -z "$p" ]]; then
    # deno: "ok | 4 passed (32 steps) | 0 failed": count the steps (the individual tests) when shown.
    local summary
    summary=$(sed 's/\x1b\[[0-9;]*m//g' "$log/$name.out" | grep -E '^(ok|FAILED) \|' | tail -1)
    p=$(grep -oE '[0-9]+ passed( \([0-9]+ steps?\))?' <<<"$summary" | grep -oE '[0-9]+' | tail -1)
    f=$(grep -oE '[0-9]+ failed( \([0-9]+ steps?\))?' <<<"$summary" | grep -oE '[0-9]+' | tail -1)
  fi
  if [[ -z "$p" ]]; then p=$(( rc == 0 ? 1 : 0 )); f=$(( rc == 0 ? 0 : 1 )); fi
  f=${f:-0}
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  [[ $rc -eq 0 ]] || failures+=("$name")
  echo "== $name: exit $rc, $p passed, $f failed, $((SECONDS - start)) s"
}

all=(typecheck core-check migrations-check docs-check unit deno integration vm)
steps=("${@:-${all[@]}}")
for s in "${steps[@]}"; do
  case $s in
    typecheck) step typecheck bash -c "$bin/tsc -p tsconfig.json && $bin/tsc -p tsconfig.core.json" ;;
    core-check) step core-check "$bin/bun" test/tools/check-core-imports.ts ;;
    migrations-check) step migrations-check "$bin/bun" test/tools/gen-migrations.ts --check ;;
    docs-check) step docs-check "$bin/bun" test/tools/gen-config-docs.ts --check ;;
    unit) step unit "$bin/bun" test test/unit ;;
    deno) step deno "$bin/deno" test -A --no-check test/unit/core ;;
    integration) step integration bash -c "test/deps.sh test netns && $bin/just build && $bin/bun test --timeout 300000 test/integration" ;;
    vm) step vm bash -c "test/deps.sh test netns image vm && $bin/just image && $bin/bun test --timeout 900000 test/vm" ;;
    *) echo "run-all.sh: unknown step \"$s\": expected ${all[*]}" >&2; exit 2 ;;
  esac
done
[[ ${#failures[@]} -eq 0 ]] || echo "failed steps: ${failures[*]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 && ${#failures[@]} -eq 0 ]]
