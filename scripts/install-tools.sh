#!/usr/bin/env bash
# Installs the Debian tools that tests check Keygate's files with, when
# missing: promtool (package prometheus) runs `promtool check rules` on
# examples/prometheus/alerts.yml, openssl makes test certificates, and
# pgbouncer is the pooler the store suite and the failover test run behind.
# Idempotent: with everything installed it only prints versions. The
# prometheus and pgbouncer packages' own services must not run (tests start
# their own PgBouncer on a port of its own), so maintainer scripts are kept
# from starting them, as in install-proxies.sh.
set -euo pipefail

declare -A package_of=([promtool]=prometheus [openssl]=openssl [pgbouncer]=pgbouncer)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("${package_of[$tool]}")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-tools: ${missing[*]} missing, and installing needs root" >&2
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

  for service in prometheus pgbouncer; do
    [[ " ${missing[*]} " == *" $service "* ]] || continue
    if [ -d /run/systemd/system ]; then
      systemctl disable --now "$service" >/dev/null 2>&1 || true
    elif [ -x "/etc/init.d/$service" ]; then
      service "$service" stop >/dev/null 2>&1 || true
      update-rc.d "$service" disable >/dev/null 2>&1 || true
    fi
  done
fi

promtool --version 2>&1 | head -n 1
openssl version
/usr/sbin/pgbouncer --version | head -n 1
