#!/usr/bin/env bash
# Installs Debian's nginx and Caddy, which test/proxies/ and test/e2e/ run in
# front of Keygate, when either is missing. Idempotent: with both installed it
# only prints their versions. The tests start their own instances on
# ephemeral ports, so the packages' services must not run (they would hold
# port 80): maintainer scripts are kept from starting them, and anything they
# started regardless is stopped and disabled.
set -euo pipefail

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-proxies: ${missing[*]} missing, and installing needs root" >&2
    exit 1
  fi

  # invoke-rc.d and deb-systemd-invoke ask policy-rc.d first; 101 means "action forbidden".
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi

  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"

  for service in "${missing[@]}"; do
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$service" ]; then
      service "$service" stop >/dev/null 2>&1 || true
      update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
  done
fi

PATH="$PATH:/usr/sbin"
nginx -v
caddy version
