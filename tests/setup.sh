#!/usr/bin/env bash
# Installs what the build, the tests and the quickstart need, on a fresh machine or again (each
# step is skipped when its result is already there): a JDK, Debian's prometheus and
# prometheus-node-exporter, pytest, and every Spark release in tests/spark-versions.txt as a
# pyspark wheel unpacked under ~/.cache/sparkprom/pyspark-<version> (SPARK_HOME is its pyspark/).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache="${SPARKPROM_CACHE:-$HOME/.cache/sparkprom}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

packages=()
command -v javac >/dev/null || packages+=(openjdk-17-jdk-headless)
command -v prometheus >/dev/null || packages+=(prometheus)
command -v promtool >/dev/null || packages+=(prometheus)
command -v prometheus-node-exporter >/dev/null || packages+=(prometheus-node-exporter)
# readelf reads the release library's glibc symbol versions (tests/test_release.py).
command -v readelf >/dev/null || packages+=(binutils)
# The TLS tests make their certificate authority with the openssl tool.
command -v openssl >/dev/null || packages+=(openssl)
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]} (apt-get)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check pytest
# botocore's SigV4 signer checks the sink's signatures independently of the Rust signer.
python3 -c "import botocore" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check botocore

mkdir -p "$cache"
versions=$(grep -v '^#' "$here/spark-versions.txt" | awk 'NF {print $1}')
for version in $versions; do
  target="$cache/pyspark-$version"
  if [ ! -x "$target/pyspark/bin/spark-submit" ]; then
    echo "setup: installing pyspark $version into $target"
    rm -rf "$target"
    python3 -m pip install -q --disable-pip-version-check --target "$target" "pyspark==$version"
  fi
done
echo "setup: ready (Spark: $(echo $versions))"
