#!/usr/bin/env bash
# Installs Debian packages that are missing (default: what the tests and quickstart need).
#   scripts/install-deps.sh [PACKAGE...]
# Services are not started by the installation (policy-rc.d), so packages that all want
# port 80 (apache2, nginx) install side by side; ringlb's scripts start their own instances.
set -euo pipefail
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(apache2 curl iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" = 0 ] || sudo="sudo"
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
  $sudo chmod +x "$policy"
  created_policy=1
fi
cleanup() { [ $created_policy = 1 ] && $sudo rm -f "$policy"; true; }
trap cleanup EXIT
echo "installing: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
