#!/usr/bin/env bash
# Prepares what black-box tests need beyond the build: npm packages for the
# real peers under tests/interop (pinned by package-lock.json).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f tests/interop/package.json ]; then
  if [ ! -d tests/interop/node_modules ] || [ tests/interop/package-lock.json -nt tests/interop/node_modules ]; then
    (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
    touch tests/interop/node_modules
  fi
fi
