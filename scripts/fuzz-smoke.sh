#!/usr/bin/env bash
# fuzz-smoke.sh DIR SECONDS — runs every fuzz_* target in DIR for SECONDS each,
# starting from tests/fuzz/corpus/<target>/ (copied to a temp dir, so the
# committed seeds are never modified). Fails on the first crash.
set -euo pipefail
dir=$1
secs=${2:-30}
src=$(cd "$(dirname "$0")/.." && pwd)
status=0
for f in "$dir"/fuzz_*; do
  [ -x "$f" ] || continue
  name=$(basename "$f")
  work=$(mktemp -d)
  [ -d "$src/tests/fuzz/corpus/$name" ] && cp -r "$src/tests/fuzz/corpus/$name/." "$work/"
  echo "fuzz-smoke: $name for ${secs}s"
  if ! "$f" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/" "$work" >"$work.log" 2>&1; then
    echo "fuzz-smoke: $name FAILED; last lines:"; tail -40 "$work.log"; status=1
  else
    grep -E "^(Done|#[0-9]+ +DONE)" "$work.log" | tail -1 || true
  fi
  rm -rf "$work" "$work.log"
done
exit $status
