#!/usr/bin/env bash
# The tap run of `npm test` (arguments go to tap).
# - Tests get a temporary folder of their own (TMPDIR), which must hold no
#   keygate-* folder when they end: each test removes what it makes
#   (test/helpers/temp.ts). The run fails otherwise, naming what was left.
# - In CI (CI=true), a short report: failures in full, then the summary.
# - dist/ is built first when a file in src/ is newer: the `keygate` processes
#   tests spawn (bin/keygate.js) run dist/ only when it is current, and from
#   src/ through tsx otherwise, whose coverage is recorded at the transpiled
#   positions: the functions counted would depend on when dist/ was built.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e dist/cli/main.js ] || [ -n "$(find src -newer dist/cli/main.js -print -quit)" ]; then
  echo 'dist/ is older than src/: building it (npx tsc -p .)' >&2
  npx tsc -p .
fi

run=$(mktemp -d "${TMPDIR:-/tmp}/keygate-test-run.XXXXXX")
trap 'rm -rf "$run"' EXIT

args=()
if [ "${CI:-}" = true ]; then args=(--reporter=terse --coverage-report=text-summary); fi

status=0
TMPDIR="$run" npx tap "${args[@]}" "$@" || status=$?

left=$(find "$run" -mindepth 1 -maxdepth 1 -name 'keygate-*' -printf '  %f\n')
if [ -n "$left" ]; then
  printf 'tests left these folders in their TMPDIR (remove them in a teardown, e.g. with tempDir from test/helpers/temp.ts):\n%s\n' "$left" >&2
  [ "$status" -ne 0 ] || status=1
fi
exit "$status"
