#!/usr/bin/env bash
# Ensures the pinned OPA CLI is available and prints its path.
set -euo pipefail

OPA_VERSION=1.22.3
cd "$(dirname "${BASH_SOURCE[0]}")/.."

has_version() {
  local out
  [ -x "$1" ] && out="$("$1" version 2>/dev/null)" && grep -qx "Version: ${OPA_VERSION}" <<<"$out"
}

local_opa="$PWD/.tools/bin/opa"
if has_version "$local_opa"; then
  echo "$local_opa"
  exit 0
fi

if path_opa="$(command -v opa 2>/dev/null)" && has_version "$path_opa"; then
  echo "$path_opa"
  exit 0
fi

command -v go >/dev/null || { echo "opa v${OPA_VERSION} not found and no Go toolchain to install it" >&2; exit 1; }
echo "installing opa v${OPA_VERSION} into .tools/bin" >&2
GOBIN="$PWD/.tools/bin" go install "github.com/open-policy-agent/opa@v${OPA_VERSION}" >&2
has_version "$local_opa" || { echo "opa v${OPA_VERSION} not found after install" >&2; exit 1; }
echo "$local_opa"
