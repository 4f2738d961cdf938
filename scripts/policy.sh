#!/usr/bin/env bash
# Policy tooling: build the WASM bundle, test (fmt, strict check, opa test with coverage), format.
#   scripts/policy.sh build | test | fmt
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
OPA="$(bash scripts/install-opa.sh)"

POLICY_DIR=policies
SCHEMA_DIR=policies/schema
FIXTURES=test/fixtures/policy-cases.json
BUNDLE=build/bundle.tar.gz
ENTRYPOINT=keygate/authz/decision
# Coverage counts the direct tests only (no fixture file), so that no rule rests
# on the fixture runner alone.
MIN_COVERAGE=100
# Loaded under data.fixtures for the fixture test; the schema dir is not policy data.
TEST_DATA=("fixtures.cases:$FIXTURES" "fixtures.input_schema:$SCHEMA_DIR/input.json")
IGNORE=(--ignore '*_test.rego' --ignore schema)

# opa-wasm's capabilities list the builtins the JS host implements but predate
# Rego v1; add the parser feature so v1 sources build against them.
capabilities() {
  local tmp
  mkdir -p build
  tmp="$(mktemp build/capabilities.XXXXXX)"
  node -e '
    const caps = require("./node_modules/@open-policy-agent/opa-wasm/capabilities.json");
    caps.features = ["rego_v1"];
    process.stdout.write(JSON.stringify(caps));
  ' > "$tmp"
  mv -f "$tmp" build/capabilities.json # atomic: test files may build in parallel
  echo build/capabilities.json
}

# Content hash of everything that goes into the bundle (paths and contents).
revision() {
  find "$POLICY_DIR" -path "$SCHEMA_DIR" -prune -o -type f \( -name '*.rego' ! -name '*_test.rego' -o -name 'data.json' \) -print0 \
    | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
}

build() {
  local caps rev tmp
  caps="$(capabilities)"
  rev="$(revision)"
  tmp="$(mktemp build/bundle.XXXXXX)"
  if ! "$OPA" build -t wasm -e "$ENTRYPOINT" --capabilities "$caps" --revision "$rev" \
    "${IGNORE[@]}" -o "$tmp" "$POLICY_DIR"; then
    rm -f "$tmp"
    return 1
  fi
  chmod 0644 "$tmp"
  mv -f "$tmp" "$BUNDLE" # atomic: a running instance may be watching the file
  echo "built $BUNDLE (revision $rev)"
}

coverage() {
  "$OPA" test --schema "$SCHEMA_DIR" --ignore schema --ignore fixtures_test.rego --coverage --format json "$POLICY_DIR" \
    | node -e '
      let raw = ""
      process.stdin.on("data", (c) => (raw += c)).on("end", () => {
        const report = JSON.parse(raw)
        let covered = 0, total = 0
        for (const [file, f] of Object.entries(report.files ?? {})) {
          if (file.endsWith("_test.rego")) continue
          const n = (ranges) => (ranges ?? []).reduce((s, r) => s + r.end.row - r.start.row + 1, 0)
          const c = n(f.covered), u = n(f.not_covered)
          covered += c; total += c + u
          const missed = (f.not_covered ?? []).map((r) => r.start.row === r.end.row ? r.start.row : `${r.start.row}-${r.end.row}`)
          console.log(`  ${file}: ${(100 * c / (c + u || 1)).toFixed(1)}%${missed.length ? "  not covered: " + missed.join(",") : ""}`)
        }
        const pct = total ? (100 * covered) / total : 0
        console.log(`policy coverage by direct tests: ${pct.toFixed(2)}% (${covered}/${total} lines, minimum ${process.argv[1]}%)`)
        process.exit(pct >= Number(process.argv[1]) ? 0 : 1)
      })
    ' "$MIN_COVERAGE"
}

test_() {
  echo "== opa fmt"
  "$OPA" fmt --list --fail "$POLICY_DIR"
  echo "== opa check --strict"
  "$OPA" check --strict --schema "$SCHEMA_DIR" --ignore schema "$POLICY_DIR"
  echo "== opa test"
  "$OPA" test --schema "$SCHEMA_DIR" --ignore schema "$POLICY_DIR" "${TEST_DATA[@]}"
  echo "== coverage"
  coverage
}

case "${1:-}" in
  build) build ;;
  test) test_ ;;
  fmt) "$OPA" fmt --write "$POLICY_DIR" ;;
  *) echo "usage: $0 build|test|fmt" >&2; exit 2 ;;
esac
