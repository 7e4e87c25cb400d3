#!/usr/bin/env bash
# Runs every libFuzzer target for a few seconds, seeded from fuzz/seeds/NAME
# (and from seeds the target's own generator writes). Any finding fails.
set -euo pipefail
bin=$1; secs=${2:-10}
cd "$(dirname "$0")/.."
shopt -s nullglob
n=0
for f in "$bin"/fuzz_*; do
  name=$(basename "$f")
  corpus=$(mktemp -d)
  seeds=()
  [ -d "fuzz/seeds/$name" ] && seeds+=("fuzz/seeds/$name")
  echo "fuzz: $name for ${secs}s"
  ASAN_OPTIONS=detect_leaks=1 "$f" -max_total_time="$secs" -max_len=65536 \
      -print_final_stats=0 "$corpus" "${seeds[@]}" >"$corpus.log" 2>&1 || {
    tail -50 "$corpus.log"; echo "fuzz: $name FAILED"; exit 1; }
  grep -E '^#[0-9]+.*DONE' "$corpus.log" | tail -1 || true
  rm -rf "$corpus" "$corpus.log"
  n=$((n+1))
done
echo "fuzz: $n targets ran clean"
