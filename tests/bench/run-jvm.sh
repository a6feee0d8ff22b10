#!/usr/bin/env bash
# The JVM-side benchmark: report() with a healthy, a stalled and a dead receiver next to the floor
# and Spark's PrometheusServlet, for registries of 200, 1,000 and 5,000 metrics.
# Usage: tests/bench/run-jvm.sh [calls per case] [sizes, e.g. 200,1000,5000] [spark version]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
calls="${1:-300}"
sizes="${2:-200,1000,5000}"
version="${3:-$(grep -v '^#' tests/spark-versions.txt | awk 'NF {print $1; exit}')}"
jars="${SPARKPROM_CACHE:-$HOME/.cache/sparkprom}/pyspark-$version/pyspark/jars"
[ -f target/release/sparkprom.jar ] || cargo build --release
out=target/bench-jvm
rm -rf "$out" && mkdir -p "$out"
javac -nowarn -d "$out" -cp "target/release/sparkprom.jar:$jars/*" tests/bench/jvm/io/sparkprom/*.java
java -Xmx2g -cp "$out:target/release/sparkprom.jar:$jars/*" io.sparkprom.ReportBench \
  "$PWD/target/release/libsparkprom.so" "$calls" "$sizes"
