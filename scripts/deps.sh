#!/usr/bin/env bash
# Installs the Debian 12 packages aim needs to build and test, when missing.
# As root it runs apt-get; otherwise it prints the apt-get line and fails.
# Usage: scripts/deps.sh [build|test]   (test adds what the test suite needs)
set -euo pipefail
want=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libssl-dev libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev
      libsqlite3-dev libpq-dev libcmocka-dev python3 openssl ca-certificates)
if [ "${1:-build}" = test ]; then
  want+=(nodejs npm postgresql emscripten)
fi
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js may come from outside Debian's packages (a machine image's own build):
# a working node and npm on PATH are good enough.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  tmp=()
  for p in "${missing[@]}"; do case "$p" in nodejs|npm) ;; *) tmp+=("$p");; esac; done
  missing=("${tmp[@]}")
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "aim needs these packages; install them with:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
