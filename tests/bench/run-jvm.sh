#!/usr/bin/env bash
# The JVM-side benchmark: report() with a healthy, a stalled and a dead receiver next to the floor
# and Spark's PrometheusServlet, for registries of 200, 1,000 and 5,000 metrics.
# Usage: tests/bench/run-jvm.sh [calls per case] [sizes, e.g. 200,1000,5000] [spark version]
#        [--compare DIR]
# --compare DIR: another build's sparkprom.jar and libsparkprom.so (e.g. the commit before a
# change, built with cargo build --release), measured in the same run: this build and that one
# alternate, twice each, every table labelled with its build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
compare=""
positional=()
while [ $# -gt 0 ]; do
  case "$1" in
    --compare) compare="$2"; shift 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
calls="${positional[0]:-300}"
sizes="${positional[1]:-200,1000,5000}"
version="${positional[2]:-$(grep -v '^#' tests/spark-versions.txt | awk 'NF {print $1; exit}')}"
jars="${SPARKPROM_CACHE:-$HOME/.cache/sparkprom}/pyspark-$version/pyspark/jars"
[ -f target/release/sparkprom.jar ] || cargo build --release

# Compiles the harness against one build's jar and runs it; $1 names the build in the output.
bench() {
  local name="$1" dir="$2" out="target/bench-jvm/$1"
  rm -rf "$out" && mkdir -p "$out"
  javac -nowarn -d "$out" -cp "$dir/sparkprom.jar:$jars/*" tests/bench/jvm/io/sparkprom/*.java
  echo "-- build: $name ($dir)"
  java -Xmx2g -cp "$out:$dir/sparkprom.jar:$jars/*" io.sparkprom.ReportBench \
    "$(cd "$dir" && pwd)/libsparkprom.so" "$calls" "$sizes"
}

if [ -z "$compare" ]; then
  bench this target/release
else
  for round in 1 2; do
    bench this target/release
    bench other "$compare"
  done
fi
