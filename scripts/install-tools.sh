#!/usr/bin/env bash
# Installs the Debian tools that tests check Keygate's files with, when
# missing: promtool (package prometheus) runs `promtool check rules` on
# examples/prometheus/alerts.yml, openssl makes test certificates.
# Idempotent: with everything installed it only prints versions. The
# prometheus package's own service must not run (tests never need it), so
# maintainer scripts are kept from starting it, as in install-proxies.sh.
set -euo pipefail

declare -A package_of=([promtool]=prometheus [openssl]=openssl)
missing=()
for tool in "${!package_of[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package_of[$tool]}")
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

  if [[ " ${missing[*]} " == *" prometheus "* ]]; then
    if [ -d /run/systemd/system ]; then
      systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
      service prometheus stop >/dev/null 2>&1 || true
      update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
  fi
fi

promtool --version 2>&1 | head -n 1
openssl version
