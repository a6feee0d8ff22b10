#!/usr/bin/env bash
# Installs what the build, the tests and the quickstart need, on a fresh machine or again (each
# step is skipped when its result is already there): a JDK, Debian's prometheus and
# prometheus-node-exporter, pytest, and every Spark release in tests/spark-versions.txt as a
# pyspark wheel unpacked under ~/.cache/sparkprom/pyspark-<version> (SPARK_HOME is its pyspark/),
# and the aarch64 toolchain and emulator. SPARKPROM_SETUP=quickstart installs only what the
# quickstart needs: the oldest release (to compile against) and the newest (to run), no aarch64.
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
# readelf reads the release library's glibc symbol versions (tests/e2e/test_release.py).
command -v readelf >/dev/null || packages+=(binutils)
# The TLS tests make their certificate authority with the openssl tool.
command -v openssl >/dev/null || packages+=(openssl)
# Pods on one node (tests/e2e/harness/pods.py) are network namespaces made with `ip netns`.
command -v ip >/dev/null || packages+=(iproute2)
if [ ${#packages[@]} -gt 0 ]; then
  echo "setup: installing ${packages[*]} (apt-get)"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

# aarch64 (Graviton): rustup cannot download aarch64's standard library here, so the aarch64 core
# is built with Debian's rustc-web, whose aarch64 std is the arm64 package of libstd-rust-web-dev,
# and linked by zig (release/build.sh) or, for the test binaries, by Debian's cross gcc. The
# tests run it under qemu-user, with Debian's arm64 glibc and an arm64 JRE beside the amd64 one.
# Each package is pinned; if the archive has moved on, the current one is installed and the
# line says so (update the pin).
ARM64_PACKAGES=(
  "rustc-web=1.96.0+dfsg1-1~deb12u2" "cargo-web=1.96.0+dfsg1-1~deb12u2"
  "libstd-rust-web-dev:arm64=1.96.0+dfsg1-1~deb12u2" "gcc-aarch64-linux-gnu=4:12.2.0-3"
  "libc6-dev-arm64-cross=2.36-8cross1" "qemu-user-static=1:7.2+dfsg-7+deb12u18+b3"
  "libc6:arm64" "openjdk-17-jre-headless:arm64"
)
if [ "${SPARKPROM_SETUP:-}" != quickstart ] && ! { [ -x /usr/bin/rustc ] && command -v qemu-aarch64-static >/dev/null \
    && command -v aarch64-linux-gnu-gcc >/dev/null && [ -x /usr/lib/jvm/java-17-openjdk-arm64/bin/java ] \
    && [ -d /usr/lib/rustlib/aarch64-unknown-linux-gnu/lib ]; }; then
  echo "setup: installing the aarch64 toolchain and emulator (apt-get, arm64 multiarch)"
  $sudo dpkg --add-architecture arm64
  $sudo apt-get update -qq
  # The arm64 JRE must match the amd64 one's version (Multi-Arch: same): both come from the archive.
  jre_version=$(apt-cache policy openjdk-17-jre-headless:amd64 | sed -n 's/ *Candidate: //p')
  wanted=()
  for package in "${ARM64_PACKAGES[@]}"; do
    name=${package%%=*}
    case "$name" in openjdk-17-jre-headless:arm64) package="$name=$jre_version" ;; esac
    # (The archive's list is read whole first: grep -q closing the pipe early would trip pipefail.)
    if [ "$package" != "$name" ] && ! grep -qF " ${package#*=} " <<<"$(apt-cache madison "$name")"; then
      echo "setup: WARNING: $package is no longer in the archive; installing its current version (update the pin in tests/setup.sh)"
      package=$name
    fi
    wanted+=("$package")
  done
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${wanted[@]}" "openjdk-17-jre-headless:amd64=$jre_version" >/dev/null
fi

python3 -m pytest --version >/dev/null 2>&1 || python3 -m pip install -q --disable-pip-version-check pytest
# botocore's SigV4 signer checks the sink's signatures independently of the Rust signer.
python3 -c "import botocore" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check botocore
# The alert tests read the rules as YAML.
python3 -c "import yaml" 2>/dev/null || python3 -m pip install -q --disable-pip-version-check pyyaml

mkdir -p "$cache"
versions=$(grep -v '^#' "$here/spark-versions.txt" | awk 'NF {print $1}')
if [ "${SPARKPROM_SETUP:-}" = quickstart ]; then
  versions=$(printf '%s\n' $versions | sed -n '1p;$p')
fi
# The releases install side by side: each is mostly a download and an unpack (a few minutes each
# one after another on a fresh machine).
installs=()
for version in $versions; do
  target="$cache/pyspark-$version"
  if [ ! -x "$target/pyspark/bin/spark-submit" ]; then
    echo "setup: installing pyspark $version into $target"
    rm -rf "$target"
    python3 -m pip install -q --disable-pip-version-check --target "$target" "pyspark==$version" &
    installs+=("$!:$version")
  fi
done
for install in ${installs[@]+"${installs[@]}"}; do
  wait "${install%%:*}" || { echo "setup: installing pyspark ${install#*:} failed" >&2; exit 1; }
done
echo "setup: ready (Spark: $(echo $versions))"
