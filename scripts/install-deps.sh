#!/usr/bin/env bash
# Installs what berth needs on a fresh Debian 12 machine. Idempotent.
set -euo pipefail
pkgs=(runc busybox-static containernetworking-plugins nftables iproute2 conntrack curl util-linux ca-certificates git)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v go >/dev/null || export PATH=$PATH:/usr/local/go/bin
go version >/dev/null
