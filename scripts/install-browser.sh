#!/usr/bin/env bash
# Installs Debian's Chromium, which the console's browser tests drive through
# playwright-core (Playwright never downloads a browser here). Idempotent:
# with Chromium present it only prints its version.
set -euo pipefail

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-browser: /usr/bin/chromium missing, and installing needs root" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends chromium fonts-liberation
fi

/usr/bin/chromium --version
