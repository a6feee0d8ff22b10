#!/usr/bin/env bash
# The release build again, from a copy of this checkout's files in another directory (no .git,
# an empty target/): tests/e2e/test_release.py compares its bytes with target/dist's. tests/run.sh
# starts it at the lowest CPU priority while the end-to-end tests run; the test runs it itself
# when nothing started it.
#
# Usage: release/elsewhere.sh <directory outside this checkout>
# Leaves <directory>/sparkprom/target/dist, <directory>/build.log and, last, <directory>/status
# (the build's exit code).
set -uo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$1
mkdir -p "$out/sparkprom"
out=$(cd "$out" && pwd)
(
  set -e
  cd "$repo"
  # What the checkout holds (tracked files and new ones not ignored), with their modes.
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' name; do
    if [ -f "$name" ]; then cp -p --parents "$name" "$out/sparkprom/"; fi
  done
  # The copy has no .git: it takes the version and commit the first build took from git.
  info=$(sed -n 's/^sparkprom \(.*\)$/\1/p' target/dist/BUILD-INFO | head -n 1)
  cd "$out/sparkprom"
  SPARKPROM_VERSION=${info%%+*} SPARKPROM_COMMIT=${info#*+} bash release/build.sh
) > "$out/build.log" 2>&1
echo $? > "$out/status"
